import type { Bus } from '../platform/bus/bus.js';

// Access changes travel on one bus topic that every node listens to, so sockets are re-checked or
// closed wherever they are connected.
export const ACCESS_TOPIC = 'access';
export type AccessChange = { kind: 'user'; userId: string } | { kind: 'session'; sessionKey: string };

export function publishAccessChange(
  bus: Pick<Bus, 'publish'>,
  change: AccessChange,
  onError?: (e: unknown) => void,
) {
  void bus.publish(ACCESS_TOPIC, JSON.stringify(change)).catch((error: unknown) => onError?.(error));
}
