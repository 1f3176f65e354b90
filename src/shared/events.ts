import type { Transaction } from '../platform/db/client.js';

// The event contract between the modules, the event log, the bus and the sockets. It sits below
// every module so that any of them can record, read or deliver events without importing another.
// Each module declares the events it owns by augmenting these maps in its `<feature>.events.ts`
// (`declare module '../../shared/events.js' { interface ChannelEventMap { … } }`): a wrong payload
// for a type does not compile, from the service through the log and the bus to the socket.

/** Persisted channel events (logged with the channel's `seq`), by type. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by module augmentation
export interface ChannelEventMap {}
/** Ephemeral channel events: neither logged nor numbered (typing). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by module augmentation
export interface EphemeralEventMap {}
/** Frames addressed to one user rather than to a channel (the notification socket). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by module augmentation
export interface UserEventMap {}

/** A user as events name them. */
export type UserRef = { id: string; username: string };

export type ChannelEventType = keyof ChannelEventMap & string;
export type EphemeralEventType = keyof EphemeralEventMap & string;
export type UserEventType = keyof UserEventMap & string;

/** A persisted event as logged, published and delivered: a discriminated union on `type`. */
export type ChannelEvent<T extends ChannelEventType = ChannelEventType> = {
  [K in T]: { type: K; seq: number; channel: string; created_at: string; payload: ChannelEventMap[K] };
}[T];
/** An ephemeral event as published and delivered (no `seq`, no `created_at`). */
export type EphemeralEvent<T extends EphemeralEventType = EphemeralEventType> = {
  [K in T]: { type: K; channel: string; payload: EphemeralEventMap[K] };
}[T];
/** What travels on a channel's topic. */
export type StreamEvent = ChannelEvent | EphemeralEvent;
/** A user frame: its `type` and its fields side by side (the notification socket's wire shape). */
export type UserEvent<T extends UserEventType = UserEventType> = {
  [K in T]: { type: K } & UserEventMap[K];
}[T];

/** An event about to be recorded: everything but what the log gives it (`seq`, `created_at`). */
export type ChannelEventDraft<T extends ChannelEventType = ChannelEventType> = {
  [K in T]: { channelId: string; type: K; payload: ChannelEventMap[K] };
}[T];

/** Builds the delivered shape of a recorded event: the one place events are made. */
export function toChannelEvent<T extends ChannelEventType>(
  draft: ChannelEventDraft<T>,
  seq: number,
  createdAt: Date,
): ChannelEvent<T> {
  return {
    type: draft.type,
    seq,
    channel: draft.channelId,
    created_at: createdAt.toISOString(),
    payload: draft.payload,
  } as ChannelEvent<T>;
}

/** Records the events of a write; they are published only once the write has committed. */
export interface EventRecorder {
  /** Logs the event in the transaction (next seq of its channel) and queues it for publishing. */
  record<T extends ChannelEventType>(draft: ChannelEventDraft<T>): Promise<ChannelEvent<T>>;
  /** Queues an event that a statement of this write already logged (the group-committed send). */
  logged<T extends ChannelEventType>(
    draft: ChannelEventDraft<T>,
    seq: number,
    createdAt: Date,
  ): ChannelEvent<T>;
}

/** The one API through which every state change records its events. */
export interface UnitOfWork {
  /** Runs `work` in one transaction, then publishes the events it recorded. */
  run<T>(work: (tx: Transaction, events: EventRecorder) => Promise<T>): Promise<T>;
  /**
   * Runs a write that commits on its own (one autocommit statement: the send path's group commit)
   * and reports, through `events.logged`, the events it logged; publishes them once it returns.
   */
  runCommitted<T>(work: (events: Pick<EventRecorder, 'logged'>) => Promise<T>): Promise<T>;
}

// ---- viewer policy ---------------------------------------------------------------------------------

/** Who is looking at an event: the transport knows no more than this about a socket's user. */
export type Viewer = { id: string; isModerator: boolean };

/** How an event ends a viewer's access to its channel (the transport closes with 4403 / 4404). */
export type AccessEnd = 'revoked' | 'deleted';

/**
 * What the module that owns an event type decides for each viewer. `seq` is gap-free, so a
 * persisted event is never withheld: a viewer who may not see all of it gets the redacted copy.
 */
export type ChannelEventPolicy<T extends ChannelEventType> = {
  /** The copy for viewers who may not see all of this event; undefined when everyone may. Once per event. */
  redact?(event: ChannelEvent<T>): ChannelEvent<T> | undefined;
  /** Whether this viewer gets the original (asked only when there is a redacted copy). */
  seesOriginal?(event: ChannelEvent<T>, viewer: Viewer): boolean;
  /**
   * A copy for one viewer only, ahead of the two above (a spam sender's own message, as sent).
   * Asked only when there is a redacted copy.
   */
  personal?(event: ChannelEvent<T>): { viewerId: string; event: ChannelEvent<T> } | undefined;
  /** Whether the event ends this viewer's access to the channel (closing their socket). */
  endsAccess?(event: ChannelEvent<T>, viewer: Viewer): AccessEnd | undefined;
};
export type ChannelEventPolicies = { [K in ChannelEventType]?: ChannelEventPolicy<K> };

/**
 * Brings logged events up to the current state of what they describe before a replay (a message
 * hidden or deleted since it was logged), so a resuming client never gets what live clients no
 * longer see. Declared by the module that owns the event type.
 */
export type ChannelEventRefresher<T extends ChannelEventType> = (
  events: Array<ChannelEvent<T>>,
) => Promise<Array<ChannelEvent<T>>>;
export type ChannelEventRefreshers = { [K in ChannelEventType]?: ChannelEventRefresher<K> };
