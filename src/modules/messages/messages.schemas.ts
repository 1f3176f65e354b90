import { Type } from 'typebox';
import { NullableString } from '../../shared/schemas.js';

const NullableDate = () => NullableString({ format: 'date-time' });

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
  reply_to: NullableString({ format: 'uuid' }),
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
    conteudo_cifrado: Type.Optional(Type.String({ minLength: 1, maxLength: 1_000_000 })),
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
    conteudo_cifrado: Type.Optional(Type.String({ minLength: 1, maxLength: 1_000_000 })),
    key_version: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ListMessagesQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
    desde: Type.Optional(
      Type.String({ maxLength: 64, description: 'ISO 8601: messages created at or after' }),
    ),
    ate: Type.Optional(
      Type.String({ maxLength: 64, description: 'ISO 8601: messages created at or before' }),
    ),
  },
  { additionalProperties: false },
);
