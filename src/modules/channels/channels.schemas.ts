import { Type, type TSchema } from 'typebox';
import { NullableString } from '../../shared/schemas.js';
import { ContextoId } from '../contexts/contexts.schemas.js';

const ContextoTipo = Type.Union([
  Type.Literal('privado'),
  Type.Literal('nucleo'),
  Type.Literal('evento'),
  Type.Literal('organizacao'),
]);
const Titulo = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Descricao = Type.String({ maxLength: 5000 });
const Categoria = Type.String({ minLength: 1, maxLength: 64 });

/**
 * The wire shape of a channel. Its `ultima_mensagem` is a message as the messages module shapes it;
 * that module sits above this one, so its schema comes in from the composition root.
 */
export function createChannelSchema<LastMessage>(lastMessageSchema: TSchema) {
  return Type.Object({
    id: Type.String({ format: 'uuid' }),
    contexto_tipo: Type.String({ enum: ['privado', 'nucleo', 'evento', 'organizacao'] }),
    contexto_id: NullableString(),
    titulo: Type.String(),
    descricao: Type.String(),
    e2ee_habilitado: Type.Boolean(),
    retencao_dias: Type.Union([Type.Integer(), Type.Null()]),
    categoria: NullableString(),
    last_seq: Type.Integer(),
    created_by: NullableString({ format: 'uuid' }),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    participantes: Type.Integer({ description: 'Number of participants' }),
    ultima_mensagem: Type.Union([Type.Unsafe<LastMessage>(lastMessageSchema), Type.Null()]),
  });
}

export const CreateChannelBody = Type.Object(
  {
    contexto_tipo: ContextoTipo,
    titulo: Titulo,
    descricao: Type.Optional(Descricao),
    contexto_id: Type.Optional(ContextoId),
    categoria: Type.Optional(Categoria),
    participantes: Type.Optional(Type.Array(Type.String({ format: 'uuid' }), { maxItems: 500 })),
    e2ee_habilitado: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const UpdateChannelBody = Type.Object(
  {
    titulo: Type.Optional(Titulo),
    descricao: Type.Optional(Descricao),
    categoria: Type.Optional(Type.Union([Categoria, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ListChannelsQuery = Type.Object(
  {
    categoria: Type.Optional(Type.String({ maxLength: 64 })),
    cursor: Type.Optional(Type.String({ format: 'uuid' })),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  },
  { additionalProperties: false },
);

export const ChannelParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
