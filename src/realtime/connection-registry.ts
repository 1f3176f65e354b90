import type { IncomingMessage } from 'node:http';
import { AppError } from '../shared/errors.js';
import type { Connection, ConnectionKind } from './connection.js';

const createTooManyConnectionsError = () =>
  new AppError({ status: 429, code: 'too_many_connections', detail: 'Too many open sockets for this user.' });

/**
 * Every open socket of this process, by user, and the per-user connection cap. Upgrades under way
 * count against the cap from their check on: checked against open sockets alone, parallel upgrades
 * that each await the database before their socket is tracked would all pass it.
 */
export function createConnectionRegistry(settings: {
  maxConnectionsPerUser: number;
  onOpened?: (kind: ConnectionKind) => void;
  onClosed?: (kind: ConnectionKind) => void;
}) {
  const byUser = new Map<string, Set<Connection>>();
  const ids = new WeakMap<Connection, number>();
  const upgradesByUser = new Map<string, number>();
  const upgradeSlots = new WeakMap<object, () => void>();
  let counter = 0;

  return {
    /** Takes one of the user's connection slots for this upgrade (429 when none is left). */
    reserve(userId: string, raw: IncomingMessage): () => void {
      const upgrading = upgradesByUser.get(userId) ?? 0;
      if ((byUser.get(userId)?.size ?? 0) + upgrading >= settings.maxConnectionsPerUser)
        throw createTooManyConnectionsError();
      upgradesByUser.set(userId, upgrading + 1);
      let held = true;
      const release = () => {
        if (!held) return;
        held = false;
        raw.socket.off('close', release);
        upgradeSlots.delete(raw);
        const left = (upgradesByUser.get(userId) ?? 1) - 1;
        if (left > 0) upgradesByUser.set(userId, left);
        else upgradesByUser.delete(userId);
      };
      // An upgrade that never reaches its handler (refused, or the client went away) gives it back.
      raw.socket.once('close', release);
      upgradeSlots.set(raw, release);
      return release;
    },

    /** Registers an upgraded socket; the upgrade's slot becomes this socket's, in the same tick. */
    track(connection: Connection, upgrade: IncomingMessage): void {
      upgradeSlots.get(upgrade)?.();
      let set = byUser.get(connection.user.id);
      if (!set) byUser.set(connection.user.id, (set = new Set()));
      set.add(connection);
      ids.set(connection, ++counter);
      settings.onOpened?.(connection.kind);
    },

    untrack(connection: Connection): void {
      const set = byUser.get(connection.user.id);
      if (!set?.delete(connection)) return;
      if (set.size === 0) byUser.delete(connection.user.id);
      settings.onClosed?.(connection.kind);
    },

    /** A number per socket of this process (rate-limit keys, heartbeat slices). */
    idOf: (connection: Connection) => ids.get(connection) ?? 0,
    ofUser: (userId: string): Iterable<Connection> => byUser.get(userId) ?? [],
    *all(): Iterable<Connection> {
      for (const connections of byUser.values()) yield* connections;
    },
  };
}
export type ConnectionRegistry = ReturnType<typeof createConnectionRegistry>;
