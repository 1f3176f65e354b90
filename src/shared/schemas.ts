import { Type, type TSchema } from 'typebox';

// Shared TypeBox pieces for route schemas (and so for the OpenAPI document).
export const ErrorSchema = Type.Object(
  { detail: Type.String(), code: Type.String(), request_id: Type.Optional(Type.String()) },
  { description: 'Every error answer: a human detail and a stable machine code.' },
);

export const Uuid = (options: { description?: string } = {}) => Type.String({ format: 'uuid', ...options });

export const NullableString = (options: Record<string, unknown> = {}) =>
  Type.Union([Type.String(options), Type.Null()]);

export const PageSchema = <T extends TSchema>(item: T) =>
  Type.Object({
    results: Type.Array(item),
    next: Type.Union([Type.String(), Type.Null()], { description: 'URL of the next page, or null' }),
    previous: Type.Union([Type.String(), Type.Null()], { description: 'URL of the previous page, or null' }),
  });

export const LimitQuery = Type.Integer({ minimum: 1, maximum: 200, default: 50 });

/** Error responses a route documents, by status. */
export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, ErrorSchema]));
