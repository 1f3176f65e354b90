// One error shape for the whole service: an HTTP status, a stable machine code and a human detail.
// Services throw these; the error handler (and the WebSocket layer) turn them into `{detail, code}`.
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(input: { status: number; code: string; detail: string; headers?: Record<string, string> }) {
    super(input.detail);
    this.name = 'AppError';
    this.status = input.status;
    this.code = input.code;
    this.headers = input.headers ?? {};
  }
  get detail(): string {
    return this.message;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** Builds a factory for one kind of error so call sites read `createChannelNotFoundError()`. */
export function createErrorFactory(spec: { status: number; code: string; detail: string }) {
  return (detail?: string) => new AppError({ ...spec, detail: detail ?? spec.detail });
}

export const createValidationError = (detail: string, code = 'validation_error') =>
  new AppError({ status: 400, code, detail });
export const createUnauthenticatedError = createErrorFactory({
  status: 401,
  code: 'auth.not_authenticated',
  detail: 'Authentication credentials were not provided or are invalid.',
});
export const createForbiddenError = createErrorFactory({
  status: 403,
  code: 'permission_denied',
  detail: 'You do not have permission to perform this action.',
});
export const createNotFoundError = createErrorFactory({
  status: 404,
  code: 'not_found',
  detail: 'Not found.',
});

export const createRateLimitedError = (retryAfterMs: number, what = 'messages') =>
  new AppError({
    status: 429,
    code: 'rate_limited',
    detail: `Too many ${what}; retry in ${Math.ceil(retryAfterMs / 1000)} s.`,
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  });
