import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { currentUser } from '../auth/auth.hooks.js';
import { errorResponses, Uuid } from '../../shared/schemas.js';
import { createNoFileError, createNotMultipartError, createOneFileError } from './attachments.errors.js';
import type { AttachmentsService, IncomingFile } from './attachments.service.js';

const AttachmentSchema = Type.Object({
  attachment_id: Uuid(),
  tipo: Type.Union([Type.Literal('image'), Type.Literal('video'), Type.Literal('file')], {
    description: 'From the type detected in the bytes',
  }),
  nome: Type.String({ description: 'The sanitized file name, for display' }),
  mime_type: Type.String({ description: 'Detected from the bytes, not taken from the client' }),
  tamanho: Type.Integer({ description: 'Bytes' }),
  url: Type.String({ description: 'Download path (GET)' }),
  thumb_url: Type.Union([Type.String(), Type.Null()], { description: 'Null until a thumbnail is made' }),
  scan: Type.Union([Type.Literal('clean'), Type.Literal('skipped')], {
    description: '`skipped` when no virus scanner is configured or it was unreachable',
  }),
});

// Errors of @fastify/multipart's own limits: a second file, too many or too long fields.
const FORM_LIMIT_CODES = new Set(['FST_FILES_LIMIT', 'FST_PARTS_LIMIT', 'FST_FIELDS_LIMIT']);
const asFormError = (error: unknown) =>
  FORM_LIMIT_CODES.has((error as { code?: string }).code ?? '') ? createOneFileError() : error;

/** The first file of the form, which must be the field `file`; the rest is read by `finish`. */
async function openUpload(request: FastifyRequest): Promise<IncomingFile> {
  if (!request.isMultipart()) throw createNotMultipartError();
  const parts = request.parts()[Symbol.asyncIterator]();
  for (;;) {
    const next = await parts.next().catch((error: unknown) => {
      throw asFormError(error);
    });
    if (next.done) throw createNoFileError();
    const part = next.value;
    if (part.type !== 'file') continue;
    if (part.fieldname !== 'file') {
      part.file.resume();
      throw createNoFileError();
    }
    return {
      stream: part.file,
      filename: part.filename,
      declaredType: part.mimetype,
      truncated: () => part.file.truncated,
      async finish() {
        for (;;) {
          const rest = await parts.next().catch((error: unknown) => {
            throw asFormError(error);
          });
          if (rest.done) return;
          if (rest.value.type === 'file') {
            rest.value.file.resume();
            throw createOneFileError();
          }
        }
      },
    };
  }
}

export const attachmentsRoutes: FastifyPluginAsyncTypebox<{
  attachmentsService: AttachmentsService;
  maxSize: number;
}> = async (app, { attachmentsService, maxSize }) => {
  // Scoped to this plugin: no other route accepts multipart. One byte over the limit still reaches
  // the service, which counts while streaming and answers 413.
  await app.register(multipart, {
    limits: { fileSize: maxSize + 1, files: 1, fields: 8, fieldSize: 1024, parts: 10, headerPairs: 100 },
  });

  // A refusal before the whole form arrived (413, 415, 400) leaves the client sending into a
  // paused socket: close the connection after the answer instead of holding it open.
  app.addHook('onSend', async (request, reply) => {
    if (!request.raw.complete) void reply.header('connection', 'close');
  });

  app.post(
    '/upload/',
    {
      schema: {
        operationId: 'uploadAttachment',
        summary: 'Upload one file (multipart/form-data, field `file`), streamed to storage',
        description:
          'The type is detected from the bytes; a declared type or name extension that contradicts ' +
          'them is refused (400 `attachments.type_mismatch`), a type outside CHAT_ALLOWED_MIME_TYPES ' +
          'is 415 `attachments.type_not_allowed` (unrecognized bytes are `application/octet-stream`), ' +
          'more than CHAT_UPLOAD_MAX_SIZE bytes 413 `attachments.too_large`. Nothing is stored on refusal.',
        tags: ['attachments'],
        consumes: ['multipart/form-data'],
        body: Type.Object(
          { file: Type.String({ format: 'binary', description: 'The file; its name and type are claims' }) },
          { required: ['file'] },
        ),
        response: { 201: AttachmentSchema, ...errorResponses(400, 401, 413, 415, 429, 503) },
      },
      // The form is read as a stream by the handler, not parsed into a body to validate: the body
      // schema above only documents it.
      validatorCompiler: () => () => true,
    },
    async (request, reply) => {
      const user = currentUser(request);
      const view = await attachmentsService.upload(user, () => openUpload(request));
      return reply.status(201).send(view);
    },
  );
};
