import type { FastifyError, FastifyInstance } from 'fastify';
import { isAppError } from '../shared/errors.js';

type ErrorBody = { detail: string; code: string; request_id?: string };

// Fastify's own client errors, mapped to stable codes.
const FASTIFY_CODES: Record<string, { status: number; code: string; detail?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json', detail: 'The body is not valid JSON.' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', detail: 'The JSON body is empty.' },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'payload_too_large',
    detail: 'The request body is too large.',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    detail: 'Send the body as application/json.',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_content_length' },
};

/** One place turns every error into `{detail, code}`; 5xx details are logged, never sent. */
export function registerErrorHandler(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let status: number;
    let body: ErrorBody;
    if (isAppError(error)) {
      status = error.status;
      body = { detail: error.detail, code: error.code };
      for (const [name, value] of Object.entries(error.headers)) void reply.header(name, value);
    } else if (error.validation) {
      // An id in the path that is not even a UUID names nothing: 404, like an unknown id.
      if (error.validationContext === 'params') {
        status = 404;
        body = { detail: 'Not found.', code: 'not_found' };
      } else {
        status = 400;
        body = { detail: error.message, code: 'validation_error' };
      }
    } else if (error.code && FASTIFY_CODES[error.code]) {
      const known = FASTIFY_CODES[error.code]!;
      status = known.status;
      body = { detail: known.detail ?? error.message, code: known.code };
    } else if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      status = error.statusCode;
      body = { detail: error.message, code: (error.code ?? 'bad_request').toLowerCase() };
    } else {
      status = 500;
      request.log.error({ err: error }, 'unhandled error');
      body = { detail: 'Internal server error.', code: 'server_error', request_id: String(request.id) };
    }
    if (status >= 400 && status < 500) request.log.debug({ code: body.code }, 'client error');
    void reply.status(status).type('application/json').send(body);
  });

  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).send({ detail: 'Not found.', code: 'not_found' });
  });
}
