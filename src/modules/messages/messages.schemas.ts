import { Type } from 'typebox';
import { MESSAGE_MAX_CHARS_LIMIT } from '../../config/config.js';
import { NullableString } from '../../shared/schemas.js';

// AES-GCM output is as long as its input plus a 16-byte tag, and the client sends its 12-byte IV
// along; base64 then takes 4 characters for every 3 bytes.
const AES_GCM_IV_BYTES = 12;
const AES_GCM_TAG_BYTES = 16;
const UTF8_MAX_BYTES_PER_CHAR = 4;

/**
 * The longest `conteudo_cifrado` a plaintext of `maxChars` characters can encrypt to: base64 of IV,
 * ciphertext (up to 4 UTF-8 bytes per character) and tag. E2EE content cannot be counted in
 * characters, so this keeps it within what MESSAGE_MAX_CHARS allows in plain text.
 */
export function maxCiphertextLength(maxChars: number): number {
  return 4 * Math.ceil((UTF8_MAX_BYTES_PER_CHAR * maxChars + AES_GCM_IV_BYTES + AES_GCM_TAG_BYTES) / 3);
}

/** The schema's absolute cap; the service applies the bound of the configured MESSAGE_MAX_CHARS. */
const CIPHERTEXT_MAX_LENGTH = maxCiphertextLength(MESSAGE_MAX_CHARS_LIMIT);

const NullableDate = () => NullableString({ format: 'date-time' });

const ReplyPreviewSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  remetente: Type.Union([Type.Object({ id: Type.String(), username: Type.String() }), Type.Null()]),
  conteudo: Type.String({
    description: "The parent's first 120 characters; '' when it is end-to-end encrypted",
  }),
  tipo: Type.String({ enum: ['text', 'image', 'video', 'file'] }),
  hidden_at: NullableDate(),
  is_spam: Type.Boolean(),
});
const ReplyUnavailableSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  indisponivel: Type.Literal(true),
});

export const MessageSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  channel: Type.String({ format: 'uuid' }),
  seq: Type.Integer({ description: 'Position in the channel event log; strictly increasing' }),
  remetente: Type.Union([Type.Object({ id: Type.String(), username: Type.String() }), Type.Null()]),
  tipo: Type.String({ enum: ['text', 'image', 'video', 'file'] }),
  conteudo: Type.String(),
  conteudo_cifrado: NullableString(),
  alg: NullableString(),
  key_version: Type.Union([Type.Integer(), Type.Null()]),
  reply_to: Type.Union([ReplyPreviewSchema, ReplyUnavailableSchema, Type.Null()], {
    description:
      "A reply's parent: a preview, or `{id, indisponivel: true}` when it is deleted (for everyone) " +
      'or hidden or spam (for non-moderators); null when the message is not a reply',
  }),
  client_id: NullableString(),
  pinned_at: NullableDate(),
  hidden_at: NullableDate(),
  is_spam: Type.Boolean(),
  edited_at: NullableDate(),
  reactions: Type.Record(Type.String(), Type.Integer(), { description: '{emoji: count}' }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});

const MessageTipo = Type.Union([
  Type.Literal('text'),
  Type.Literal('image'),
  Type.Literal('video'),
  Type.Literal('file'),
]);

export const SendMessageBody = Type.Object(
  {
    tipo: MessageTipo,
    conteudo: Type.Optional(Type.String({ maxLength: 400_000 })),
    conteudo_cifrado: Type.Optional(Type.String({ minLength: 1, maxLength: CIPHERTEXT_MAX_LENGTH })),
    alg: Type.Optional(Type.String({ maxLength: 32 })),
    key_version: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
    reply_to: Type.Optional(Type.Union([Type.String({ format: 'uuid' }), Type.Null()])),
    client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const EditMessageBody = Type.Object(
  {
    conteudo: Type.Optional(Type.String({ maxLength: 400_000 })),
    conteudo_cifrado: Type.Optional(Type.String({ minLength: 1, maxLength: CIPHERTEXT_MAX_LENGTH })),
    key_version: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ListMessagesQuery = Type.Object(
  {
    cursor: Type.Optional(
      Type.String({
        maxLength: 200,
        description: 'Opaque; taken from the `next` or `previous` URL of an earlier page',
      }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50, description: 'Messages per page' }),
    desde: Type.Optional(
      Type.String({
        maxLength: 64,
        description: 'ISO 8601: messages created at or after; the list then starts here and runs forward',
      }),
    ),
    ate: Type.Optional(
      Type.String({ maxLength: 64, description: 'ISO 8601: messages created at or before' }),
    ),
  },
  { additionalProperties: false },
);
