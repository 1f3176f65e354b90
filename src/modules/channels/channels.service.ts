import { newId } from '../../shared/ids.js';
import { createValidationError, isAppError } from '../../shared/errors.js';
import type { AuthUser } from '../auth/auth.service.js';
import type { UnitOfWork } from '../../shared/events.js';
import type { ParticipantsRepository } from './participants.repository.js';
import { mayCreateChannel, type ChannelAccess } from './channels.access.js';
import { createChannelNotFoundError, createStaffOnlyError } from './channels.errors.js';
import type { ChannelsRepository } from './channels.repository.js';
import type { ChannelContextType, ChannelRow } from './channels.table.js';
import { toChannelView, type ChannelView, type LastMessageView } from './channels.views.js';

export type CreateChannelInput = {
  contexto_tipo: ChannelContextType;
  titulo: string;
  descricao?: string | undefined;
  contexto_id?: string | undefined;
  categoria?: string | undefined;
  participantes?: string[] | undefined;
  e2ee_habilitado?: boolean | undefined;
};
export type UpdateChannelInput = { titulo?: string; descricao?: string; categoria?: string | null };

const MAX_INITIAL_PARTICIPANTS = 500;

export function createChannelsService(deps: {
  uow: UnitOfWork;
  access: ChannelAccess;
  channelsRepository: ChannelsRepository;
  participantsRepository: Pick<ParticipantsRepository, 'addMany' | 'countActive'>;
  /**
   * The newest visible message of each channel (by channel id), as the messages module shapes it:
   * that module sits above this one, so the composition root hands its reader in.
   */
  lastMessages: (channelIds: string[]) => Promise<Map<string, LastMessageView>>;
  /** Told after commit about users who gained access, so their notification sockets follow. */
  onAccessChanged?: (change: { channelId: string; userIds: string[] }) => void;
}) {
  const { uow, access, channelsRepository, participantsRepository } = deps;

  /** Adds the counts and last message that channel objects carry. */
  async function describe(rows: ChannelRow[]): Promise<ChannelView[]> {
    const ids = rows.map((row) => row.id);
    const [counts, lastMessages] = await Promise.all([
      participantsRepository.countActive(ids),
      deps.lastMessages(ids),
    ]);
    return rows.map((row) =>
      toChannelView(row, {
        participantes: counts.get(row.id) ?? 0,
        ultima_mensagem: lastMessages.get(row.id) ?? null,
      }),
    );
  }

  async function describeOne(channelId: string): Promise<ChannelView> {
    const row = await channelsRepository.findById(channelId);
    if (!row) throw createChannelNotFoundError();
    const [view] = await describe([row]);
    return view!;
  }

  return {
    describe,

    async createChannel(user: AuthUser, input: CreateChannelInput): Promise<ChannelView> {
      const isContext = input.contexto_tipo !== 'privado';
      if (!mayCreateChannel(user, input.contexto_tipo)) {
        throw createStaffOnlyError('Only staff can create núcleo, evento or organização channels.');
      }
      if (isContext && !input.contexto_id) {
        throw createValidationError(
          'contexto_id is required for this contexto_tipo.',
          'channels.contexto_id_required',
        );
      }
      if (!isContext && input.contexto_id) {
        throw createValidationError(
          'Private channels take no contexto_id.',
          'channels.contexto_id_not_allowed',
        );
      }
      const invitees = [...new Set(input.participantes ?? [])].filter((id) => id !== user.id);
      if (invitees.length > MAX_INITIAL_PARTICIPANTS) {
        throw createValidationError(`At most ${MAX_INITIAL_PARTICIPANTS} initial participants.`);
      }
      const contextoId = isContext ? input.contexto_id! : null;
      await access.checkInvitees({ contextoTipo: input.contexto_tipo, contextoId }, invitees);
      const channelId = await uow.run(async (tx, events) => {
        const created = await channelsRepository.insert(
          {
            id: newId(),
            contextoTipo: input.contexto_tipo,
            contextoId,
            titulo: input.titulo,
            descricao: input.descricao ?? '',
            categoria: input.categoria ?? null,
            e2eeHabilitado: input.e2ee_habilitado ?? false,
            createdBy: user.id,
          },
          tx,
        );
        await participantsRepository.addMany(created.id, [user.id], { isOwner: true, isAdmin: true }, tx);
        await participantsRepository.addMany(created.id, invitees, {}, tx);
        // The event it is described in is the channel's first (seq 1): its last_seq, as in REST.
        const channel = toChannelView(
          { ...created, lastSeq: 1 },
          { participantes: invitees.length + 1, ultima_mensagem: null },
        );
        await events.record({
          channelId: created.id,
          type: 'chat.channel',
          payload: { action: 'created', channel },
        });
        return created.id;
      });
      deps.onAccessChanged?.({ channelId, userIds: [user.id, ...invitees] });
      return describeOne(channelId);
    },

    async listChannels(
      user: AuthUser,
      options: { categoria?: string | undefined; afterId?: string | undefined; limit: number },
    ) {
      const rows = await channelsRepository.listVisibleTo(user, options);
      const page = rows.slice(0, options.limit);
      return {
        results: await describe(page),
        nextAfterId: rows.length > options.limit ? page[page.length - 1]!.id : undefined,
      };
    },

    /** For a socket: the user may read the channel (a context member joins on first use); else 404. */
    async openChannel(user: AuthUser, channelId: string): Promise<void> {
      const standing = await access.requireReadable(user, channelId);
      if (standing.needsJoin) await uow.run((tx, events) => access.joinIfNeeded(standing, tx, events));
    },

    async canRead(user: AuthUser, channelId: string): Promise<boolean> {
      try {
        return (await access.getStanding(user, channelId)).canRead;
      } catch (error) {
        if (isAppError(error)) return false;
        throw error;
      }
    },

    /** Ids of every channel in the user's list (notification sockets follow them all). */
    async listChannelIds(user: AuthUser, max = 10_000): Promise<string[]> {
      const ids: string[] = [];
      let afterId: string | undefined;
      while (ids.length < max) {
        const rows = await channelsRepository.listVisibleTo(user, { afterId, limit: 500 });
        ids.push(...rows.slice(0, 500).map((row) => row.id));
        if (rows.length <= 500) break;
        afterId = rows[499]!.id;
      }
      return ids;
    },

    async getChannel(user: AuthUser, channelId: string): Promise<ChannelView> {
      const standing = await access.requireReadable(user, channelId);
      if (standing.needsJoin) await uow.run((tx, events) => access.joinIfNeeded(standing, tx, events));
      return describeOne(channelId);
    },

    async updateChannel(user: AuthUser, channelId: string, input: UpdateChannelInput): Promise<ChannelView> {
      const standing = await access.requireAdmin(user, channelId);
      await uow.run(async (tx, events) => {
        const row = await channelsRepository.update(standing.channel.id, input, tx);
        if (!row) throw createChannelNotFoundError();
        const channel = {
          id: row.id,
          titulo: row.titulo,
          descricao: row.descricao,
          categoria: row.categoria,
        };
        await events.record({
          channelId: row.id,
          type: 'chat.channel',
          payload: { action: 'updated', channel },
        });
      });
      return describeOne(channelId);
    },

    async deleteChannel(user: AuthUser, channelId: string): Promise<void> {
      const standing = await access.requireReadable(user, channelId);
      if (!standing.canDelete) throw createStaffOnlyError('Only staff can delete channels.');
      await uow.run(async (tx, events) => {
        await events.record({
          channelId: standing.channel.id,
          type: 'chat.channel',
          payload: { action: 'deleted', channel: { id: standing.channel.id } },
        });
        await channelsRepository.update(standing.channel.id, { deletedAt: new Date() }, tx);
      });
    },
  };
}
export type ChannelsService = ReturnType<typeof createChannelsService>;
