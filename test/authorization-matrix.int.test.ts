import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContextsRepository } from '../src/modules/contexts/contexts.repository.js';
import { createMessagesRepository } from '../src/modules/messages/messages.repository.js';
import { chatMessageFlags } from '../src/modules/moderation/moderation.table.js';
import { newId } from '../src/shared/ids.js';
import { createTestApp, type TestApp, type TestUser } from './support/app.js';
import { chatClient } from './support/chat.js';
import { skipDatabaseTests } from './support/database.js';
import { connect, listen, type WsClient } from './support/ws.js';
import { multipartBody } from './support/samples.js';

// The authorization rules of docs/permissions.md, checked case by case: every REST endpoint × every
// role with the exact status, plus the edge cases the doc names (ids of other channels, ids that are
// not UUIDs, deleted channels, context members, removed participants). The tables mirror the doc:
// when the code disagrees, the doc is the reference and the case fails.

// moderator: granted the role by staff (not staff), taking part in no fixture channel.
const ROLES = ['anonymous', 'outsider', 'participant', 'admin', 'owner', 'staff', 'moderator'] as const;
type Role = (typeof ROLES)[number];
type Member = 'participant' | 'admin' | 'owner';
type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
type Reply = Awaited<ReturnType<TestApp['inject']>>;
type Page<T> = { results: T[]; next: string | null };
type ChannelBody = { id: string; titulo: string; contexto_tipo: string };
type MessageBody = { id: string; conteudo: string; channel: string; hidden_at: string | null };
type ParticipantBody = { user: { id: string; username: string }; is_owner: boolean; is_admin: boolean };
type SentMessage = { id: string; conteudo: string };

/**
 * One channel and its cast: the creator (owner), an admin, a plain participant and another plain
 * participant (`other`, the target of remove_participant and role changes). Owner, admin and
 * participant each sent one message.
 */
type Fixture = {
  channelId: string;
  contextoId: string | null;
  titulo: string;
  /** Unique to the channel, so `GET channels/?categoria=` answers exactly about this channel. */
  categoria: string;
  owner: TestUser;
  admin: TestUser;
  participant: TestUser;
  other: TestUser;
  /** Who plays the outsider: a user with no standing in this channel. */
  outsider: TestUser;
  messages: Record<Member, SentMessage>;
};

/** The response, and a check of the effect: done when the request was allowed, absent otherwise. */
type Attempt = { response: Reply; effect?: (allowed: boolean) => Promise<void> };

type Endpoint = {
  /** As the endpoint is named in docs/permissions.md. */
  name: string;
  /** Under channels/<id>/: such requests answer 404 to whoever may not see the channel. */
  channelScoped: boolean;
  /** Changes state: the case runs on a channel of its own so that no case depends on another. */
  fresh: boolean;
  attempt(f: Fixture, role: Role): Promise<Attempt>;
};

let t: TestApp;
let client: ReturnType<typeof chatClient>;
/** Staff who takes part in none of the fixtures' private channels. */
let staff: TestUser;
/** A granted moderator (not staff) who takes part in none of the fixtures' channels. */
let moderator: TestUser;
let outsider: TestUser;

function unique(): string {
  return newId().replaceAll('-', '').slice(-16);
}

function userFor(f: Fixture, role: Role): TestUser | undefined {
  switch (role) {
    case 'anonymous':
      return undefined;
    case 'outsider':
      return f.outsider;
    case 'staff':
      return staff;
    case 'moderator':
      return moderator;
    default:
      return f[role];
  }
}

function isMember(role: Role): role is Member {
  return role === 'participant' || role === 'admin' || role === 'owner';
}

function send(user: TestUser | undefined, method: Method, path: string, payload?: Record<string, unknown>) {
  return t.inject({
    method,
    url: `/api/${path}`,
    headers: user?.auth ?? {},
    ...(payload !== undefined ? { payload } : {}),
  });
}

const channelPath = (f: Fixture, rest = '') => `chat/channels/${f.channelId}/${rest}`;
const messagePath = (f: Fixture, messageId: string) => channelPath(f, `messages/${messageId}/`);

async function statusOf(user: TestUser, path: string): Promise<number> {
  return (await send(user, 'GET', path)).statusCode;
}

async function messageIds(user: TestUser, f: Fixture): Promise<string[]> {
  const response = await send(user, 'GET', channelPath(f, 'messages/?limit=200'));
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Page<MessageBody>>().results.map((message) => message.id);
}

async function participantsOf(f: Fixture): Promise<ParticipantBody[]> {
  const response = await send(f.owner, 'GET', channelPath(f, 'participants/?limit=200'));
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Page<ParticipantBody>>().results;
}

async function listedChannelIds(user: TestUser, categoria: string): Promise<string[]> {
  const response = await send(user, 'GET', `chat/channels/?categoria=${categoria}`);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Page<ChannelBody>>().results.map((channel) => channel.id);
}

/** Every error answers `{detail, code}`, nothing more (request_id only comes with a 5xx). */
function expectErrorBody(response: Reply, code?: string) {
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(response.json()).toEqual({
    detail: expect.stringMatching(/\S/),
    code: code ?? expect.stringMatching(/^[a-z][a-z_.]*$/),
  });
}

async function sendTracked(user: TestUser, channelId: string): Promise<SentMessage> {
  const conteudo = `mensagem ${unique()}`;
  const message = await client.sendMessage(user, channelId, { conteudo });
  return { id: message.id, conteudo };
}

/** A private channel: owner (the creator), admin, participant and other; three messages. */
async function createFixture(): Promise<Fixture> {
  const owner = await t.createUser();
  const admin = await t.createUser();
  const participant = await t.createUser();
  const other = await t.createUser();
  const titulo = `Matriz ${unique()}`;
  const categoria = `cat-${unique()}`;
  const channel = await client.createChannel(owner, { titulo, categoria });
  await client.addParticipants(owner, channel.id, [admin, participant, other]);
  await client.setRole(owner, channel.id, admin, true);
  return {
    channelId: channel.id,
    contextoId: null,
    titulo,
    categoria,
    owner,
    admin,
    participant,
    other,
    outsider,
    messages: {
      owner: await sendTracked(owner, channel.id),
      admin: await sendTracked(admin, channel.id),
      participant: await sendTracked(participant, channel.id),
    },
  };
}

/**
 * A núcleo channel created by staff (so staff is its owner), with an admin and `other` as
 * participants. `participant` is an active member of the núcleo with no participant row yet.
 * Its `messages.participant` is other's message (the context member has sent none).
 */
async function createContextFixture(): Promise<Fixture> {
  const contextoId = `nucleo-${unique()}`;
  const admin = await t.createUser();
  const other = await t.createUser();
  await client.setContextMember(staff, 'nucleo', contextoId, admin);
  await client.setContextMember(staff, 'nucleo', contextoId, other);
  const titulo = `Núcleo ${unique()}`;
  const categoria = `cat-${unique()}`;
  const channel = await client.createChannel(staff, {
    contexto_tipo: 'nucleo',
    contexto_id: contextoId,
    titulo,
    categoria,
    participantes: [admin.id, other.id],
  });
  await client.setRole(staff, channel.id, admin, true);
  const base: Fixture = {
    channelId: channel.id,
    contextoId,
    titulo,
    categoria,
    owner: staff,
    admin,
    participant: other,
    other,
    outsider,
    messages: {
      owner: await sendTracked(staff, channel.id),
      admin: await sendTracked(admin, channel.id),
      participant: await sendTracked(other, channel.id),
    },
  };
  return withFreshContextMember(base);
}

/** The same context channel seen by a new context member who has not used it yet. */
async function withFreshContextMember(base: Fixture): Promise<Fixture> {
  const member = await t.createUser();
  await client.setContextMember(staff, 'nucleo', base.contextoId!, member);
  return { ...base, participant: member };
}

// ---------------------------------------------------------------------------------------------
// The endpoints, each with the request it makes and the effect a successful request must have.

function createChannelEndpoint(contextoTipo: 'privado' | 'nucleo' | 'evento' | 'organizacao'): Endpoint {
  return {
    name: `POST channels/ ${contextoTipo}`,
    channelScoped: false,
    fresh: false,
    async attempt(f, role) {
      const user = userFor(f, role);
      const categoria = `new-${unique()}`;
      const response = await send(user, 'POST', 'chat/channels/', {
        contexto_tipo: contextoTipo,
        titulo: `Novo ${contextoTipo}`,
        categoria,
        ...(contextoTipo === 'privado' ? {} : { contexto_id: `ctx-${unique()}` }),
      });
      return {
        response,
        async effect(allowed) {
          if (!user) return;
          const listed = await listedChannelIds(user, categoria);
          if (!allowed) {
            expect(listed).toEqual([]);
            return;
          }
          const channel = response.json<ChannelBody>();
          expect(channel.contexto_tipo).toBe(contextoTipo);
          expect(listed).toEqual([channel.id]);
          const participants = await send(user, 'GET', `chat/channels/${channel.id}/participants/`);
          expect(participants.json<Page<ParticipantBody>>().results).toEqual([
            expect.objectContaining({
              user: { id: user.id, username: user.username },
              is_owner: true,
              is_admin: true,
            }),
          ]);
        },
      };
    },
  };
}

const listChannels: Endpoint = {
  name: 'GET channels/',
  channelScoped: false,
  fresh: false,
  async attempt(f, role) {
    const response = await send(userFor(f, role), 'GET', `chat/channels/?categoria=${f.categoria}`);
    return {
      response,
      async effect(allowed) {
        if (!allowed) return;
        // Own channels only: outsiders and staff who do not take part do not see it.
        const ids = response.json<Page<ChannelBody>>().results.map((channel) => channel.id);
        expect(ids).toEqual(isMember(role) ? [f.channelId] : []);
      },
    };
  },
};

const getChannel: Endpoint = {
  name: 'GET channels/<id>/',
  channelScoped: true,
  fresh: false,
  async attempt(f, role) {
    const response = await send(userFor(f, role), 'GET', channelPath(f));
    return {
      response,
      async effect(allowed) {
        if (allowed) expect(response.json()).toMatchObject({ id: f.channelId, titulo: f.titulo });
      },
    };
  },
};

const updateChannel: Endpoint = {
  name: 'PATCH channels/<id>/',
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const titulo = `Renomeado ${unique()}`;
    const response = await send(userFor(f, role), 'PATCH', channelPath(f), { titulo });
    return {
      response,
      async effect(allowed) {
        if (allowed) expect(response.json()).toMatchObject({ id: f.channelId, titulo });
        const seen = await send(f.owner, 'GET', channelPath(f));
        expect(seen.json<ChannelBody>().titulo).toBe(allowed ? titulo : f.titulo);
      },
    };
  },
};

const deleteChannel: Endpoint = {
  name: 'DELETE channels/<id>/',
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const response = await send(userFor(f, role), 'DELETE', channelPath(f));
    return {
      response,
      async effect(allowed) {
        expect(await statusOf(f.owner, channelPath(f))).toBe(allowed ? 404 : 200);
        if (allowed) expect(await statusOf(staff, channelPath(f))).toBe(404);
      },
    };
  },
};

const addParticipant: Endpoint = {
  name: 'POST channels/<id>/add_participant/',
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const newcomer = await t.createUser();
    const response = await send(userFor(f, role), 'POST', channelPath(f, 'add_participant/'), {
      usuarios: [newcomer.id],
    });
    return {
      response,
      async effect(allowed) {
        if (allowed) expect(response.json()).toEqual({ adicionados: [newcomer.id] });
        expect(await statusOf(newcomer, channelPath(f))).toBe(allowed ? 200 : 404);
      },
    };
  },
};

const removeParticipant: Endpoint = {
  name: 'POST channels/<id>/remove_participant/',
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const response = await send(userFor(f, role), 'POST', channelPath(f, 'remove_participant/'), {
      usuarios: [f.other.id],
    });
    return {
      response,
      async effect(allowed) {
        if (allowed) expect(response.json()).toEqual({ removidos: [f.other.id] });
        expect(await statusOf(f.other, channelPath(f))).toBe(allowed ? 404 : 200);
      },
    };
  },
};

const leaveChannel: Endpoint = {
  name: 'POST channels/<id>/leave/',
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const user = userFor(f, role);
    const response = await send(user, 'POST', channelPath(f, 'leave/'));
    return {
      response,
      async effect(allowed) {
        // Whoever left loses access at once; a refused leave changes nothing (staff still reads).
        if (user && (isMember(role) || role === 'staff' || role === 'moderator')) {
          expect(await statusOf(user, channelPath(f))).toBe(allowed ? 404 : 200);
        }
      },
    };
  },
};

const listParticipants: Endpoint = {
  name: 'GET channels/<id>/participants/',
  channelScoped: true,
  fresh: false,
  async attempt(f, role) {
    const response = await send(userFor(f, role), 'GET', channelPath(f, 'participants/'));
    return {
      response,
      async effect(allowed) {
        if (!allowed) return;
        const ids = response.json<Page<ParticipantBody>>().results.map((row) => row.user.id);
        expect(ids).toEqual(expect.arrayContaining([f.owner.id, f.admin.id, f.other.id]));
      },
    };
  },
};

const setParticipantRole: Endpoint = {
  name: 'POST channels/<id>/participants/<uid>/role/',
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const response = await send(
      userFor(f, role),
      'POST',
      channelPath(f, `participants/${f.other.id}/role/`),
      {
        is_admin: true,
      },
    );
    return {
      response,
      async effect(allowed) {
        if (allowed) {
          expect(response.json()).toMatchObject({
            user: { id: f.other.id },
            is_admin: true,
            is_owner: false,
          });
        }
        const row = (await participantsOf(f)).find((participant) => participant.user.id === f.other.id);
        expect(row?.is_admin).toBe(allowed);
      },
    };
  },
};

const sendMessage: Endpoint = {
  name: 'POST channels/<id>/messages/',
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const user = userFor(f, role);
    const conteudo = `nova ${unique()}`;
    const response = await send(user, 'POST', channelPath(f, 'messages/'), { tipo: 'text', conteudo });
    return {
      response,
      async effect(allowed) {
        const listed = await send(f.owner, 'GET', channelPath(f, 'messages/?limit=200'));
        const contents = listed.json<Page<MessageBody>>().results.map((message) => message.conteudo);
        if (!allowed) {
          expect(contents).not.toContain(conteudo);
          return;
        }
        expect(response.json()).toMatchObject({
          conteudo,
          channel: f.channelId,
          remetente: { id: user!.id },
        });
        expect(contents).toContain(conteudo);
      },
    };
  },
};

const listMessages: Endpoint = {
  name: 'GET channels/<id>/messages/',
  channelScoped: true,
  fresh: false,
  async attempt(f, role) {
    const response = await send(userFor(f, role), 'GET', channelPath(f, 'messages/'));
    return {
      response,
      async effect(allowed) {
        if (!allowed) return;
        const ids = response.json<Page<MessageBody>>().results.map((message) => message.id);
        expect(ids).toEqual(expect.arrayContaining([f.messages.owner.id, f.messages.participant.id]));
      },
    };
  },
};

const getMessage: Endpoint = {
  name: 'GET channels/<id>/messages/<mid>/',
  channelScoped: true,
  fresh: false,
  async attempt(f, role) {
    const message = f.messages.participant;
    const response = await send(userFor(f, role), 'GET', messagePath(f, message.id));
    return {
      response,
      async effect(allowed) {
        if (allowed) expect(response.json()).toMatchObject({ ...message, channel: f.channelId });
      },
    };
  },
};

/** Someone else's message: the owner's for the participant, the participant's for everyone else. */
const othersMessage = (f: Fixture, role: Role) =>
  role === 'participant' ? f.messages.owner : f.messages.participant;
const ownMessage = (f: Fixture, role: Role) => (isMember(role) ? f.messages[role] : f.messages.participant);

function editMessageEndpoint(whose: 'own' | "someone else's"): Endpoint {
  return {
    name: `PATCH channels/<id>/messages/<mid>/ (${whose})`,
    channelScoped: true,
    fresh: true,
    async attempt(f, role) {
      const message = whose === 'own' ? ownMessage(f, role) : othersMessage(f, role);
      const conteudo = `editada ${unique()}`;
      const response = await send(userFor(f, role), 'PATCH', messagePath(f, message.id), { conteudo });
      return {
        response,
        async effect(allowed) {
          if (allowed) expect(response.json()).toMatchObject({ id: message.id, conteudo });
          const seen = await send(f.owner, 'GET', messagePath(f, message.id));
          expect(seen.json<MessageBody>().conteudo).toBe(allowed ? conteudo : message.conteudo);
        },
      };
    },
  };
}

const deleteOthersMessage: Endpoint = {
  name: "DELETE channels/<id>/messages/<mid>/ (someone else's)",
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const message = othersMessage(f, role);
    const response = await send(userFor(f, role), 'DELETE', messagePath(f, message.id));
    return {
      response,
      async effect(allowed) {
        expect(await statusOf(f.owner, messagePath(f, message.id))).toBe(allowed ? 404 : 200);
        if (allowed) expect(await messageIds(f.owner, f)).not.toContain(message.id);
      },
    };
  },
};

const moderatorRemovesMessage: Endpoint = {
  name: 'POST moderacao/messages/<mid>/approve/ and remove/',
  channelScoped: false,
  fresh: true,
  async attempt(f, role) {
    const message = f.messages.participant;
    const response = await send(userFor(f, role), 'POST', `chat/moderacao/messages/${message.id}/remove/`);
    return {
      response,
      async effect(allowed) {
        if (allowed)
          expect(response.json()).toEqual({ id: message.id, channel: f.channelId, action: 'removed' });
        expect(await statusOf(f.owner, messagePath(f, message.id))).toBe(allowed ? 404 : 200);
      },
    };
  },
};

/** The owner flags the participant's message first, so the queue and the log have an entry for it. */
function moderationListEndpoint(list: 'flags' | 'logs' | 'logs csv'): Endpoint {
  return {
    name:
      list === 'flags'
        ? 'GET moderacao/flags/'
        : list === 'logs'
          ? 'GET moderacao/logs/'
          : 'GET moderacao/logs/?formato=csv',
    channelScoped: false,
    fresh: true,
    async attempt(f, role) {
      const message = f.messages.participant;
      const flagged = await send(f.owner, 'POST', `${messagePath(f, message.id)}flag/`, { motivo: 'matrix' });
      expect(flagged.statusCode, flagged.body).toBe(200);
      const path =
        list === 'flags'
          ? `chat/moderacao/flags/?canal=${f.channelId}`
          : `chat/moderacao/logs/?canal=${f.channelId}${list === 'logs csv' ? '&formato=csv' : ''}`;
      const response = await send(userFor(f, role), 'GET', path);
      return {
        response,
        async effect(allowed) {
          if (!allowed) return;
          if (list === 'flags') {
            expect(response.json()).toMatchObject({
              results: [{ mensagem: { id: message.id }, flags: 1, motivos: [{ motivo: 'matrix' }] }],
            });
          } else if (list === 'logs') {
            expect(response.json()).toMatchObject({
              results: [
                { acao: 'flag', mensagem_id: message.id, ator: { id: f.owner.id }, motivo: 'matrix' },
              ],
            });
          } else {
            expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
            expect(response.body).toContain(`,flag,${f.owner.id},`);
          }
        },
      };
    },
  };
}

/**
 * The participant's message, edited once by the owner; the attempt restores its first version (the
 * participant is its sender, which alone does not allow restoring).
 */
const restoreOthersVersion: Endpoint = {
  name: 'POST channels/<id>/messages/<mid>/history/<version_id>/restore/',
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const message = f.messages.participant;
    const edited = `editada ${unique()}`;
    // Where the owner cannot edit (a deleted channel, a removed owner), any id stands in: those
    // cases only check the status.
    let versionId = newId();
    if ((await send(f.owner, 'PATCH', messagePath(f, message.id), { conteudo: edited })).statusCode === 200) {
      const history = await send(f.owner, 'GET', `${messagePath(f, message.id)}history/`);
      const [version] = history.json<{ results: Array<{ id: string; conteudo: string }> }>().results;
      expect(version?.conteudo).toBe(message.conteudo);
      versionId = version!.id;
    }
    const response = await send(
      userFor(f, role),
      'POST',
      `${messagePath(f, message.id)}history/${versionId}/restore/`,
    );
    return {
      response,
      async effect(allowed) {
        if (allowed) expect(response.json()).toMatchObject({ id: message.id, conteudo: message.conteudo });
        const seen = await send(f.owner, 'GET', messagePath(f, message.id));
        expect(seen.json<MessageBody>().conteudo).toBe(allowed ? message.conteudo : edited);
      },
    };
  },
};

type MessageState = { pinned_at: string | null; reactions: Record<string, number> };

async function messageState(f: Fixture, messageId: string): Promise<MessageState> {
  const response = await send(f.owner, 'GET', messagePath(f, messageId));
  expect(response.statusCode, response.body).toBe(200);
  const { pinned_at, reactions } = response.json<MessageState>();
  return { pinned_at, reactions };
}

function pinEndpoint(action: 'pin' | 'unpin'): Endpoint {
  return {
    name: `POST channels/<id>/messages/<mid>/${action}/`,
    channelScoped: true,
    fresh: true,
    async attempt(f, role) {
      const message = f.messages.participant;
      // Unpinning needs a pinned message: the owner pins it first (where they can; else it stays as is).
      if (action === 'unpin') await send(f.owner, 'POST', `${messagePath(f, message.id)}pin/`);
      const response = await send(userFor(f, role), 'POST', `${messagePath(f, message.id)}${action}/`);
      return {
        response,
        async effect(allowed) {
          if (allowed) expect(response.json()).toMatchObject({ id: message.id });
          const pinned = (await messageState(f, message.id)).pinned_at !== null;
          expect(pinned).toBe(action === 'pin' ? allowed : !allowed);
        },
      };
    },
  };
}

const reactToMessage: Endpoint = {
  name: 'POST channels/<id>/messages/<mid>/react/',
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const message = f.messages.participant;
    const response = await send(userFor(f, role), 'POST', `${messagePath(f, message.id)}react/`, {
      emoji: '👍',
    });
    return {
      response,
      async effect(allowed) {
        if (allowed) {
          expect(response.json()).toMatchObject({
            id: message.id,
            reactions: { '👍': 1 },
            user_reactions: ['👍'],
          });
        }
        expect((await messageState(f, message.id)).reactions).toEqual(allowed ? { '👍': 1 } : {});
      },
    };
  },
};

const flagOthersMessage: Endpoint = {
  name: "POST channels/<id>/messages/<mid>/flag/ (someone else's)",
  channelScoped: true,
  fresh: true,
  async attempt(f, role) {
    const message = othersMessage(f, role);
    const response = await send(userFor(f, role), 'POST', `${messagePath(f, message.id)}flag/`, {
      motivo: 'matrix',
    });
    return {
      response,
      async effect(allowed) {
        if (allowed) expect(response.json()).toEqual({ flags: 1 });
        expect(await flagsOn(message.id)).toBe(allowed ? 1 : 0);
      },
    };
  },
};

async function flagsOn(messageId: string): Promise<number> {
  const rows = await t.deps.database.db
    .select()
    .from(chatMessageFlags)
    .where(eq(chatMessageFlags.messageId, messageId));
  return rows.length;
}

async function isActiveContextMember(userId: string, contextoId: string): Promise<boolean> {
  return createContextsRepository({ db: t.deps.database.db }).isActiveMember(userId, {
    contextoTipo: 'nucleo',
    contextoId,
  });
}

const putContextMember: Endpoint = {
  name: 'PUT contexts/<tipo>/<id>/members/<uid>/',
  channelScoped: false,
  fresh: false,
  async attempt(f, role) {
    const target = await t.createUser();
    const contextoId = `put-${unique()}`;
    const response = await send(
      userFor(f, role),
      'PUT',
      `chat/contexts/nucleo/${contextoId}/members/${target.id}/`,
      {
        status: 'ativo',
      },
    );
    return {
      response,
      async effect(allowed) {
        if (allowed) {
          expect(response.json()).toEqual({
            user: target.id,
            contexto_tipo: 'nucleo',
            contexto_id: contextoId,
            status: 'ativo',
          });
        }
        expect(await isActiveContextMember(target.id, contextoId)).toBe(allowed);
      },
    };
  },
};

const deleteContextMember: Endpoint = {
  name: 'DELETE contexts/<tipo>/<id>/members/<uid>/',
  channelScoped: false,
  fresh: false,
  async attempt(f, role) {
    const target = await t.createUser();
    const contextoId = `del-${unique()}`;
    await client.setContextMember(staff, 'nucleo', contextoId, target);
    const response = await send(
      userFor(f, role),
      'DELETE',
      `chat/contexts/nucleo/${contextoId}/members/${target.id}/`,
    );
    return {
      response,
      async effect(allowed) {
        expect(await isActiveContextMember(target.id, contextoId)).toBe(!allowed);
      },
    };
  },
};

const getMe: Endpoint = {
  name: 'GET /api/auth/me',
  channelScoped: false,
  fresh: false,
  async attempt(f, role) {
    const user = userFor(f, role);
    const response = await send(user, 'GET', 'auth/me');
    return {
      response,
      async effect(allowed) {
        if (!allowed || !user) return;
        expect(response.json()).toEqual({
          id: user.id,
          username: user.username,
          email: user.email,
          is_staff: user.isStaff,
          is_moderator: user.isModerator,
        });
      },
    };
  },
};

/** An upload belongs to no channel yet: any signed-in user may make one. */
const uploadAttachment: Endpoint = {
  name: 'POST upload/',
  channelScoped: false,
  fresh: false,
  async attempt(f, role) {
    const user = userFor(f, role);
    const form = multipartBody([
      {
        name: 'file',
        filename: 'matriz.txt',
        contentType: 'text/plain',
        data: Buffer.from(`matriz ${unique()}`),
      },
    ]);
    const response = await t.inject({
      method: 'POST',
      url: '/api/chat/upload/',
      payload: form.payload,
      headers: { ...form.headers, ...(user?.auth ?? {}) },
    });
    return {
      response,
      async effect(allowed) {
        if (allowed)
          expect(response.json()).toMatchObject({
            tipo: 'file',
            mime_type: 'text/plain',
            nome: 'matriz.txt',
          });
      },
    };
  },
};

/** PUT and DELETE moderadores/<uid>/ on a fresh user (staff only). */
function moderatorGrantEndpoint(method: 'PUT' | 'DELETE'): Endpoint {
  return {
    name: `${method} moderadores/<uid>/`,
    channelScoped: false,
    fresh: false,
    async attempt(f, role) {
      const target = await t.createUser({ moderator: method === 'DELETE' });
      const response = await send(userFor(f, role), method, `chat/moderadores/${target.id}/`);
      return {
        response,
        async effect(allowed) {
          const me = await send(target, 'GET', 'auth/me');
          expect(me.json()).toMatchObject({ is_moderator: (method === 'PUT') === allowed });
        },
      };
    },
  };
}

const listModerators: Endpoint = {
  name: 'GET moderadores/',
  channelScoped: false,
  fresh: false,
  async attempt(f, role) {
    const response = await send(userFor(f, role), 'GET', 'chat/moderadores/?limit=200');
    return {
      response,
      async effect(allowed) {
        if (!allowed) return;
        const ids = response.json<Page<{ user: { id: string } }>>().results.map((row) => row.user.id);
        expect(ids).toContain(moderator.id);
        expect(ids).not.toContain(staff.id);
      },
    };
  },
};

const editOthersMessage = editMessageEndpoint("someone else's");
const editOwnMessage = editMessageEndpoint('own');
const pinMessage = pinEndpoint('pin');
const unpinMessage = pinEndpoint('unpin');

// ---------------------------------------------------------------------------------------------
// The table of docs/permissions.md. null stands for the doc's "—" (no such case).

type Status = number | null;
// The moderator column may be left out: a granted moderator is then expected to fare as staff.
type Row = {
  endpoint: Endpoint;
  expected: readonly [Status, Status, Status, Status, Status, Status, Status?];
};

// prettier-ignore
const MATRIX: Row[] = [
  //                                                    anonymous outsider participant admin owner staff (moderator)
  { endpoint: createChannelEndpoint('privado'),     expected: [401, 201, 201, 201, 201, 201] },
  { endpoint: createChannelEndpoint('nucleo'),      expected: [401, 403, 403, 403, 403, 201] },
  { endpoint: createChannelEndpoint('evento'),      expected: [401, 403, 403, 403, 403, 201] },
  { endpoint: createChannelEndpoint('organizacao'), expected: [401, 403, 403, 403, 403, 201] },
  { endpoint: listChannels,                         expected: [401, 200, 200, 200, 200, 200] },
  { endpoint: getChannel,                           expected: [401, 404, 200, 200, 200, 200] },
  { endpoint: updateChannel,                        expected: [401, 404, 403, 200, 200, 200] },
  { endpoint: deleteChannel,                        expected: [401, 404, 403, 403, 403, 204] },
  { endpoint: addParticipant,                       expected: [401, 404, 403, 200, 200, 200] },
  { endpoint: removeParticipant,                    expected: [401, 404, 403, 200, 200, 200] },
  { endpoint: leaveChannel,                         expected: [401, 404, 204, 204, 204, 400] },
  { endpoint: listParticipants,                     expected: [401, 404, 200, 200, 200, 200] },
  { endpoint: setParticipantRole,                   expected: [401, 404, 403, 403, 200, 200] },
  { endpoint: sendMessage,                          expected: [401, 404, 201, 201, 201, 403] },
  { endpoint: listMessages,                         expected: [401, 404, 200, 200, 200, 200] },
  { endpoint: getMessage,                           expected: [401, 404, 200, 200, 200, 200] },
  { endpoint: editOthersMessage,                    expected: [401, 404, 403, 200, 200, 200] },
  { endpoint: editOwnMessage,                       expected: [401, null, 200, 200, 200, null] },
  { endpoint: deleteOthersMessage,                  expected: [401, 404, 403, 204, 204, 204] },
  { endpoint: pinMessage,                           expected: [401, 404, 403, 200, 200, 200] },
  { endpoint: unpinMessage,                         expected: [401, 404, 403, 200, 200, 200] },
  { endpoint: reactToMessage,                       expected: [401, 404, 200, 200, 200, 403] },
  { endpoint: flagOthersMessage,                    expected: [401, 404, 200, 200, 200, 200] },
  { endpoint: restoreOthersVersion,                 expected: [401, 404, 403, 200, 200, 200] },
  { endpoint: moderatorRemovesMessage,              expected: [401, 403, 403, 403, 403, 200] },
  { endpoint: moderationListEndpoint('flags'),      expected: [401, 403, 403, 403, 403, 200] },
  { endpoint: moderationListEndpoint('logs'),       expected: [401, 403, 403, 403, 403, 200] },
  { endpoint: moderationListEndpoint('logs csv'),   expected: [401, 403, 403, 403, 403, 200] },
  { endpoint: putContextMember,                     expected: [401, 403, 403, 403, 403, 200, 403] },
  { endpoint: deleteContextMember,                  expected: [401, 403, 403, 403, 403, 204, 403] },
  { endpoint: getMe,                                expected: [401, 200, 200, 200, 200, 200] },
  { endpoint: moderatorGrantEndpoint('PUT'),        expected: [401, 403, 403, 403, 403, 201, 403] },
  { endpoint: moderatorGrantEndpoint('DELETE'),     expected: [401, 403, 403, 403, 403, 204, 403] },
  { endpoint: listModerators,                       expected: [401, 403, 403, 403, 403, 200, 200] },
  { endpoint: uploadAttachment,                     expected: [401, 201, 201, 201, 201, 201] },
];

type Case = { label: string; endpoint: Endpoint; role: Role; status: number };

const MATRIX_CASES: Case[] = MATRIX.flatMap(({ endpoint, expected }) =>
  ROLES.flatMap((role, index) => {
    const status =
      (role === 'moderator' && expected.length < ROLES.length ? expected[5] : expected[index]) ?? null;
    return status === null
      ? []
      : [{ label: `${endpoint.name} as ${role} → ${status}`, endpoint, role, status }];
  }),
);

const CHANNEL_ENDPOINTS = MATRIX.map((row) => row.endpoint).filter((endpoint) => endpoint.channelScoped);

function participantStatus(endpoint: Endpoint): number {
  const status = MATRIX.find((row) => row.endpoint === endpoint)?.expected[2];
  if (status === undefined || status === null) throw new Error(`no participant status for ${endpoint.name}`);
  return status;
}

/**
 * Test names taken whole from each case's label (vitest quotes `$label` and cuts it at 40 characters,
 * which would hide which case failed).
 */
function named<T extends { label: string }>(cases: readonly T[]): Array<[string, T]> {
  return cases.map((item) => [item.label, item]);
}

/** Makes the attempt and checks status, error body and (unless turned off) the effect. */
async function check(
  endpoint: Endpoint,
  f: Fixture,
  role: Role,
  status: number,
  options: { code?: string; effect?: boolean } = {},
) {
  const { response, effect } = await endpoint.attempt(f, role);
  expect(response.statusCode, `${endpoint.name} as ${role}: ${response.body}`).toBe(status);
  if (status >= 400) expectErrorBody(response, options.code);
  if (options.effect !== false) await effect?.(status < 400);
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipDatabaseTests)('authorization matrix (docs/permissions.md)', () => {
  /** Read-only cases share this channel; state-changing ones get a fixture of their own. */
  let shared: Fixture;

  beforeAll(async () => {
    t = await createTestApp();
    client = chatClient(t);
    staff = await t.createUser({ staff: true });
    moderator = await t.createUser({ moderator: true });
    outsider = await t.createUser();
    shared = await createFixture();
  });
  afterAll(async () => t?.close());

  describe('endpoint × role', () => {
    it.each(named(MATRIX_CASES))('%s', async (_label, { endpoint, role, status }) => {
      const f = endpoint.fresh ? await createFixture() : shared;
      await check(endpoint, f, role, status);
    });
  });

  describe('remove_participant between admins (footnote 1)', () => {
    const cases = [
      { actor: 'admin', target: 'the owner', status: 403, code: 'participants.cannot_remove_owner' },
      { actor: 'admin', target: 'another admin', status: 403, code: 'participants.cannot_remove_admin' },
      { actor: 'owner', target: 'an admin', status: 200 },
      { actor: 'staff', target: 'an admin', status: 200 },
    ] as const;
    const labelled = cases.map((rule) => ({
      ...rule,
      label: `${rule.actor} removes ${rule.target} → ${rule.status}${'code' in rule ? ` ${rule.code}` : ''}`,
    }));

    it.each(named(labelled))('%s', async (_label, rule) => {
      const f = await createFixture();
      const secondAdmin = await t.createUser();
      await client.addParticipants(f.owner, f.channelId, [secondAdmin]);
      await client.setRole(f.owner, f.channelId, secondAdmin, true);
      const actor = rule.actor === 'staff' ? staff : f[rule.actor];
      const target =
        rule.target === 'the owner' ? f.owner : rule.target === 'an admin' ? f.admin : secondAdmin;

      const response = await send(actor, 'POST', channelPath(f, 'remove_participant/'), {
        usuarios: [target.id],
      });
      expect(response.statusCode, response.body).toBe(rule.status);
      if (rule.status >= 400) {
        expectErrorBody(response, 'code' in rule ? rule.code : undefined);
        expect(await statusOf(target, channelPath(f))).toBe(200);
      } else {
        expect(response.json()).toEqual({ removidos: [target.id] });
        expect(await statusOf(target, channelPath(f))).toBe(404);
      }
    });
  });

  describe('leave by the last admin or owner (footnote 2)', () => {
    it('the owner, sole admin of the channel, cannot leave → 400 participants.last_admin', async () => {
      const owner = await t.createUser();
      const member = await t.createUser();
      const channel = await client.createChannel(owner);
      await client.addParticipants(owner, channel.id, [member]);

      const response = await send(owner, 'POST', `chat/channels/${channel.id}/leave/`);
      expect(response.statusCode, response.body).toBe(400);
      expectErrorBody(response, 'participants.last_admin');
      expect(await statusOf(owner, `chat/channels/${channel.id}/`)).toBe(200);
    });

    it('the admin left alone after the owner leaves cannot leave → 400 participants.last_admin', async () => {
      const f = await createFixture();
      expect((await send(f.owner, 'POST', channelPath(f, 'leave/'))).statusCode).toBe(204);

      const response = await send(f.admin, 'POST', channelPath(f, 'leave/'));
      expect(response.statusCode, response.body).toBe(400);
      expectErrorBody(response, 'participants.last_admin');
      expect(await statusOf(f.admin, channelPath(f))).toBe(200);
    });
  });

  describe('a message id of another channel', () => {
    // Channel B is owned by A's participant, who also wrote B's message: not even its sender may reach
    // it through channel A's URL.
    type Pair = { a: Fixture; bId: string; message: SentMessage };
    let sharedPair: Pair;

    async function createPair(a: Fixture): Promise<Pair> {
      const b = await client.createChannel(a.participant, { titulo: 'Canal B' });
      return { a, bId: b.id, message: await sendTracked(a.participant, b.id) };
    }

    let sharedB: Fixture;

    beforeAll(async () => {
      sharedPair = await createPair(shared);
      sharedB = await createFixture();
    });

    const methods: Method[] = ['GET', 'PATCH', 'DELETE'];
    const roles: Role[] = ['outsider', 'participant', 'admin', 'owner', 'staff'];
    const cases = methods.flatMap((method) =>
      roles.map((role) => ({
        label: `${method} channels/<A>/messages/<message of B>/ as ${role === 'staff' ? 'staff' : `${role} of A`} → 404`,
        method,
        role,
      })),
    );

    it.each(named(cases))('%s', async (_label, { method, role }) => {
      const pair = method === 'GET' ? sharedPair : await createPair(await createFixture());
      const { a, bId, message } = pair;
      const response = await send(
        userFor(a, role),
        method,
        messagePath(a, message.id),
        method === 'PATCH' ? { conteudo: 'sequestrada' } : undefined,
      );
      expect(response.statusCode, response.body).toBe(404);
      // For an outsider channel A itself does not exist, so which 404 they get is not the point.
      expectErrorBody(response, role === 'outsider' ? undefined : 'messages.not_found');

      const inB = await send(a.participant, 'GET', `chat/channels/${bId}/messages/${message.id}/`);
      expect(inB.statusCode, inB.body).toBe(200);
      expect(inB.json<MessageBody>().conteudo).toBe(message.conteudo);
    });

    // B has its own cast here; the one who knocks is a participant of the shared channel A.
    const intruderCases = CHANNEL_ENDPOINTS.filter((endpoint) => endpoint !== editOwnMessage).map(
      (endpoint) => ({
        label: `${endpoint.name} with channel B's id, as a participant of channel A → 404`,
        endpoint,
      }),
    );
    it.each(named(intruderCases))('%s', async (_label, { endpoint }) => {
      const b = endpoint.fresh ? await createFixture() : sharedB;
      await check(endpoint, { ...b, outsider: shared.participant }, 'outsider', 404);
    });
  });

  describe('checks run in one order: the channel (404), the message in it (404), then the role (403)', () => {
    // Before, pin and unpin checked the role first: a participant got 403 channels.not_admin for
    // another channel's message id (or none), while edit, delete and react answered 404.
    type Action = { name: string; method: Method; path: string; payload?: Record<string, unknown> };
    const actions: Action[] = [
      { name: 'POST …/<mid>/pin/', method: 'POST', path: 'pin/' },
      { name: 'POST …/<mid>/unpin/', method: 'POST', path: 'unpin/' },
      { name: 'POST …/<mid>/react/', method: 'POST', path: 'react/', payload: { emoji: '👍' } },
      { name: 'POST …/<mid>/flag/', method: 'POST', path: 'flag/', payload: {} },
      { name: 'PATCH …/<mid>/', method: 'PATCH', path: '', payload: { conteudo: 'sequestrada' } },
      { name: 'DELETE …/<mid>/', method: 'DELETE', path: '' },
      { name: 'GET …/<mid>/history/', method: 'GET', path: 'history/' },
      { name: 'GET …/<mid>/history/?formato=csv', method: 'GET', path: 'history/?formato=csv' },
      {
        name: 'POST …/<mid>/history/<version_id>/restore/',
        method: 'POST',
        path: `history/${newId()}/restore/`,
      },
    ];
    const ids = ["channel B's message", 'an absent message id'] as const;
    const roles = ['participant', 'admin', 'owner', 'staff', 'moderator'] as const;
    const cases = actions.flatMap((action) =>
      ids.flatMap((id) =>
        roles.map((role) => ({
          label: `${action.name} on channel A with ${id}, as ${role === 'staff' || role === 'moderator' ? role : `${role} of A`} → 404 messages.not_found`,
          action,
          id,
          role,
        })),
      ),
    );
    let b: Fixture;

    beforeAll(async () => {
      b = await createFixture();
    });

    it.each(named(cases))('%s', async (_label, { action, id, role }) => {
      const target = id === 'an absent message id' ? newId() : b.messages.participant.id;
      const response = await send(
        userFor(shared, role),
        action.method,
        `${messagePath(shared, target)}${action.path}`,
        action.payload,
      );
      expect(response.statusCode, response.body).toBe(404);
      expectErrorBody(response, 'messages.not_found');
      expect(await messageState(b, b.messages.participant.id)).toEqual({ pinned_at: null, reactions: {} });
      expect(await flagsOn(b.messages.participant.id)).toBe(0);
      expect(await messageIds(b.owner, b)).toContain(b.messages.participant.id);
      const seen = await send(b.owner, 'GET', messagePath(b, b.messages.participant.id));
      expect(seen.json<MessageBody>().conteudo).toBe(b.messages.participant.conteudo);
    });

    it("with the channel's own message the role decides: participant pin → 403, staff react → 403", async () => {
      const mine = shared.messages.owner.id;
      for (const action of ['pin', 'unpin'] as const) {
        const response = await send(shared.participant, 'POST', `${messagePath(shared, mine)}${action}/`);
        expect(response.statusCode, response.body).toBe(403);
        expectErrorBody(response, 'channels.not_admin');
      }
      const react = await send(staff, 'POST', `${messagePath(shared, mine)}react/`, { emoji: '👍' });
      expect(react.statusCode, react.body).toBe(403);
      expectErrorBody(react, 'channels.not_member');
      expect(await messageState(shared, mine)).toEqual({ pinned_at: null, reactions: {} });
    });

    it('the same over WebSocket: pin, unpin and reaction frames answer the same codes', async () => {
      const base = await listen(t);
      const sockets: WsClient[] = [];
      const open = async (user: TestUser) => {
        const socket = await connect(`${base}/ws/chat/${shared.channelId}/?token=${user.token}`);
        sockets.push(socket);
        return socket;
      };
      const errorFor = (socket: WsClient, clientId: string) =>
        socket.waitFor((frame) => frame.type === 'error' && frame.client_id === clientId);
      try {
        const participant = await open(shared.participant);
        const moderator = await open(staff);
        const foreign = b.messages.participant.id;
        const mine = shared.messages.owner.id;
        const frames = [
          { socket: participant, frame: { tipo: 'pin', mensagem_id: foreign }, code: 'messages.not_found' },
          { socket: participant, frame: { tipo: 'unpin', mensagem_id: newId() }, code: 'messages.not_found' },
          {
            socket: participant,
            frame: { tipo: 'reaction', mensagem_id: foreign, emoji: '👍' },
            code: 'messages.not_found',
          },
          { socket: participant, frame: { tipo: 'pin', mensagem_id: mine }, code: 'channels.not_admin' },
          { socket: participant, frame: { tipo: 'flag', mensagem_id: foreign }, code: 'messages.not_found' },
          { socket: moderator, frame: { tipo: 'flag', mensagem_id: newId() }, code: 'messages.not_found' },
          {
            socket: moderator,
            frame: { tipo: 'reaction', mensagem_id: foreign, emoji: '👍' },
            code: 'messages.not_found',
          },
          {
            socket: moderator,
            frame: { tipo: 'reaction', mensagem_id: mine, emoji: '👍' },
            code: 'channels.not_member',
          },
        ];
        for (const [index, { socket, frame, code }] of frames.entries()) {
          const clientId = `order-${index}`;
          socket.send({ ...frame, client_id: clientId });
          expect(await errorFor(socket, clientId)).toMatchObject({
            type: 'error',
            code,
            client_id: clientId,
          });
        }
        expect(await messageState(b, foreign)).toEqual({ pinned_at: null, reactions: {} });
        expect(await messageState(shared, mine)).toEqual({ pinned_at: null, reactions: {} });
        expect(await flagsOn(foreign)).toBe(0);
      } finally {
        for (const socket of sockets) socket.close();
      }
    });
  });

  describe('ids that are not UUIDs → 404', () => {
    type Slot = 'channel' | 'message' | 'user';
    type IdRoute = {
      name: string;
      method: Method;
      slots: Slot[];
      path(ids: Record<Slot, string>): string;
      payload?: (f: Fixture) => Record<string, unknown>;
      roles: Array<'owner' | 'staff'>;
    };
    const both: Array<'owner' | 'staff'> = ['owner', 'staff'];
    const routes: IdRoute[] = [
      {
        name: 'channels/<id>/',
        method: 'GET',
        slots: ['channel'],
        path: (i) => `chat/channels/${i.channel}/`,
        roles: both,
      },
      {
        name: 'channels/<id>/',
        method: 'PATCH',
        slots: ['channel'],
        path: (i) => `chat/channels/${i.channel}/`,
        payload: () => ({ titulo: 'x' }),
        roles: both,
      },
      {
        name: 'channels/<id>/',
        method: 'DELETE',
        slots: ['channel'],
        path: (i) => `chat/channels/${i.channel}/`,
        roles: both,
      },
      {
        name: 'channels/<id>/add_participant/',
        method: 'POST',
        slots: ['channel'],
        path: (i) => `chat/channels/${i.channel}/add_participant/`,
        payload: (f) => ({ usuarios: [f.other.id] }),
        roles: both,
      },
      {
        name: 'channels/<id>/remove_participant/',
        method: 'POST',
        slots: ['channel'],
        path: (i) => `chat/channels/${i.channel}/remove_participant/`,
        payload: (f) => ({ usuarios: [f.other.id] }),
        roles: both,
      },
      {
        name: 'channels/<id>/leave/',
        method: 'POST',
        slots: ['channel'],
        path: (i) => `chat/channels/${i.channel}/leave/`,
        roles: both,
      },
      {
        name: 'channels/<id>/participants/',
        method: 'GET',
        slots: ['channel'],
        path: (i) => `chat/channels/${i.channel}/participants/`,
        roles: both,
      },
      {
        name: 'channels/<id>/participants/<uid>/role/',
        method: 'POST',
        slots: ['channel', 'user'],
        path: (i) => `chat/channels/${i.channel}/participants/${i.user}/role/`,
        payload: () => ({ is_admin: true }),
        roles: both,
      },
      {
        name: 'channels/<id>/messages/',
        method: 'POST',
        slots: ['channel'],
        path: (i) => `chat/channels/${i.channel}/messages/`,
        payload: () => ({ tipo: 'text', conteudo: 'x' }),
        roles: both,
      },
      {
        name: 'channels/<id>/messages/',
        method: 'GET',
        slots: ['channel'],
        path: (i) => `chat/channels/${i.channel}/messages/`,
        roles: both,
      },
      ...(['GET', 'PATCH', 'DELETE'] as const).map((method): IdRoute => ({
        name: 'channels/<id>/messages/<mid>/',
        method,
        slots: ['channel', 'message'],
        path: (i) => `chat/channels/${i.channel}/messages/${i.message}/`,
        ...(method === 'PATCH' ? { payload: () => ({ conteudo: 'x' }) } : {}),
        roles: both,
      })),
      ...(['PUT', 'DELETE'] as const).map((method): IdRoute => ({
        name: 'contexts/nucleo/<id>/members/<uid>/',
        method,
        slots: ['user'],
        path: (i) => `chat/contexts/nucleo/n1/members/${i.user}/`,
        ...(method === 'PUT' ? { payload: () => ({ status: 'ativo' }) } : {}),
        roles: ['staff'],
      })),
    ];
    const badIds = ['not-a-uuid', '42', `${newId()}0`, "1' or '1'='1"];
    const cases = routes.flatMap((route) =>
      route.slots.flatMap((slot) =>
        badIds.flatMap((bad) =>
          route.roles.map((role) => ({
            label: `${route.method} ${route.name} with ${slot} id ${JSON.stringify(bad)} as ${role} → 404`,
            route,
            slot,
            bad,
            role,
          })),
        ),
      ),
    );

    it.each(named(cases))('%s', async (_label, { route, slot, bad, role }) => {
      const ids: Record<Slot, string> = {
        channel: shared.channelId,
        message: shared.messages.participant.id,
        user: shared.other.id,
        [slot]: encodeURIComponent(bad),
      };
      const response = await send(
        userFor(shared, role),
        route.method,
        route.path(ids),
        route.payload?.(shared),
      );
      expect(response.statusCode, response.body).toBe(404);
      expectErrorBody(response);
    });
  });

  describe('a soft-deleted channel → 404 for everyone', () => {
    let deleted: Fixture;

    beforeAll(async () => {
      deleted = await createFixture();
      const response = await send(staff, 'DELETE', channelPath(deleted));
      expect(response.statusCode, response.body).toBe(204);
    });

    const roles: Role[] = ['outsider', 'participant', 'admin', 'owner', 'staff'];
    const cases = CHANNEL_ENDPOINTS.flatMap((endpoint) =>
      roles.map((role) => ({ label: `${endpoint.name} as ${role} → 404`, endpoint, role })),
    );

    it.each(named(cases))('%s', async (_label, { endpoint, role }) => {
      await check(endpoint, deleted, role, 404, { effect: false });
    });

    it.each(['participant', 'admin', 'owner', 'staff'] as const)(
      'GET channels/ as %s no longer lists it',
      async (role) => {
        expect(await listedChannelIds(userFor(deleted, role)!, deleted.categoria)).toEqual([]);
      },
    );
  });

  describe('a removed participant → 404 afterwards', () => {
    let removed: Fixture;

    beforeAll(async () => {
      removed = await createFixture();
      const response = await send(removed.admin, 'POST', channelPath(removed, 'remove_participant/'), {
        usuarios: [removed.participant.id],
      });
      expect(response.statusCode, response.body).toBe(200);
    });

    const removedCases = CHANNEL_ENDPOINTS.map((endpoint) => ({
      label: `${endpoint.name} as the removed participant → 404`,
      endpoint,
    }));
    it.each(named(removedCases))('%s', async (_label, { endpoint }) => {
      await check(endpoint, removed, 'participant', 404, { effect: false });
    });

    it('GET channels/ no longer lists the channel for them', async () => {
      expect(await listedChannelIds(removed.participant, removed.categoria)).toEqual([]);
    });

    it('a removed admin loses the admin rights with the access: PATCH channels/<id>/ → 404', async () => {
      const f = await createFixture();
      const response = await send(f.owner, 'POST', channelPath(f, 'remove_participant/'), {
        usuarios: [f.admin.id],
      });
      expect(response.statusCode, response.body).toBe(200);
      const patch = await send(f.admin, 'PATCH', channelPath(f), { titulo: 'Tentativa' });
      expect(patch.statusCode, patch.body).toBe(404);
      expectErrorBody(patch);
      expect((await send(f.owner, 'GET', channelPath(f))).json<ChannelBody>().titulo).toBe(f.titulo);
    });

    it('being added again restores access as a plain participant', async () => {
      const f = await createFixture();
      await send(f.admin, 'POST', channelPath(f, 'remove_participant/'), { usuarios: [f.participant.id] });
      expect(await statusOf(f.participant, channelPath(f))).toBe(404);
      await client.addParticipants(f.admin, f.channelId, [f.participant]);
      expect(await statusOf(f.participant, channelPath(f))).toBe(200);
      expect((await participantsOf(f)).find((row) => row.user.id === f.participant.id)).toMatchObject({
        is_owner: false,
        is_admin: false,
      });
    });
  });

  describe('a context channel (núcleo): a context member who is not a participant acts as a participant', () => {
    let contextBase: Fixture;

    beforeAll(async () => {
      contextBase = await createContextFixture();
    });

    const contextEndpoints = CHANNEL_ENDPOINTS.filter(
      // leave and "own message" presuppose a participant row, which the context member does not have yet.
      (endpoint) => endpoint !== leaveChannel && endpoint !== editOwnMessage,
    );
    const cases = contextEndpoints.map((endpoint) => {
      const status = participantStatus(endpoint);
      return { label: `${endpoint.name} as a context member → ${status}`, endpoint, status };
    });

    it.each(named(cases))('%s', async (_label, { endpoint, status }) => {
      const f = endpoint.fresh ? await createContextFixture() : await withFreshContextMember(contextBase);
      await check(endpoint, f, 'participant', status);
    });

    it('GET channels/ lists the channel for the context member', async () => {
      const f = await withFreshContextMember(contextBase);
      expect(await listedChannelIds(f.participant, f.categoria)).toEqual([f.channelId]);
    });

    const firstUses = [
      {
        label: 'GET channels/<id>/ makes them a plain participant',
        run: (f: Fixture) => send(f.participant, 'GET', channelPath(f)),
      },
      {
        label: 'GET channels/<id>/messages/ makes them a plain participant',
        run: (f: Fixture) => send(f.participant, 'GET', channelPath(f, 'messages/')),
      },
      {
        label: 'POST channels/<id>/messages/ makes them a plain participant',
        run: (f: Fixture) =>
          send(f.participant, 'POST', channelPath(f, 'messages/'), { tipo: 'text', conteudo: 'oi' }),
      },
    ];
    it.each(named(firstUses))('%s', async (_label, { run }) => {
      const f = await withFreshContextMember(contextBase);
      const isListed = async () =>
        (await participantsOf(f)).find((row) => row.user.id === f.participant.id) ?? null;
      expect(await isListed()).toBeNull();
      const response = await run(f);
      expect(response.statusCode, response.body).toBeLessThan(300);
      expect(await isListed()).toMatchObject({ is_owner: false, is_admin: false });
    });

    it('a participant who leaves the context loses access at once; a staff participant keeps it', async () => {
      const f = await withFreshContextMember(contextBase);
      expect(await statusOf(f.participant, channelPath(f))).toBe(200);
      expect((await participantsOf(f)).map((row) => row.user.id)).toContain(f.participant.id);
      await client.setContextMember(staff, 'nucleo', f.contextoId!, f.participant, 'inativo');
      for (const endpoint of [getChannel, listMessages, sendMessage, listParticipants]) {
        await check(endpoint, f, 'participant', 404);
      }
      expect(await listedChannelIds(f.participant, f.categoria)).toEqual([]);
      // Staff created the channel (owner) without being a member of the núcleo.
      expect(await isActiveContextMember(staff.id, f.contextoId!)).toBe(false);
      expect(await statusOf(staff, channelPath(f))).toBe(200);
      await client.sendMessage(staff, f.channelId, { conteudo: 'staff segue aqui' });
    });

    it('an inactive context member is an outsider → 404', async () => {
      const f = await withFreshContextMember(contextBase);
      await client.setContextMember(staff, 'nucleo', f.contextoId!, f.participant, 'inativo');
      for (const endpoint of [getChannel, listMessages, sendMessage]) {
        await check(endpoint, f, 'participant', 404);
      }
      expect(await listedChannelIds(f.participant, f.categoria)).toEqual([]);
    });

    it('a context member removed by an admin does not re-join → 404 while still in the context', async () => {
      const f = await withFreshContextMember(contextBase);
      expect(await statusOf(f.participant, channelPath(f))).toBe(200);
      const response = await send(f.admin, 'POST', channelPath(f, 'remove_participant/'), {
        usuarios: [f.participant.id],
      });
      expect(response.statusCode, response.body).toBe(200);
      expect(await isActiveContextMember(f.participant.id, f.contextoId!)).toBe(true);
      for (const endpoint of [getChannel, listMessages, sendMessage, listParticipants]) {
        await check(endpoint, f, 'participant', 404);
      }
      expect(await listedChannelIds(f.participant, f.categoria)).toEqual([]);
    });
  });

  describe('hidden (moderated) messages → 404 to non-staff', () => {
    let hidden: Fixture;

    beforeAll(async () => {
      hidden = await createFixture();
      const messages = createMessagesRepository({ db: t.deps.database.db });
      await messages.update(hidden.messages.participant.id, { hiddenAt: new Date() });
    });

    const cases = [
      { role: 'participant', status: 404 },
      { role: 'admin', status: 404 },
      { role: 'owner', status: 404 },
      { role: 'staff', status: 200 },
    ] as const;
    const getCases = cases.map((c) => ({
      ...c,
      label: `GET channels/<id>/messages/<hidden mid>/ as ${c.role} (the sender is participant) → ${c.status}`,
    }));
    const listCases = cases.map((c) => ({
      ...c,
      label: `GET channels/<id>/messages/ as ${c.role} ${c.status === 200 ? 'includes' : 'omits'} the hidden message`,
    }));

    it.each(named(getCases))('%s', async (_label, { role, status }) => {
      const response = await send(
        userFor(hidden, role),
        'GET',
        messagePath(hidden, hidden.messages.participant.id),
      );
      expect(response.statusCode, response.body).toBe(status);
      if (status === 404) expectErrorBody(response, 'messages.not_found');
      else expect(response.json<MessageBody>().hidden_at).not.toBeNull();
    });

    it.each(named(listCases))('%s', async (_label, { role, status }) => {
      const ids = await messageIds(userFor(hidden, role)!, hidden);
      expect(ids).toContain(hidden.messages.owner.id);
      if (status === 200) expect(ids).toContain(hidden.messages.participant.id);
      else expect(ids).not.toContain(hidden.messages.participant.id);
    });
  });

  describe('a deleted message → 404 to non-staff', () => {
    let withDeleted: Fixture;

    beforeAll(async () => {
      withDeleted = await createFixture();
      const response = await send(
        withDeleted.owner,
        'DELETE',
        messagePath(withDeleted, withDeleted.messages.participant.id),
      );
      expect(response.statusCode, response.body).toBe(204);
    });

    const cases = (['GET', 'PATCH', 'DELETE'] as const).flatMap((method) =>
      (['participant', 'admin', 'owner'] as const).map((role) => ({
        label: `${method} channels/<id>/messages/<deleted mid>/ as ${role} (the sender is participant) → 404`,
        method,
        role,
      })),
    );
    it.each(named(cases))('%s', async (_label, { method, role }) => {
      const response = await send(
        userFor(withDeleted, role),
        method,
        messagePath(withDeleted, withDeleted.messages.participant.id),
        method === 'PATCH' ? { conteudo: 'ressuscitada' } : undefined,
      );
      expect(response.statusCode, response.body).toBe(404);
      expectErrorBody(response, 'messages.not_found');
      expect(await messageIds(withDeleted.owner, withDeleted)).not.toContain(
        withDeleted.messages.participant.id,
      );
    });
  });

  describe('an outsider cannot tell a hidden channel from a missing one', () => {
    const probes = [getChannel, listParticipants, listMessages, sendMessage, getMessage];
    const probeCases = probes.map((endpoint) => ({
      label: `${endpoint.name}: same 404 body as for an unknown channel id`,
      endpoint,
    }));
    it.each(named(probeCases))('%s', async (_label, { endpoint }) => {
      const real = await endpoint.attempt(shared, 'outsider');
      const missing = await endpoint.attempt({ ...shared, channelId: newId() }, 'owner');
      expect(real.response.statusCode).toBe(404);
      expect(missing.response.statusCode).toBe(404);
      expect(real.response.json()).toEqual(missing.response.json());
    });
  });

  describe('bad credentials are anonymous → 401', () => {
    const credentials = [
      { what: 'a malformed Authorization header', authorization: 'Token abc' },
      { what: 'a forged bearer token', authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl' },
    ];
    const paths = ['auth/me', 'chat/channels/'];
    const cases = credentials.flatMap(({ what, authorization }) =>
      paths.map((path) => ({ label: `GET /api/${path} with ${what} → 401`, authorization, path })),
    );
    it.each(named(cases))('%s', async (_label, { authorization, path }) => {
      const response = await t.inject({ method: 'GET', url: `/api/${path}`, headers: { authorization } });
      expect(response.statusCode, response.body).toBe(401);
      expectErrorBody(response);
    });
  });
});
