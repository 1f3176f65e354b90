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

export function registerValidation(app: FastifyInstance) {
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as FastifySchema & object),
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
