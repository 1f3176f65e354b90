import { Type } from 'typebox';
import type { FrameRegistration } from '../../realtime/frame-router.js';
import { ClientIdField, UuidField } from '../../shared/frame-schemas.js';
import { createUnsupportedTypeError } from './messages.errors.js';
import type { MessagesService } from './messages.service.js';

const SendFrame = Type.Object(
  {
    tipo: Type.Union([
      Type.Literal('text'),
      Type.Literal('image'),
      Type.Literal('video'),
      Type.Literal('file'),
    ]),
    conteudo: Type.Optional(Type.String({ maxLength: 400_000 })),
    conteudo_cifrado: Type.Optional(Type.String({ minLength: 1, maxLength: 1_000_000 })),
    alg: Type.Optional(Type.String({ maxLength: 32 })),
    key_version: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
    attachment_id: Type.Optional(UuidField),
    reply_to: Type.Optional(Type.Union([UuidField, Type.Null()])),
    client_id: ClientIdField,
  },
  { additionalProperties: false },
);
const PinFrame = Type.Object(
  {
    tipo: Type.Union([Type.Literal('pin'), Type.Literal('unpin')]),
    mensagem_id: UuidField,
    client_id: ClientIdField,
  },
  { additionalProperties: false },
);

/** Inbound frames for messages: the same service (rules, rate limit, events) as REST. */
export function messageSendFrames({
  messagesService,
}: {
  messagesService: Pick<MessagesService, 'sendMessage'>;
}): FrameRegistration<typeof SendFrame> {
  return {
    tipos: ['text', 'image', 'video', 'file'],
    schema: SendFrame,
    timed: true,
    async handle({ user, channelId }, frame) {
      if (frame.attachment_id !== undefined || frame.tipo !== 'text') throw createUnsupportedTypeError();
      const { attachment_id: _attachment, ...input } = frame;
      const { message } = await messagesService.sendMessage(user, channelId, input);
      return { type: 'ack', client_id: frame.client_id ?? null, id: message.id, seq: message.seq };
    },
  };
}

export function messagePinFrames({
  messagesService,
}: {
  messagesService: Pick<MessagesService, 'setPinned'>;
}): FrameRegistration<typeof PinFrame> {
  return {
    tipos: ['pin', 'unpin'],
    schema: PinFrame,
    async handle({ user, channelId }, frame) {
      const message = await messagesService.setPinned(
        user,
        channelId,
        frame.mensagem_id,
        frame.tipo === 'pin',
      );
      return {
        type: 'ack',
        tipo: frame.tipo,
        client_id: frame.client_id ?? null,
        mensagem_id: message.id,
        pinned_at: message.pinned_at,
      };
    },
  };
}
