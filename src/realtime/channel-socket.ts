import type { ChannelStream, EventLogReader } from './channel-stream.js';
import type { ChannelStreams } from './channel-streams.js';
import { CloseCodes, type Connection, type SocketUser } from './connection.js';
import type { EventPolicy } from './event-policy.js';

const REPLAY_BATCH = 500;

export type ChannelSocketDeps = {
  streams: ChannelStreams;
  eventLog: EventLogReader;
  policy: EventPolicy;
  canRead(user: SocketUser, channelId: string): Promise<boolean>;
  sessionStands(connection: Connection): Promise<boolean>;
  maxBufferedBytes: number;
};

const CLOSE_FOR = {
  revoked: { code: CloseCodes.forbidden, reason: 'access revoked' },
  deleted: { code: CloseCodes.notFound, reason: 'channel deleted' },
} as const;

/**
 * The channel socket's lifecycle on its stream: joining it, the replay of what the client missed
 * (`since`), closing on the events that end the user's access, and leaving.
 */
export function createChannelSockets(deps: ChannelSocketDeps) {
  const { streams, eventLog, policy } = deps;
  const streamOf = new WeakMap<Connection, ChannelStream>();

  // Events that end access (a removal, the channel's deletion) close the sockets they concern,
  // after those sockets got the event itself.
  streams.observe((stream, event) => {
    if (!policy.canEndAccess(event)) return;
    for (const connection of stream.connections) {
      const ended = policy.endsAccess(event, connection.viewer);
      if (ended) connection.close(CLOSE_FOR[ended].code, CLOSE_FOR[ended].reason);
    }
  });

  /**
   * Sends the log after `connection.lastSeq`, pacing itself on the client's reading speed. False
   * when the log no longer starts right after it: retention pruned it meanwhile (the log has no
   * other gaps), and the client must resync instead of getting a jump.
   */
  async function replay(connection: Connection, channelId: string): Promise<boolean> {
    for (;;) {
      const events = await eventLog.listAfter(channelId, connection.lastSeq, REPLAY_BATCH);
      for (const event of events) {
        if (event.seq > connection.lastSeq + 1) return false;
        connection.sendEvent(policy.encode(event));
        const ended = policy.endsAccess(event, connection.viewer);
        if (ended) {
          connection.close(CLOSE_FOR[ended].code, CLOSE_FOR[ended].reason);
          return true;
        }
        if (
          connection.socket.bufferedAmount > deps.maxBufferedBytes / 2 &&
          !(await connection.waitForDrain())
        )
          return true;
      }
      if (events.length < REPLAY_BATCH || !connection.isOpen) return true;
    }
  }

  const lastSeqOrZero = async (channelId: string) => (await eventLog.lastSeq(channelId)) ?? 0;

  return {
    /**
     * Joins the channel's stream, then replays from `since` (or from the upgrade's moment), then
     * lets live events through. Access is checked once more after joining: a removal that
     * committed between the upgrade check and the join would otherwise be missed.
     */
    async attach(
      connection: Connection,
      channelId: string,
      since: number | undefined,
      seenAtUpgrade: number | undefined,
    ) {
      const stream = await streams.acquire(channelId, connection, (started) => {
        started.connections.add(connection);
        streamOf.set(connection, started);
      });
      if (!stream) return;
      const last = await eventLog.lastSeq(channelId);
      if (last === undefined) {
        connection.close(CloseCodes.notFound, 'channel deleted');
        return;
      }
      if (!(await deps.canRead(connection.user, channelId))) {
        connection.close(CloseCodes.forbidden, 'access revoked');
        return;
      }
      if (!(await deps.sessionStands(connection))) return;
      // The log no longer holds what the client missed (or the client is ahead of it): refetch.
      const requireResync = (lastSeq: number) => {
        // Live events go on from what the stream forwarded; never back over what was sent already.
        connection.lastSeq = Math.max(connection.lastSeq, Math.min(stream.position, lastSeq));
        connection.sendFrame({ type: 'resync_required', channel: channelId, last_seq: lastSeq });
      };
      if (since === undefined) {
        // Live from the moment of the upgrade: what was committed since then comes from the log.
        connection.lastSeq = seenAtUpgrade ?? last;
        if (!(await replay(connection, channelId))) requireResync(await lastSeqOrZero(channelId));
      } else {
        const first = await eventLog.firstSeq(channelId);
        const pruned = since < last && (first === undefined || first > since + 1);
        if (since > last || pruned) requireResync(last);
        else {
          connection.lastSeq = since;
          if (!(await replay(connection, channelId))) requireResync(await lastSeqOrZero(channelId));
        }
      }
      connection.release();
    },

    /** Re-checks a socket after an access change; its events are held back until the answer. */
    async recheck(connection: Connection, channelId: string) {
      connection.hold();
      if (!(await deps.sessionStands(connection))) return;
      if (await deps.canRead(connection.user, channelId)) connection.release();
      else connection.close(CloseCodes.forbidden, 'access revoked');
    },

    detach(connection: Connection, channelId: string) {
      streamOf.get(connection)?.connections.delete(connection);
      streams.release(channelId, connection);
    },
  };
}
