// Typed map of the persisted channel events: a wrong payload for a type does not compile.
export type ParticipantAction = 'joined' | 'left' | 'removed' | 'role_changed';
export type UserRef = { id: string; username: string };

export type ChannelEventPayloads = {
  'chat.message': Record<string, unknown>;
  'chat.message.updated': Record<string, unknown>;
  'chat.message.deleted': { mensagem_id: string };
  'chat.reaction': {
    mensagem_id: string;
    reactions: Record<string, number>;
    actor: UserRef;
    emoji: string;
    action: 'added' | 'removed';
  };
  'chat.pin': { mensagem_id: string; pinned_at: string | null };
  'chat.moderation': { mensagem_id: string; action: string; hidden_at: string | null };
  'chat.participant': { action: ParticipantAction; user: UserRef; is_admin?: boolean; is_owner?: boolean };
  'chat.channel': { action: 'created' | 'updated' | 'deleted'; channel: Record<string, unknown> };
};
export type ChannelEventType = keyof ChannelEventPayloads;

/** A persisted event as logged and as delivered: `type`, `seq`, `channel`, `created_at` and payload. */
export type ChannelEvent<T extends ChannelEventType = ChannelEventType> = {
  type: T;
  seq: number;
  channel: string;
  created_at: string;
  payload: ChannelEventPayloads[T];
};

export const channelTopic = (channelId: string) => `channel:${channelId}`;
