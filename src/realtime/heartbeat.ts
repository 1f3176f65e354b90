import type { ConnectionRegistry } from './connection-registry.js';

// Each socket is pinged once per interval, but not all in the same tick: a ping to 10,000 sockets
// at once would stall the event loop (and every delivery) for a noticeable moment, so the interval
// is cut into slices and each tick serves one slice of the sockets.
const HEARTBEAT_SLICES = 16;

/** Pings every socket once per interval; one that missed the previous pong is terminated. */
export function startHeartbeat(registry: ConnectionRegistry, intervalMs: number): () => void {
  let tick = 0;
  const timer = setInterval(
    () => {
      const slice = tick++ % HEARTBEAT_SLICES;
      for (const connection of registry.all()) {
        if (registry.idOf(connection) % HEARTBEAT_SLICES !== slice) continue;
        if (!connection.alive) {
          connection.socket.terminate();
          continue;
        }
        connection.alive = false;
        try {
          connection.socket.ping();
        } catch {
          connection.socket.terminate();
        }
      }
    },
    Math.max(1, Math.floor(intervalMs / HEARTBEAT_SLICES)),
  );
  timer.unref();
  return () => clearInterval(timer);
}
