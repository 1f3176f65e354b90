import { Type } from 'typebox';
import type { Bus } from '../../platform/bus/bus.js';
import type { FrameContext, FrameRegistration, SocketRef } from '../../realtime/frame-router.js';
import { AppError } from '../../shared/errors.js';
import type { EphemeralEvent } from '../../shared/events.js';
import { publishOn, topics } from '../../shared/topics.js';
import './typing.events.js';

const TYPING_AUTO_STOP_MS = 3_000;
const TYPING_THROTTLE_MS = 1_000;

// Typing frames carry nothing but their tipo: no client_id (there is no ack to match).
const TypingFrame = Type.Object(
  { tipo: Type.Union([Type.Literal('typing_start'), Type.Literal('typing_stop')]) },
  { additionalProperties: false },
);

type TypingState = { active: boolean; lastSentAt: number; timer?: NodeJS.Timeout };

/**
 * Typing indicators: ephemeral (no seq, not logged), throttled to one broadcast a second, stopped
 * by themselves after 3 s and when the socket closes.
 */
export function typingFrames(deps: {
  bus: Pick<Bus, 'publish'>;
  canRead(user: FrameContext['user'], channelId: string): Promise<boolean>;
}): FrameRegistration<typeof TypingFrame> {
  const states = new WeakMap<SocketRef['connection'], TypingState>();

  function publish({ user, channelId }: FrameContext, action: 'start' | 'stop') {
    const event: EphemeralEvent<'chat.typing'> = {
      type: 'chat.typing',
      channel: channelId,
      payload: { action, username: user.username, user_id: user.id },
    };
    void publishOn(deps.bus, topics.channel(channelId), event).catch(() => undefined);
  }

  function start(context: FrameContext) {
    let state = states.get(context.socket.connection);
    if (!state) {
      states.set(context.socket.connection, (state = { active: false, lastSentAt: 0 }));
      context.socket.onClose(() => stop(context));
    }
    const now = Date.now();
    if (!state.active || now - state.lastSentAt >= TYPING_THROTTLE_MS) {
      publish(context, 'start');
      state.lastSentAt = now;
    }
    state.active = true;
    clearTimeout(state.timer);
    state.timer = setTimeout(() => stop(context), TYPING_AUTO_STOP_MS);
    state.timer.unref();
  }

  function stop(context: FrameContext) {
    const state = states.get(context.socket.connection);
    if (!state?.active) return;
    clearTimeout(state.timer);
    state.active = false;
    publish(context, 'stop');
  }

  return {
    tipos: ['typing_start', 'typing_stop'],
    schema: TypingFrame,
    async handle(context, frame) {
      if (!(await deps.canRead(context.user, context.channelId)))
        throw new AppError({ status: 403, code: 'channels.not_member', detail: 'No access.' });
      if (frame.tipo === 'typing_start') start(context);
      else stop(context);
      return undefined;
    },
  };
}
