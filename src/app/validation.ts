import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance, FastifySchema } from 'fastify';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

// Bodies are validated strictly: no type coercion ("5" is not 5) and unknown fields are errors, not
// silently dropped. Query strings and path params arrive as text, so those are coerced.
const common: Options = { useDefaults: true, removeAdditional: false, allErrors: false, strict: false };
// ajv-formats' uuid also takes a `urn:uuid:` prefix, which PostgreSQL refuses: only the bare form.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const bodyAjv = addFormats(new Ajv({ ...common, coerceTypes: false })).addFormat('uuid', UUID);
const textAjv = addFormats(new Ajv({ ...common, coerceTypes: 'array' })).addFormat('uuid', UUID);

/** A whole number as a person writes it: Ajv's coercion would also take `0x10`, `1e3` or ` 5`. */
const DECIMAL_INTEGER = /^-?\d+$/;

/**
 * Query strings and path params: coerced by Ajv, except that an integer field must be written as
 * a plain decimal number. Their schemas are flat objects, so only top-level fields are looked at.
 */
function compileText(schema: FastifySchema & object) {
  const compiled = textAjv.compile(schema);
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const integers = Object.keys(properties).filter((key) => properties[key]!.type === 'integer');
  if (integers.length === 0) return compiled;
  const validate = (data: unknown): boolean => {
    const values = (data ?? {}) as Record<string, unknown>;
    const bad = integers.find((key) => typeof values[key] === 'string' && !DECIMAL_INTEGER.test(values[key]));
    if (bad !== undefined) {
      const error = { instancePath: `/${bad}`, schemaPath: '', keyword: 'type', params: { type: 'integer' } };
      validate.errors = [{ ...error, message: 'must be a decimal integer' }] as ErrorObject[];
      return false;
    }
    const valid = compiled(data);
    validate.errors = compiled.errors;
    return valid;
  };
  validate.errors = null as ErrorObject[] | null | undefined;
  return validate;
}

export function registerValidation(app: FastifyInstance) {
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body'
      ? bodyAjv.compile(schema as FastifySchema & object)
      : compileText(schema as FastifySchema & object),
  );
  app.setSchemaErrorFormatter((errors, dataVar) => new Error(formatErrors(errors as ErrorObject[], dataVar)));
}

function formatErrors(errors: ErrorObject[], dataVar: string): string {
  return errors
    .map((error) => {
      const path = `${dataVar}${error.instancePath}`;
      if (error.keyword === 'additionalProperties') {
        return `${path} has an unknown field '${String(error.params.additionalProperty)}'`;
      }
      if (error.keyword === 'required') return `${path} is missing '${String(error.params.missingProperty)}'`;
      return `${path} ${error.message ?? 'is invalid'}`;
    })
    .join('; ');
}
