import type { Bus } from '../platform/bus/bus.js';
import type { StreamEvent } from './events.js';

/** A bus topic, typed by what it carries: publishing the wrong message on it does not compile. */
export type Topic<M> = string & { readonly __carries?: M };

/** An access change: every node re-checks (or closes) the sockets it concerns. */
export type AccessChange = { kind: 'user'; userId: string } | { kind: 'session'; sessionKey: string };

/** The one topic builder: every bus topic of the service is named here. */
export const topics = {
  /** A channel's persisted and ephemeral events, in the order they were published. */
  channel: (channelId: string) => `channel:${channelId}` as Topic<StreamEvent>,
  /** Access changes, listened to by every node. */
  access: 'access' as Topic<AccessChange>,
};

export function publishOn<M>(bus: Pick<Bus, 'publish'>, topic: Topic<M>, message: M): Promise<void> {
  return bus.publish(topic, JSON.stringify(message));
}

/** Reads a message of a topic. Only this service publishes on its topics, with `publishOn`. */
export function decodeMessage<M>(_topic: Topic<M>, raw: string): M {
  return JSON.parse(raw) as M;
}

/** Subscribes with a typed handler; a message that is not JSON goes to `onError`, not the handler. */
export function subscribeTo<M>(
  bus: Pick<Bus, 'subscribe'>,
  topic: Topic<M>,
  handler: (message: M, raw: string) => void,
  onError: (error: unknown) => void = () => undefined,
): Promise<() => Promise<void>> {
  return bus.subscribe(topic, (raw) => {
    let message: M;
    try {
      message = decodeMessage(topic, raw);
    } catch (error) {
      onError(error);
      return;
    }
    handler(message, raw);
  });
}
