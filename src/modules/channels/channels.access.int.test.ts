import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, skipDatabaseTests } from '../../../test/support/database.js';
import type { DatabaseHandle } from '../../platform/db/client.js';
import { isAppError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { AuthUser } from '../auth/auth.service.js';
import { contextMemberships } from '../contexts/contexts.table.js';
import { createContextsRepository } from '../contexts/contexts.repository.js';
import { createMessagesRepository, type MessageWrite } from '../messages/messages.repository.js';
import { users } from '../users/users.table.js';
import { chatModerators } from '../users/moderators.table.js';
import { createUsersRepository } from '../users/users.repository.js';
import { createChannelAccess, isModerator, type ChannelStanding } from './channels.access.js';
import { createChannelsRepository } from './channels.repository.js';
import { chatChannels } from './channels.table.js';
import { createParticipantsRepository } from './participants.repository.js';
import { chatParticipants } from './participants.table.js';

// channels.access is the one author of who may read and post. Three places apply its member rule:
// the standing (TypeScript), the channel list (SQL) and the send statement (SQL, the hot path). Every
// role × context state × moderator (no, staff, granted) × channel kind × deletion, each on a channel and user of its own,
// is put through all three, which must agree with each other and with docs/permissions.md.

const KINDS = ['privado', 'nucleo', 'nucleo without contexto_id'] as const;
const ROWS = ['owner', 'admin', 'plain participant', 'removed participant', 'no row'] as const;
const CONTEXT = ['active member', 'inactive member', 'not a member'] as const;
// Staff moderate by their flag; a granted moderator by a chat_moderators row.
const MODERATOR = ['not a moderator', 'staff', 'granted moderator'] as const;

type Case = {
  kind: (typeof KINDS)[number];
  row: (typeof ROWS)[number];
  moderator: (typeof MODERATOR)[number];
  context: (typeof CONTEXT)[number];
  deleted: boolean;
  user: AuthUser;
  channelId: string;
  contextoId: string | null;
};

const cases: Case[] = KINDS.flatMap((kind) =>
  ROWS.flatMap((row) =>
    MODERATOR.flatMap((moderator) =>
      CONTEXT.flatMap((context) =>
        [false, true].map((deleted) => {
          const id = newId();
          return {
            kind,
            row,
            moderator,
            context,
            deleted,
            user: {
              id,
              username: `u${id.slice(-12)}`,
              email: `${id}@example.test`,
              isStaff: moderator === 'staff',
              isModerator: moderator !== 'not a moderator',
            },
            channelId: newId(),
            contextoId: kind === 'nucleo' ? `ctx-${id.slice(-12)}` : null,
          };
        }),
      ),
    ),
  ),
);

const moderates = (c: Case) => c.moderator !== 'not a moderator';

const label = (c: Case) =>
  `${c.kind}, ${c.row}, ${c.moderator}, ${c.context}${c.deleted ? ', channel deleted' : ''}`;

/** docs/permissions.md, written out on its own: who is a member (reads, posts, sees it listed). */
function expectedMember(c: Case): boolean {
  if (c.deleted) return false;
  // A context channel is one with a context; a context type without a context id has none to check.
  const isContextChannel = c.kind === 'nucleo';
  const inContext = isContextChannel && c.context === 'active member';
  const activeRow = c.row === 'owner' || c.row === 'admin' || c.row === 'plain participant';
  if (activeRow) return !isContextChannel || inContext || moderates(c);
  return c.row === 'no row' && inContext;
}

describe.skipIf(skipDatabaseTests)('channels.access: one member rule in TypeScript and SQL', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  let handle: DatabaseHandle;
  const standings = new Map<Case, ChannelStanding | 'not found'>();
  const listed = new Map<Case, boolean>();
  const stored = new Map<Case, boolean>();

  beforeAll(async () => {
    database = await openTestDatabase();
    handle = database.handle;
    const { db } = handle;
    await db.insert(users).values(
      cases.map(({ user }) => ({
        id: user.id,
        username: user.username,
        email: user.email,
        passwordHash: 'unused',
        isStaff: user.isStaff,
      })),
    );
    await db
      .insert(chatModerators)
      .values(cases.filter((c) => c.moderator === 'granted moderator').map((c) => ({ userId: c.user.id })));
    await db.insert(chatChannels).values(
      cases.map((c) => ({
        id: c.channelId,
        contextoTipo: c.kind === 'privado' ? ('privado' as const) : ('nucleo' as const),
        contextoId: c.contextoId,
        titulo: label(c),
        deletedAt: c.deleted ? new Date() : null,
      })),
    );
    const withRow = cases.filter((c) => c.row !== 'no row');
    await db.insert(chatParticipants).values(
      withRow.map((c) => ({
        id: newId(),
        channelId: c.channelId,
        userId: c.user.id,
        isOwner: c.row === 'owner',
        isAdmin: c.row === 'owner' || c.row === 'admin',
        removedAt: c.row === 'removed participant' ? new Date() : null,
      })),
    );
    const inContext = cases.filter((c) => c.context !== 'not a member');
    await db.insert(contextMemberships).values(
      inContext.map((c) => ({
        id: newId(),
        userId: c.user.id,
        contextoTipo: 'nucleo' as const,
        // A channel without a context id: the user belongs to some context, not to the channel's.
        contextoId: c.contextoId ?? `other-${c.user.id.slice(-12)}`,
        status: c.context === 'active member' ? ('ativo' as const) : ('inativo' as const),
      })),
    );

    const channelsRepository = createChannelsRepository({ db });
    const access = createChannelAccess({
      channelsRepository,
      participantsRepository: createParticipantsRepository({ db }),
      contextsRepository: createContextsRepository({ db }),
      usersRepository: createUsersRepository({ db }),
    });
    for (const c of cases) {
      try {
        standings.set(c, await access.getStanding(c.user, c.channelId));
      } catch (error) {
        if (!isAppError(error) || error.code !== 'channels.not_found') throw error;
        standings.set(c, 'not found');
      }
      const page = await channelsRepository.listVisibleTo(c.user, { limit: 10 });
      listed.set(
        c,
        page.some((channel) => channel.id === c.channelId),
      );
    }

    // One send statement for all of them, as the group commit batches sends of many channels.
    const now = new Date();
    const writes: MessageWrite[] = cases.map((c) => ({
      message: {
        id: newId(),
        channelId: c.channelId,
        remetenteId: c.user.id,
        tipo: 'text',
        conteudo: 'olá',
        createdAt: now,
      },
      senderIsStaff: isModerator(c.user),
      eventId: newId(),
      payload: { conteudo: 'olá' },
    }));
    const seqs = await createMessagesRepository({ db }).insertWithEvents(writes);
    cases.forEach((c, index) => stored.set(c, seqs[index] !== undefined));
  });
  afterAll(async () => database?.drop());

  it('covers every combination', () => {
    expect(cases).toHaveLength(KINDS.length * ROWS.length * MODERATOR.length * CONTEXT.length * 2);
    expect(cases.filter(expectedMember).length).toBeGreaterThan(20);
  });

  it.each(cases.map((c) => [label(c), c] as const))('%s', (_label, c) => {
    const standing = standings.get(c)!;
    const member = expectedMember(c);
    if (standing === 'not found') {
      expect(c.deleted).toBe(true);
    } else {
      expect(c.deleted).toBe(false);
      const activeRow = c.row === 'owner' || c.row === 'admin' || c.row === 'plain participant';
      expect({
        isMember: standing.isMember,
        needsJoin: standing.needsJoin,
        canRead: standing.canRead,
        isAdmin: standing.isAdmin,
        isOwner: standing.isOwner,
        isModerator: standing.isModerator,
      }).toEqual({
        isMember: member,
        needsJoin: member && !activeRow,
        canRead: member || moderates(c),
        isAdmin: (member && (c.row === 'owner' || c.row === 'admin')) || moderates(c),
        isOwner: member && c.row === 'owner',
        isModerator: moderates(c),
      });
    }
    // The channel list (SQL) lists exactly the members' channels.
    expect(listed.get(c)).toBe(member);
    // The send statement (SQL) stores what a member with a participant row sends; a context
    // member without one is refused there and takes the full check, which joins them first.
    const joinsFirst = standing !== 'not found' && standing.needsJoin;
    expect(stored.get(c)).toBe(member && !joinsFirst);
  });
});
