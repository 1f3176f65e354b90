import type { FrameContext, PinFrame, SendFrame } from '../../realtime/frames.js';
import { createUnsupportedTypeError } from './messages.errors.js';
import type { MessagesService } from './messages.service.js';

/** Inbound WebSocket frames for messages: the same service (rules, rate limit, events) as REST. */
export function createMessageFrameHandlers({ messagesService }: { messagesService: MessagesService }) {
  return {
    async send({ user, channelId }: FrameContext, frame: SendFrame) {
      if (frame.attachment_id !== undefined || frame.tipo !== 'text') throw createUnsupportedTypeError();
      const { attachment_id: _attachment, ...input } = frame;
      const { message } = await messagesService.sendMessage(user, channelId, input);
      return { type: 'ack', client_id: frame.client_id ?? null, id: message.id, seq: message.seq };
    },
    async pin({ user, channelId }: FrameContext, frame: PinFrame) {
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
