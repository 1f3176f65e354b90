import type {
  AccessEnd,
  ChannelEvent,
  ChannelEventPolicies,
  ChannelEventPolicy,
  ChannelEventType,
  StreamEvent,
  Viewer,
} from '../shared/events.js';
import type { EncodedEvent } from './connection.js';

/**
 * The transport's side of the viewer policy: it asks the owning module's policy, once per event,
 * whether some viewers get a redacted copy, and per socket which copy and whether the event ends
 * its access. It reads no payload field itself.
 */
export type EventPolicy = {
  /** Encodes an event once for every socket (and once more when its policy redacts it). */
  encode(event: StreamEvent, bytes?: Buffer): EncodedEvent;
  /** How the event ends this viewer's access to its channel, if it does. */
  endsAccess(event: StreamEvent, viewer: Viewer): AccessEnd | undefined;
  /** Whether events of this type can end anyone's access (so the transport need not ask per socket). */
  canEndAccess(event: StreamEvent): boolean;
};

const isPersisted = (event: StreamEvent): event is ChannelEvent => 'seq' in event;

export function createEventPolicy(policies: ChannelEventPolicies = {}): EventPolicy {
  // A registry keyed by type holds each type's own policy; TypeScript cannot pair the two through a
  // lookup by a variable, so the pairing is asserted here, once.
  const policyOf = (event: ChannelEvent) =>
    policies[event.type] as ChannelEventPolicy<ChannelEventType> | undefined;

  return {
    encode(event, bytes = Buffer.from(JSON.stringify(event))) {
      if (!isPersisted(event)) return { seq: undefined, bytes };
      const policy = policyOf(event);
      const redacted = policy?.redact?.(event);
      if (!redacted) return { seq: event.seq, bytes };
      const personal = policy?.personal?.(event);
      return {
        seq: event.seq,
        bytes,
        redacted: Buffer.from(JSON.stringify(redacted)),
        seesOriginal: policy?.seesOriginal && ((viewer) => policy.seesOriginal!(event, viewer)),
        personal: personal && {
          viewerId: personal.viewerId,
          bytes: Buffer.from(JSON.stringify(personal.event)),
        },
      };
    },
    endsAccess(event, viewer) {
      return isPersisted(event) ? policyOf(event)?.endsAccess?.(event, viewer) : undefined;
    },
    canEndAccess(event) {
      return isPersisted(event) && policyOf(event)?.endsAccess !== undefined;
    },
  };
}
