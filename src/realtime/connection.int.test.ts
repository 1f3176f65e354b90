import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { eq } from 'drizzle-orm';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import {
  ALLOWED_ORIGIN,
  createTestApp,
  TEST_JWT_SECRET,
  TEST_PASSWORD,
  type TestApp,
  type TestUser,
} from '../../test/support/app.js';
import { chatClient } from '../../test/support/chat.js';
import { sessions } from '../modules/auth/auth.table.js';
import { skipDatabaseTests } from '../../test/support/database.js';
import {
  busEnv,
  connect,
  type ConnectOptions,
  listen,
  buses,
  upgradeStatus,
  WsClient,
} from '../../test/support/ws.js';

// Connection hygiene of `/ws/chat/<channel_id>/`: who may upgrade, what happens to bad frames,
// the limits (payload, rate, connections, heartbeat, send buffer) and live access (removal, leave,
// context membership, logout, deletion, shutdown) — on the in-process bus and on Redis pub/sub.

/** How fast a revoked socket must stop receiving the channel's events. */
const REVOCATION_DEADLINE_MS = 2_000;

/** Opens a socket with any `ws` client option (e.g. `autoPong: false`); rejects with the refusal status. */
function openSocket(
  url: string,
  options: WebSocket.ClientOptions & { protocols?: string[]; onCreated?: (socket: WebSocket) => void } = {},
): Promise<WsClient> {
  const { protocols = [], onCreated, ...clientOptions } = options;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, clientOptions);
    // Listeners that must not miss a frame sent right after the upgrade go on before 'open'.
    onCreated?.(socket);
    const client = new WsClient(socket);
    socket.once('open', () => resolve(client));
    socket.once('unexpected-response', (_request, response) => {
      reject(
        Object.assign(new Error(`upgrade refused: ${response.statusCode}`), { status: response.statusCode }),
      );
      socket.terminate();
    });
    socket.once('error', (error) => reject(error));
  });
}

/** The HTTP answer to an upgrade that must be refused: its status and JSON body. */
function refusedUpgrade(url: string): Promise<{ status: number | undefined; body: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => {
      reject(new Error('the upgrade was accepted'));
      socket.terminate();
    });
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          resolve({ status: response.statusCode, body: JSON.parse(Buffer.concat(chunks).toString()) });
        } catch (error) {
          reject(error as Error);
        }
        socket.terminate();
      });
    });
    socket.once('error', (error) => reject(error));
  });
}

/** The TCP socket under a client WebSocket (to pause reading or to write raw bytes). */
const rawSocketOf = (client: WsClient) => (client.socket as unknown as { _socket: Socket })._socket;

let pingCounter = 0;
/** Proves the socket is open and served: a ping gets its pong. */
async function expectResponsive(client: WsClient) {
  const clientId = `ping-${++pingCounter}`;
  client.send({ tipo: 'ping', client_id: clientId });
  const pong = await client.waitFor((frame) => frame.type === 'pong' && frame.client_id === clientId, 2_000);
  expect(pong).toEqual({ type: 'pong', client_id: clientId });
  expect(client.closeCode).toBeUndefined();
}

/**
 * Opens a socket known to be live. The protocol has clients connect with `?since=`; resuming one
 * event back, that event's arrival proves the socket has joined the channel's stream.
 */
async function connectLive(t: TestApp, url: string, channelId: string, options: ConnectOptions = {}) {
  const lastSeq = (await t.deps.eventLog.lastSeq(channelId)) ?? 0;
  expect(lastSeq).toBeGreaterThan(0);
  const client = await connect(`${url}${url.includes('?') ? '&' : '?'}since=${lastSeq - 1}`, options);
  await client.waitFor((frame) => frame.seq === lastSeq);
  return client;
}

async function closeAndWait(client: WsClient) {
  if (client.closeCode === undefined) client.close();
  await client.waitForClose(2_000);
}

/** Retries an attempt until it resolves (the server sees a close a moment after the client). */
async function eventually<T>(attempt: () => Promise<T>, what: string, timeoutMs = 2_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 2_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const chatMessages = (client: WsClient, messageId?: string) =>
  client.frames.filter(
    (frame) =>
      frame.type === 'chat.message' &&
      (messageId === undefined || (frame.payload as { id?: string } | undefined)?.id === messageId),
  );

/** An access token signed like the server's own, with a chosen expiry (seconds since the epoch). */
function signAccessToken(t: TestApp, userId: string, expiresAt: number) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ token_type: 'access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(t.config.auth.issuer)
    .setAudience(t.config.auth.audience)
    .setIssuedAt(Math.min(now, expiresAt - 60))
    .setJti(randomUUID())
    .setExpirationTime(expiresAt)
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
}

/** Logs in through the browser flow; returns the `Cookie` header value of the session. */
async function login(t: TestApp, user: TestUser): Promise<string> {
  const response = await t.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: user.username, password: TEST_PASSWORD },
  });
  expect(response.statusCode, response.body).toBe(200);
  const cookie = response.cookies.find((item) => item.name === t.config.auth.session.cookieName);
  expect(cookie?.value).toEqual(expect.any(String));
  return `${cookie!.name}=${cookie!.value}`;
}

describe.skipIf(skipDatabaseTests).each(buses)('WebSocket connections ($name)', ({ redis, skip }) => {
  // ---------------------------------------------------------------------------------------------
  describe.skipIf(skip)('upgrade authentication and live access', () => {
    let t: TestApp;
    let base: string;
    let chat: ReturnType<typeof chatClient>;
    let staff: TestUser;

    beforeAll(async () => {
      t = await createTestApp(busEnv(redis));
      base = await listen(t);
      chat = chatClient(t);
      staff = await t.createUser({ staff: true });
    });
    afterAll(async () => t?.close());

    const channelUrl = (channelId: string, query = '') => `${base}/ws/chat/${channelId}/${query}`;

    async function deleteChannel(channelId: string) {
      const response = await t.inject({
        method: 'DELETE',
        url: `/api/chat/channels/${channelId}/`,
        headers: staff.auth,
      });
      expect(response.statusCode, response.body).toBe(204);
    }

    /** A núcleo channel created by staff, and a member of the núcleo who is not a participant yet. */
    async function contextChannel() {
      const contextoId = `n-${randomUUID().slice(0, 8)}`;
      const member = await t.createUser();
      await chat.setContextMember(staff, 'nucleo', contextoId, member);
      const channel = await chat.createChannel(staff, { contexto_tipo: 'nucleo', contexto_id: contextoId });
      return { channelId: channel.id, contextoId, member };
    }

    it('accepts a participant by bearer header, ?token=, subprotocol and session cookie', async () => {
      const alice = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice);
      const cookie = await login(t, alice);

      const byHeader = await connectLive(t, channelUrl(channelId), channelId, { headers: alice.auth });
      const byQuery = await connectLive(t, channelUrl(channelId, `?token=${alice.token}`), channelId);
      const bySubprotocol = await connectLive(t, channelUrl(channelId), channelId, {
        protocols: ['bearer', alice.token],
      });
      const byCookie = await connectLive(t, channelUrl(channelId), channelId, {
        headers: { cookie, origin: ALLOWED_ORIGIN },
      });
      // The server picks `bearer`, never echoing the token back.
      expect(bySubprotocol.socket.protocol).toBe('bearer');
      for (const client of [byHeader, byQuery, bySubprotocol, byCookie]) await expectResponsive(client);

      // Each of them is a live subscriber of the channel.
      const sent = await chat.sendMessage(alice, channelId, { conteudo: 'to every socket' });
      for (const client of [byHeader, byQuery, bySubprotocol, byCookie]) {
        const frame = await client.waitFor((item) => item.type === 'chat.message');
        expect(frame).toMatchObject({ seq: sent.seq, payload: { id: sent.id } });
      }
      for (const client of [byHeader, byQuery, bySubprotocol, byCookie]) await closeAndWait(client);
    });

    it("accepts a member of the channel's context who is not a participant yet", async () => {
      const { channelId, member } = await contextChannel();
      const client = await connectLive(t, channelUrl(channelId, `?token=${member.token}`), channelId);
      await expectResponsive(client);
      const sent = await chat.sendMessage(staff, channelId, { conteudo: 'to the núcleo' });
      await client.waitFor((frame) => frame.type === 'chat.message' && frame.seq === sent.seq);
      await closeAndWait(client);
    });

    it('caps inbound frames at 64 KiB by default (1009 above it)', async () => {
      const alice = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice);
      const client = await connect(channelUrl(channelId, `?token=${alice.token}`));
      // 60 KiB passes the transport (and is refused by the message rules, on an open socket).
      client.send({ tipo: 'text', conteudo: 'b'.repeat(60 * 1024), client_id: 'large' });
      const refused = await client.waitFor((frame) => frame.type === 'error' && frame.client_id === 'large');
      expect(refused).toMatchObject({ code: 'messages.too_long' });
      await expectResponsive(client);
      client.send({ tipo: 'text', conteudo: 'b'.repeat(64 * 1024), client_id: 'too-large' });
      expect(await client.waitForClose(2_000)).toBe(1009);
    });

    it('refuses anonymous, malformed, forged, refresh and expired tokens with 401', async () => {
      const alice = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice);
      const now = Math.floor(Date.now() / 1000);
      const expired = await signAccessToken(t, alice.id, now - 60);
      const refresh = await t.deps.tokens.signRefresh(alice.id);
      const forged = `${alice.token.slice(0, -4)}AAAA`;

      expect(await upgradeStatus(channelUrl(channelId))).toBe(401);
      expect(await upgradeStatus(channelUrl(channelId, '?token=not-a-token'))).toBe(401);
      expect(await upgradeStatus(channelUrl(channelId, `?token=${forged}`))).toBe(401);
      expect(await upgradeStatus(channelUrl(channelId, `?token=${expired}`))).toBe(401);
      expect(await upgradeStatus(channelUrl(channelId, `?token=${refresh}`))).toBe(401);
      expect(
        await upgradeStatus(channelUrl(channelId), { headers: { authorization: `Bearer ${expired}` } }),
      ).toBe(401);
      expect(await upgradeStatus(channelUrl(channelId), { headers: { authorization: 'Basic abc' } })).toBe(
        401,
      );
      expect(await upgradeStatus(channelUrl(channelId), { protocols: ['bearer', 'not-a-token'] })).toBe(401);
      // A session cookie that is not (or no longer) a session does not authenticate either.
      expect(
        await upgradeStatus(channelUrl(channelId), {
          headers: { cookie: `${t.config.auth.session.cookieName}=bogus`, origin: ALLOWED_ORIGIN },
        }),
      ).toBe(401);

      // The same claims with a future expiry are accepted: the refusal above is the expiry.
      const fresh = await signAccessToken(t, alice.id, now + 300);
      expect(await upgradeStatus(channelUrl(channelId, `?token=${fresh}`))).toBeUndefined();
    });

    it('refuses a session cookie from a foreign or missing Origin with 403 (cross-site hijacking)', async () => {
      const alice = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice);
      const cookie = await login(t, alice);

      for (const origin of ['https://evil.example', 'null', 'https://app.hubx.test.evil.example']) {
        expect(await upgradeStatus(channelUrl(channelId), { headers: { cookie, origin } }), origin).toBe(403);
      }
      expect(await upgradeStatus(channelUrl(channelId), { headers: { cookie } })).toBe(403);
      expect(
        await upgradeStatus(channelUrl(channelId), { headers: { cookie, origin: ALLOWED_ORIGIN } }),
      ).toBeUndefined();
    });

    it('refuses outsiders and unknown, deleted or non-UUID channels with 404', async () => {
      const alice = await t.createUser();
      const outsider = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice);
      const { id: deletedId } = await chat.createChannel(alice);
      await deleteChannel(deletedId);

      expect(await upgradeStatus(channelUrl(channelId, `?token=${outsider.token}`))).toBe(404);
      expect(await upgradeStatus(channelUrl(randomUUID(), `?token=${alice.token}`))).toBe(404);
      expect(await upgradeStatus(channelUrl(deletedId, `?token=${alice.token}`))).toBe(404);
      expect(await upgradeStatus(channelUrl('not-a-uuid', `?token=${alice.token}`))).toBe(404);
      expect(await upgradeStatus(channelUrl('123', `?token=${alice.token}`))).toBe(404);
      // A context channel is closed to users outside the context.
      const { channelId: contextChannelId } = await contextChannel();
      expect(await upgradeStatus(channelUrl(contextChannelId, `?token=${outsider.token}`))).toBe(404);
    });

    it('refuses an invalid query (since not a non-negative integer, unknown parameters) with 400', async () => {
      const alice = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice);
      const invalid = [
        'since=-1',
        'since=1.5',
        'since=abc',
        'since=',
        `since=${2 ** 53}`,
        'since=1&since=2',
        'since=0x10',
        'since=1e1',
      ];
      for (const query of [...invalid, 'sincee=1', 'canal=x']) {
        const refusal = await refusedUpgrade(channelUrl(channelId, `?token=${alice.token}&${query}`));
        expect(refusal, query).toEqual({
          status: 400,
          body: { code: 'validation_error', detail: expect.any(String) },
        });
      }
      // The same socket with a valid since is accepted: the refusals above are the query.
      for (const since of [0, 1, 5]) {
        expect(
          await upgradeStatus(channelUrl(channelId, `?token=${alice.token}&since=${since}`)),
        ).toBeUndefined();
      }
    });

    /**
     * Runs `revoke`, then has `sender` post three messages; the revoked socket must close with `code`
     * within the deadline and get none of them, while `observer` (still a reader) gets them all.
     */
    async function expectRevoked(input: {
      revoked: WsClient;
      observer: WsClient;
      sender: TestUser;
      channelId: string;
      code: number;
      revoke: () => Promise<void>;
    }) {
      const { revoked, observer, sender, channelId, code } = input;
      const started = Date.now();
      await input.revoke();
      // Access is live: whatever is said once the revoking request has returned must not reach it.
      const after: Array<{ id: string; seq: number }> = [];
      for (const index of [1, 2, 3]) {
        after.push(await chat.sendMessage(sender, channelId, { conteudo: `after the revocation ${index}` }));
      }
      expect(await revoked.waitForClose(Math.max(0, started + REVOCATION_DEADLINE_MS - Date.now()))).toBe(
        code,
      );
      const lastSeq = Math.max(...after.map((message) => message.seq));
      await observer.waitFor((frame) => frame.type === 'chat.message' && frame.seq === lastSeq);
      const leaked = after.flatMap((message) => chatMessages(revoked, message.id));
      expect(leaked, 'messages sent after the revocation reached the revoked socket').toEqual([]);
      await expectResponsive(observer);
    }

    it('closes the socket of a removed participant with 4403, and it gets nothing more', async () => {
      const alice = await t.createUser();
      const bob = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice, { participantes: [bob.id] });
      const bobSocket = await connectLive(t, channelUrl(channelId, `?token=${bob.token}`), channelId);
      const aliceSocket = await connectLive(t, channelUrl(channelId, `?token=${alice.token}`), channelId);
      const before = await chat.sendMessage(alice, channelId, { conteudo: 'before' });
      await bobSocket.waitFor((frame) => frame.type === 'chat.message' && frame.seq === before.seq);

      await expectRevoked({
        revoked: bobSocket,
        observer: aliceSocket,
        sender: alice,
        channelId,
        code: 4403,
        revoke: async () => {
          await chat.removeParticipants(alice, channelId, [bob]);
        },
      });
      expect(await upgradeStatus(channelUrl(channelId, `?token=${bob.token}`))).toBe(404);
      await closeAndWait(aliceSocket);
    });

    it('closes the socket of a participant who leaves with 4403', async () => {
      const alice = await t.createUser();
      const bob = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice, { participantes: [bob.id] });
      const bobSocket = await connectLive(t, channelUrl(channelId, `?token=${bob.token}`), channelId);
      const aliceSocket = await connectLive(t, channelUrl(channelId, `?token=${alice.token}`), channelId);

      await expectRevoked({
        revoked: bobSocket,
        observer: aliceSocket,
        sender: alice,
        channelId,
        code: 4403,
        revoke: async () => {
          const response = await t.inject({
            method: 'POST',
            url: `/api/chat/channels/${channelId}/leave/`,
            headers: bob.auth,
          });
          expect(response.statusCode, response.body).toBe(204);
        },
      });
      await closeAndWait(aliceSocket);
    });

    it("closes a context member's socket with 4403 when the context membership is deleted", async () => {
      const { channelId, contextoId, member } = await contextChannel();
      const memberSocket = await connectLive(t, channelUrl(channelId, `?token=${member.token}`), channelId);
      const staffSocket = await connectLive(t, channelUrl(channelId, `?token=${staff.token}`), channelId);
      await expectResponsive(memberSocket);

      await expectRevoked({
        revoked: memberSocket,
        observer: staffSocket,
        sender: staff,
        channelId,
        code: 4403,
        revoke: async () => {
          const response = await t.inject({
            method: 'DELETE',
            url: `/api/chat/contexts/nucleo/${contextoId}/members/${member.id}/`,
            headers: staff.auth,
          });
          expect(response.statusCode, response.body).toBe(204);
        },
      });
      expect(await upgradeStatus(channelUrl(channelId, `?token=${member.token}`))).toBe(404);
      await closeAndWait(staffSocket);
    });

    it("closes a context member's socket with 4403 when the context membership turns inativo", async () => {
      const { channelId, contextoId, member } = await contextChannel();
      const memberSocket = await connectLive(t, channelUrl(channelId, `?token=${member.token}`), channelId);
      const staffSocket = await connectLive(t, channelUrl(channelId, `?token=${staff.token}`), channelId);
      await expectResponsive(memberSocket);

      await expectRevoked({
        revoked: memberSocket,
        observer: staffSocket,
        sender: staff,
        channelId,
        code: 4403,
        revoke: () => chat.setContextMember(staff, 'nucleo', contextoId, member, 'inativo'),
      });
      await closeAndWait(staffSocket);
    });

    it('delivers nothing after a context membership ends, even while the access re-check is slow', async () => {
      const { channelId, contextoId, member } = await contextChannel();
      const memberSocket = await connectLive(t, channelUrl(channelId, `?token=${member.token}`), channelId);
      const staffSocket = await connectLive(t, channelUrl(channelId, `?token=${staff.token}`), channelId);
      // A loaded database: the gateway's access check answers late (but well within the deadline).
      const service = t.deps.channelsService;
      const canRead = service.canRead;
      service.canRead = async (user, id) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return canRead(user, id);
      };
      try {
        await expectRevoked({
          revoked: memberSocket,
          observer: staffSocket,
          sender: staff,
          channelId,
          code: 4403,
          revoke: async () => {
            const response = await t.inject({
              method: 'DELETE',
              url: `/api/chat/contexts/nucleo/${contextoId}/members/${member.id}/`,
              headers: staff.auth,
            });
            expect(response.statusCode, response.body).toBe(204);
          },
        });
      } finally {
        service.canRead = canRead;
        await closeAndWait(staffSocket);
      }
    });

    /** Bob's socket by session cookie and his socket by bearer token, in a channel of alice's. */
    async function cookieAndBearerSockets() {
      const alice = await t.createUser();
      const bob = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice, { participantes: [bob.id] });
      const cookie = await login(t, bob);
      const cookieSocket = await connectLive(t, channelUrl(channelId), channelId, {
        headers: { cookie, origin: ALLOWED_ORIGIN },
      });
      const bearerSocket = await connectLive(t, channelUrl(channelId, `?token=${bob.token}`), channelId);
      return { alice, bob, channelId, cookie, cookieSocket, bearerSocket };
    }

    it("closes a cookie socket with 4401 when its session logs out; the user's bearer socket stays", async () => {
      const { alice, channelId, cookie, cookieSocket, bearerSocket } = await cookieAndBearerSockets();
      await expectResponsive(cookieSocket);

      await expectRevoked({
        revoked: cookieSocket,
        observer: bearerSocket,
        sender: alice,
        channelId,
        code: 4401,
        revoke: async () => {
          const response = await t.inject({
            method: 'POST',
            url: '/api/auth/logout',
            headers: { cookie, origin: ALLOWED_ORIGIN },
          });
          expect(response.statusCode, response.body).toBe(204);
        },
      });
      // The ended session can no longer open a socket.
      expect(
        await upgradeStatus(channelUrl(channelId), { headers: { cookie, origin: ALLOWED_ORIGIN } }),
      ).toBe(401);
      await closeAndWait(bearerSocket);
    });

    it('a re-check closes a cookie socket whose session ended unannounced (4401), bearer sockets stay', async () => {
      const { alice, bob, cookieSocket, bearerSocket } = await cookieAndBearerSockets();
      // The session ends without its announcement reaching this node (a logout published while
      // the bus was away, an expiry): only a re-check can tell.
      await t.deps.database.db.delete(sessions).where(eq(sessions.userId, bob.id));
      await expectResponsive(cookieSocket);
      // Any access change for bob re-checks his sockets (as every socket is after a bus reconnection).
      const { id: another } = await chat.createChannel(alice);
      await chat.addParticipants(alice, another, [bob]);
      expect(await cookieSocket.waitForClose(5_000)).toBe(4401);
      await expectResponsive(bearerSocket);
      await closeAndWait(bearerSocket);
    });

    it.each([
      { change: 'a removal', code: 4403 },
      { change: 'a deletion', code: 4404 },
    ])('acts on $change that lands while the socket is still joining the channel', async ({ code }) => {
      const alice = await t.createUser();
      const bob = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice, { participantes: [bob.id] });
      const log = t.deps.eventLog;
      const lastSeq = log.lastSeq;
      const since = (await lastSeq(channelId)) ?? 0;
      // The first socket of a channel on a node subscribes, then reads where the log stands: a slow
      // database leaves time for a change to be committed in between.
      log.lastSeq = async (id) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return lastSeq(id);
      };
      let bobSocket: WsClient;
      const started = Date.now();
      try {
        bobSocket = await connect(channelUrl(channelId, `?token=${bob.token}&since=${since}`));
        if (code === 4404) await deleteChannel(channelId);
        else {
          await chat.removeParticipants(alice, channelId, [bob]);
        }
      } finally {
        log.lastSeq = lastSeq;
      }
      const after =
        code === 4403 ? await chat.sendMessage(alice, channelId, { conteudo: 'not for bob' }) : undefined;
      expect(await bobSocket.waitForClose(Math.max(0, started + REVOCATION_DEADLINE_MS - Date.now()))).toBe(
        code,
      );
      if (after) expect(chatMessages(bobSocket, after.id)).toEqual([]);
    });

    it('closes every socket of a channel deleted by staff with 4404', async () => {
      const alice = await t.createUser();
      const bob = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice, { participantes: [bob.id] });
      const { id: otherChannelId } = await chat.createChannel(alice);
      const sockets = [
        await connectLive(t, channelUrl(channelId, `?token=${alice.token}`), channelId),
        await connectLive(t, channelUrl(channelId, `?token=${bob.token}`), channelId),
        await connectLive(t, channelUrl(channelId, `?token=${staff.token}`), channelId),
      ];
      const elsewhere = await connect(channelUrl(otherChannelId, `?token=${alice.token}`));

      const started = Date.now();
      await deleteChannel(channelId);
      for (const socket of sockets) {
        expect(await socket.waitForClose(Math.max(0, started + REVOCATION_DEADLINE_MS - Date.now()))).toBe(
          4404,
        );
      }
      // Sockets of other channels are not touched.
      await expectResponsive(elsewhere);
      await closeAndWait(elsewhere);
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe.skipIf(skip)('frames and limits', () => {
    const HEARTBEAT_MS = 200;
    const MAX_PAYLOAD = 4_096;
    const MAX_CONNECTIONS = 3;
    const FRAME_LIMIT = { count: 20, windowMs: 500 };
    const SEND_LIMIT = 3;
    let t: TestApp;
    let base: string;
    let chat: ReturnType<typeof chatClient>;
    let alice: TestUser;
    let bob: TestUser;
    let staff: TestUser;
    let channelId: string;
    let otherChannelId: string;
    let message: { id: string; seq: number };
    let foreignMessage: { id: string; seq: number };
    let pinnedForeignMessage: { id: string; seq: number; pinnedAt: string };

    beforeAll(async () => {
      t = await createTestApp({
        ...busEnv(redis),
        WS_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
        WS_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD),
        WS_MAX_CONNECTIONS_PER_USER: String(MAX_CONNECTIONS),
        WS_FRAME_RATE_LIMIT: `${FRAME_LIMIT.count}/${FRAME_LIMIT.windowMs / 1000}s`,
        CHAT_SEND_RATE_LIMIT: `${SEND_LIMIT}/30s`,
      });
      base = await listen(t);
      chat = chatClient(t);
      alice = await t.createUser();
      bob = await t.createUser();
      staff = await t.createUser({ staff: true });
      // The owner writes the fixtures, so the send budget of alice (an admin) and bob stays whole.
      const owner = await t.createUser();
      channelId = (await chat.createChannel(owner, { participantes: [alice.id, bob.id] })).id;
      await chat.setRole(owner, channelId, alice, true);
      otherChannelId = (await chat.createChannel(owner, { participantes: [alice.id, bob.id] })).id;
      message = await chat.sendMessage(owner, channelId, { conteudo: 'here' });
      foreignMessage = await chat.sendMessage(owner, otherChannelId, { conteudo: 'elsewhere' });
      const pinnedElsewhere = await chat.sendMessage(owner, otherChannelId, { conteudo: 'pinned elsewhere' });
      const pinned = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${otherChannelId}/messages/${pinnedElsewhere.id}/pin/`,
        headers: owner.auth,
      });
      expect(pinned.statusCode, pinned.body).toBe(200);
      const pinnedAt = (pinned.json() as { pinned_at: string | null }).pinned_at;
      expect(pinnedAt).toEqual(expect.any(String));
      pinnedForeignMessage = { ...pinnedElsewhere, pinnedAt: pinnedAt! };
    });
    afterAll(async () => t?.close());

    const channelUrl = (user: TestUser, id = channelId) => `${base}/ws/chat/${id}/?token=${user.token}`;

    type InvalidCase = {
      name: string;
      user?: () => TestUser;
      frame: unknown;
      binary?: boolean;
      code: string;
      clientId?: string;
      detail?: RegExp;
      /** The target message's `pinned_at` once the frame was refused: the refusal changed nothing. */
      pinnedAt?: () => string | null;
    };
    const invalidCases: InvalidCase[] = [
      { name: 'not JSON', frame: '{"tipo": "text", ', code: 'invalid_json' },
      { name: 'a JSON array', frame: '[1, 2]', code: 'invalid_frame' },
      { name: 'a JSON string', frame: '"text"', code: 'invalid_frame' },
      { name: 'no tipo', frame: { conteudo: 'oi', client_id: 'c-0' }, code: 'unknown_tipo', clientId: 'c-0' },
      {
        name: 'an unknown tipo',
        frame: { tipo: 'shout', client_id: 'c-1' },
        code: 'unknown_tipo',
        clientId: 'c-1',
      },
      {
        name: 'a number as conteudo',
        frame: { tipo: 'text', conteudo: 123, client_id: 'c-2' },
        code: 'invalid_frame',
        clientId: 'c-2',
      },
      {
        name: 'a non-UUID mensagem_id',
        frame: { tipo: 'reaction', mensagem_id: 'abc', emoji: 'like', client_id: 'c-3' },
        code: 'invalid_frame',
        clientId: 'c-3',
      },
      { name: 'a numeric tipo', frame: { tipo: 7 }, code: 'unknown_tipo' },
      {
        name: 'an unknown field on a message',
        frame: { tipo: 'text', conteudo: 'oi', canal: 'x', client_id: 'c-4' },
        code: 'invalid_frame',
        clientId: 'c-4',
        detail: /canal/,
      },
      {
        name: 'an unknown field on typing',
        frame: { tipo: 'typing_start', extra: 1 },
        code: 'invalid_frame',
      },
      {
        name: 'a binary frame',
        frame: Buffer.from('{"tipo":"ping"}'),
        binary: true,
        code: 'binary_not_supported',
      },
      {
        name: 'a reaction to a message of another channel',
        frame: { tipo: 'reaction', mensagem_id: '', emoji: 'like', client_id: 'c-5' },
        code: 'messages.not_found',
        clientId: 'c-5',
      },
      {
        name: 'a pin of a message of another channel',
        frame: { tipo: 'pin', mensagem_id: '', client_id: 'c-6' },
        code: 'messages.not_found',
        clientId: 'c-6',
        pinnedAt: () => null,
      },
      {
        name: 'an unpin of a message of another channel',
        frame: { tipo: 'unpin', mensagem_id: 'pinned', client_id: 'c-11' },
        code: 'messages.not_found',
        clientId: 'c-11',
        pinnedAt: () => pinnedForeignMessage.pinnedAt,
      },
      {
        name: 'a reply to a message of another channel',
        frame: { tipo: 'text', conteudo: 'oi', reply_to: '', client_id: 'c-7' },
        code: 'messages.invalid_reply_to',
        clientId: 'c-7',
      },
      {
        name: 'a pin by a participant who is not an admin',
        user: () => bob,
        frame: { tipo: 'pin', mensagem_id: 'here', client_id: 'c-8' },
        code: 'channels.not_admin',
        clientId: 'c-8',
      },
      {
        name: 'a message from staff who is not a participant',
        user: () => staff,
        frame: { tipo: 'text', conteudo: 'oi', client_id: 'c-9' },
        code: 'channels.not_member',
        clientId: 'c-9',
      },
      {
        name: 'a blank message',
        frame: { tipo: 'text', conteudo: '   ', client_id: 'c-10' },
        code: 'messages.empty',
        clientId: 'c-10',
      },
    ];

    /**
     * Placeholder ids and the channel of the message each names: '' = a message of the other
     * channel, 'pinned' = a pinned one of the other channel, 'here' = one of this channel.
     */
    const placeholders = () =>
      new Map([
        ['', { id: foreignMessage.id, channelId: otherChannelId }],
        ['pinned', { id: pinnedForeignMessage.id, channelId: otherChannelId }],
        ['here', { id: message.id, channelId }],
      ]);

    function resolveIds(frame: unknown): unknown {
      if (typeof frame !== 'object' || frame === null || Buffer.isBuffer(frame)) return frame;
      const resolved: Record<string, unknown> = { ...(frame as Record<string, unknown>) };
      for (const key of ['mensagem_id', 'reply_to']) {
        const target = placeholders().get(resolved[key] as string);
        if (target) resolved[key] = target.id;
      }
      return resolved;
    }

    /** The `pinned_at` of the message a placeholder names, as alice (in both channels) reads it over REST. */
    async function pinnedAtOf(placeholder: string): Promise<string | null> {
      const target = placeholders().get(placeholder)!;
      const response = await t.inject({
        url: `/api/chat/channels/${target.channelId}/messages/${target.id}/`,
        headers: alice.auth,
      });
      expect(response.statusCode, response.body).toBe(200);
      return (response.json() as { pinned_at: string | null }).pinned_at;
    }

    it.each(invalidCases)('answers $name with an error frame and keeps the socket open', async (item) => {
      const client = await connect(channelUrl(item.user?.() ?? alice));
      const frame = resolveIds(item.frame);
      if (item.binary) client.socket.send(frame as Buffer, { binary: true });
      else client.send(frame);
      const error = await client.waitFor((received) => received.type === 'error', 2_000);
      expect(error).toEqual({
        type: 'error',
        code: item.code,
        detail: expect.any(String),
        ...(item.clientId ? { client_id: item.clientId } : {}),
      });
      if (item.detail) expect(error.detail).toMatch(item.detail);
      await expectResponsive(client);
      // Nothing was accepted.
      expect(client.frames.filter((received) => received.type === 'ack')).toEqual([]);
      if (item.pinnedAt) {
        const target = (item.frame as { mensagem_id: string }).mensagem_id;
        expect(await pinnedAtOf(target)).toBe(item.pinnedAt());
      }
      await closeAndWait(client);
    });

    it('rate-limits frames per socket (WS_FRAME_RATE_LIMIT) and keeps the socket open', async () => {
      const client = await connect(channelUrl(alice));
      const burst = FRAME_LIMIT.count + 5;
      for (let index = 0; index < burst; index += 1) {
        client.send({ tipo: 'ping', client_id: `burst-${index}` });
      }
      await waitUntil(
        () =>
          client.frames.filter((frame) => frame.type === 'pong' || frame.type === 'error').length >= burst,
        'an answer to every frame of the burst',
      );
      const pongs = client.frames.filter((frame) => frame.type === 'pong');
      const errors = client.frames.filter((frame) => frame.type === 'error');
      expect(pongs).toHaveLength(FRAME_LIMIT.count);
      expect(errors).toHaveLength(burst - FRAME_LIMIT.count);
      for (const error of errors) {
        expect(error).toEqual({ type: 'error', code: 'rate_limited', detail: expect.any(String) });
      }
      // Another socket of the same user has a budget of its own.
      const other = await connect(channelUrl(alice));
      await expectResponsive(other);
      await closeAndWait(other);
      // Once the window has passed the first socket is served again.
      await new Promise((resolve) => setTimeout(resolve, FRAME_LIMIT.windowMs + 50));
      await expectResponsive(client);
      await closeAndWait(client);
    });

    it('rate-limits sends (CHAT_SEND_RATE_LIMIT), shared with REST, and keeps the socket open', async () => {
      const carol = await t.createUser();
      const { id: ownChannelId } = await chat.createChannel(carol);
      const client = await connect(channelUrl(carol, ownChannelId));
      for (let index = 0; index <= SEND_LIMIT; index += 1) {
        client.send({ tipo: 'text', conteudo: `n${index}`, client_id: `send-${index}` });
      }
      const refused = await client.waitFor(
        (frame) => frame.type === 'error' && frame.client_id === `send-${SEND_LIMIT}`,
      );
      expect(refused).toEqual({
        type: 'error',
        code: 'rate_limited',
        detail: expect.any(String),
        client_id: `send-${SEND_LIMIT}`,
      });
      const acks = client.frames.filter((frame) => frame.type === 'ack');
      expect(acks.map((frame) => frame.client_id)).toEqual(
        Array.from({ length: SEND_LIMIT }, (_, index) => `send-${index}`),
      );
      await expectResponsive(client);
      const viaRest = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${ownChannelId}/messages/`,
        headers: carol.auth,
        payload: { tipo: 'text', conteudo: 'one more' },
      });
      expect(viaRest.statusCode, viaRest.body).toBe(429);
      await closeAndWait(client);
    });

    it('terminates a socket that stops answering pings, and keeps one that answers', async () => {
      let deadPings = 0;
      let healthyPings = 0;
      // Count every ping, even one sent right after the upgrade (before 'open' reaches the test).
      const dead = await openSocket(channelUrl(bob), {
        autoPong: false,
        onCreated: (socket) => socket.on('ping', () => (deadPings += 1)),
      });
      const healthy = await openSocket(channelUrl(alice), {
        onCreated: (socket) => socket.on('ping', () => (healthyPings += 1)),
      });

      const code = await dead.waitForClose(HEARTBEAT_MS * 3 + 1_000);
      // Terminated (no close frame): the client sees an abnormal closure.
      expect(code).toBe(1006);
      expect(deadPings).toBeGreaterThanOrEqual(1);
      await waitUntil(() => healthyPings >= 3, 'three heartbeats on the healthy socket', HEARTBEAT_MS * 6);
      await expectResponsive(healthy);
      await closeAndWait(healthy);
    });

    it('closes a socket that sends a frame over WS_MAX_PAYLOAD_BYTES with 1009', async () => {
      const frank = await t.createUser();
      const { id: ownChannelId } = await chat.createChannel(frank);
      const client = await connect(channelUrl(frank, ownChannelId));
      const listener = await connect(channelUrl(bob));
      // Just under the limit is fine.
      client.send({ tipo: 'text', conteudo: 'a'.repeat(MAX_PAYLOAD - 100), client_id: 'fits' });
      await client.waitFor((frame) => frame.type === 'ack' && frame.client_id === 'fits');

      client.send({ tipo: 'text', conteudo: 'a'.repeat(MAX_PAYLOAD + 1), client_id: 'too-big' });
      expect(await client.waitForClose(2_000)).toBe(1009);
      expect(client.frames.filter((frame) => frame.client_id === 'too-big')).toEqual([]);
      // Nothing of it was stored, and the server goes on serving the others.
      const listed = await t.inject({
        method: 'GET',
        url: `/api/chat/channels/${ownChannelId}/messages/`,
        headers: frank.auth,
      });
      expect(listed.statusCode, listed.body).toBe(200);
      expect(listed.body).not.toContain('a'.repeat(MAX_PAYLOAD));
      await expectResponsive(listener);
      await closeAndWait(listener);
    });

    it('survives malformed WebSocket frames (each socket has an error listener)', async () => {
      const observer = await connect(channelUrl(bob));
      const maskKey = Buffer.from([1, 2, 3, 4]);
      const masked = (payload: Buffer) => payload.map((byte, index) => byte ^ maskKey[index % 4]!);
      const badFrames = [
        // A client frame without a mask.
        { bytes: Buffer.from([0x81, 0x02, 0x68, 0x69]), code: 1002 },
        // Reserved bits set, with no extension negotiated.
        { bytes: Buffer.concat([Buffer.from([0xf1, 0x82]), maskKey, masked(Buffer.from('hi'))]), code: 1002 },
        // A text frame that is not UTF-8.
        {
          bytes: Buffer.concat([Buffer.from([0x81, 0x82]), maskKey, masked(Buffer.from([0xff, 0xfe]))]),
          code: 1007,
        },
        // An unknown opcode.
        { bytes: Buffer.concat([Buffer.from([0x83, 0x80]), maskKey]), code: 1002 },
      ];
      for (const bad of badFrames) {
        const client = await connect(channelUrl(alice));
        rawSocketOf(client).write(bad.bytes);
        expect(await client.waitForClose(2_000)).toBe(bad.code);
        await expectResponsive(observer);
      }
      await closeAndWait(observer);
    });

    it('refuses upgrades beyond WS_MAX_CONNECTIONS_PER_USER with 429', async () => {
      const dave = await t.createUser();
      const { id: first } = await chat.createChannel(dave);
      const { id: second } = await chat.createChannel(dave);
      const open: WsClient[] = [];
      for (let index = 0; index < MAX_CONNECTIONS; index += 1) {
        open.push(await connect(channelUrl(dave, index % 2 === 0 ? first : second)));
      }
      expect(await upgradeStatus(channelUrl(dave, first))).toBe(429);
      expect(await upgradeStatus(channelUrl(dave, second))).toBe(429);
      for (const client of open) await expectResponsive(client);
      // The cap is per user.
      const erin = await t.createUser();
      await chat.addParticipants(dave, first, [erin]);
      const erinSocket = await connect(channelUrl(erin, first));
      await expectResponsive(erinSocket);

      // A closed socket frees its slot (once the server has seen the close).
      await closeAndWait(open.shift()!);
      const reopened = await eventually(() => connect(channelUrl(dave, first)), 'a freed slot');
      await expectResponsive(reopened);
      for (const client of [...open, reopened, erinSocket]) await closeAndWait(client);
    });

    it('counts upgrades under way against WS_MAX_CONNECTIONS_PER_USER: parallel upgrades cannot pass it', async () => {
      const frank = await t.createUser();
      const { id: channel } = await chat.createChannel(frank);
      // Each upgrade waits on the database before its socket exists (as on a networked PostgreSQL).
      const lastSeq = t.deps.eventLog.lastSeq.bind(t.deps.eventLog);
      const spy = vi.spyOn(t.deps.eventLog, 'lastSeq').mockImplementation(async (id) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return lastSeq(id);
      });
      let statuses: Array<number | undefined>;
      const opened: WsClient[] = [];
      try {
        statuses = await Promise.all(
          Array.from({ length: 12 }, async () => {
            try {
              opened.push(await connect(channelUrl(frank, channel)));
              return undefined;
            } catch (error) {
              return (error as { status?: number }).status;
            }
          }),
        );
      } finally {
        spy.mockRestore();
      }
      expect(opened).toHaveLength(MAX_CONNECTIONS);
      expect(statuses.filter((status) => status === 429)).toHaveLength(12 - MAX_CONNECTIONS);
      for (const client of opened) await expectResponsive(client);
      // Refused and finished upgrades gave their slots back: once these close, the user connects again.
      for (const client of opened) await closeAndWait(client);
      const again = await eventually(() => connect(channelUrl(frank, channel)), 'a freed slot');
      await expectResponsive(again);
      await closeAndWait(again);
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe.skipIf(skip)('backpressure and shutdown', () => {
    const MAX_BUFFERED = 65_536;
    const MESSAGE_CHARS = 32_000;
    const MAX_MESSAGES = 600;
    let t: TestApp;
    let base: string;
    let chat: ReturnType<typeof chatClient>;
    let alice: TestUser;
    let bob: TestUser;
    let channelId: string;
    let appClosed = false;

    beforeAll(async () => {
      t = await createTestApp({
        ...busEnv(redis),
        WS_MAX_BUFFERED_BYTES: String(MAX_BUFFERED),
        MESSAGE_MAX_CHARS: String(MESSAGE_CHARS),
      });
      base = await listen(t);
      chat = chatClient(t);
      alice = await t.createUser();
      bob = await t.createUser();
      channelId = (await chat.createChannel(alice, { participantes: [bob.id] })).id;
    });
    afterAll(async () => {
      if (!appClosed) await t?.close();
    });

    const channelUrl = (user: TestUser, query = '') =>
      `${base}/ws/chat/${channelId}/?token=${user.token}${query}`;
    const serverSockets = () => [...t.app.websocketServer.clients];

    /** The server's end of a client's socket, matched by the TCP ports of their connection. */
    function serverSocketOf(client: WsClient): WebSocket {
      const port = rawSocketOf(client).localPort;
      const found = serverSockets().find(
        (socket) => (socket as unknown as { _socket: Socket })._socket.remotePort === port,
      );
      expect(found, 'the server end of the socket').toBeDefined();
      return found!;
    }

    /**
     * Records every close code and reason the server gives this socket: what the server decided,
     * whatever the client ends up seeing (1006 when it is terminated before reading the close frame).
     */
    function recordServerCloses(socket: WebSocket): Array<{ code: number | undefined; reason: string }> {
      const calls: Array<{ code: number | undefined; reason: string }> = [];
      const close = socket.close.bind(socket);
      socket.close = (code?: number, reason?: string | Buffer) => {
        calls.push({ code, reason: reason?.toString() ?? '' });
        close(code, reason);
      };
      return calls;
    }

    it('disconnects a client that does not read (4009) and ?since= then recovers every message', async () => {
      const slow = await connectLive(t, channelUrl(bob), channelId);
      const reader = await connectLive(t, channelUrl(alice), channelId);
      const slowClosedWith = recordServerCloses(serverSocketOf(slow));
      const readerClosedWith = recordServerCloses(serverSocketOf(reader));
      const first = await chat.sendMessage(alice, channelId, { conteudo: 'first' });
      await slow.waitFor((frame) => frame.type === 'chat.message' && frame.seq === first.seq);
      await reader.waitFor((frame) => frame.type === 'chat.message' && frame.seq === first.seq);

      // The client stops reading: the server's writes pile up in the kernel, then in its own buffer.
      rawSocketOf(slow).pause();
      const sent: Array<{ id: string; seq: number }> = [first];
      let largestBuffer = 0;
      while (
        sent.length < MAX_MESSAGES &&
        serverSockets().every((socket) => socket.readyState === WebSocket.OPEN)
      ) {
        const batch = await Promise.all(
          Array.from({ length: 5 }, (_, index) =>
            chat.sendMessage(alice, channelId, {
              conteudo: `${sent.length + index} `.padEnd(MESSAGE_CHARS, 'x'),
            }),
          ),
        );
        sent.push(...batch);
        for (const socket of serverSockets()) largestBuffer = Math.max(largestBuffer, socket.bufferedAmount);
        // The reading client keeps up (on a loaded machine it would otherwise fall behind too,
        // and be cut as a slow consumer just like the one that does not read).
        const newest = Math.max(...batch.map((item) => item.seq));
        await reader.waitFor((frame) => frame.type === 'chat.message' && frame.seq === newest, 15_000);
      }
      // The server gave up on the slow socket long before the cap on this loop.
      expect(sent.length).toBeLessThan(MAX_MESSAGES);
      // Its buffer never grew past the bound by more than one event.
      expect(largestBuffer).toBeLessThanOrEqual(MAX_BUFFERED + MESSAGE_CHARS + 2_048);
      // The server's own decision: it closed that socket as a slow consumer, and only that one.
      expect(slowClosedWith[0]).toEqual({ code: 4009, reason: 'slow consumer' });
      expect(readerClosedWith).toEqual([]);

      rawSocketOf(slow).resume();
      const code = await slow.waitForClose(5_000);
      expect([4009, 1006]).toContain(code);
      if (code === 4009) expect(slow.closeReason).toBe('slow consumer');
      const seen = chatMessages(slow).map((frame) => frame.seq as number);
      expect(seen.length).toBeLessThan(sent.length);

      // More is said while it is away (more than one send buffer's worth), at the reader's pace.
      for (let index = 0; index < 6; index++) {
        const message = await chat.sendMessage(alice, channelId, {
          conteudo: `away ${index} `.padEnd(MESSAGE_CHARS, 'y'),
        });
        sent.push(message);
        await reader.waitFor((frame) => frame.type === 'chat.message' && frame.seq === message.seq, 15_000);
      }
      const last = sent.reduce((max, item) => Math.max(max, item.seq), 0);

      // A client that reads got everything, in order, and is still connected. (Megabytes of
      // frames: on a loaded machine that takes a while.)
      await reader.waitFor((frame) => frame.type === 'chat.message' && frame.seq === last, 15_000);
      expect(chatMessages(reader).map((frame) => (frame.payload as { id: string }).id)).toEqual(
        [...sent].sort((a, b) => a.seq - b.seq).map((item) => item.id),
      );
      await expectResponsive(reader);

      // Reconnecting from the last seq it saw, the slow client gets every message it missed.
      const since = Math.max(...seen);
      const resumed = await connect(channelUrl(bob, `&since=${since}`));
      const missed = sent.filter((item) => item.seq > since).sort((a, b) => a.seq - b.seq);
      await Promise.race([
        resumed.closed,
        resumed.waitFor((frame) => frame.type === 'chat.message' && frame.seq === last, 15_000),
      ]);
      // A client that reads its replay is not a slow consumer, however long the backlog.
      expect(resumed.closeCode, `replay socket closed: ${resumed.closeReason}`).toBeUndefined();
      expect(chatMessages(resumed).map((frame) => (frame.payload as { id: string }).id)).toEqual(
        missed.map((item) => item.id),
      );
      await expectResponsive(resumed);
      await closeAndWait(resumed);
      await closeAndWait(reader);
    }, 60_000);

    it('replays a backlog larger than WS_MAX_BUFFERED_BYTES to a client that reads it', async () => {
      const mark = await chat.sendMessage(alice, channelId, { conteudo: 'mark' });
      const backlog: Array<{ id: string; seq: number }> = [];
      for (let index = 0; index < 6; index += 1) {
        backlog.push(
          await chat.sendMessage(alice, channelId, {
            conteudo: `backlog ${index} `.padEnd(MESSAGE_CHARS, 'z'),
          }),
        );
      }
      const last = backlog.at(-1)!.seq;
      const client = await connect(channelUrl(bob, `&since=${mark.seq}`));
      await Promise.race([
        client.closed,
        client.waitFor((frame) => frame.type === 'chat.message' && frame.seq === last, 5_000),
      ]);
      expect(client.closeCode, `replay socket closed: ${client.closeReason}`).toBeUndefined();
      expect(chatMessages(client).map((frame) => (frame.payload as { id: string }).id)).toEqual(
        backlog.map((item) => item.id),
      );
      await expectResponsive(client);
      await closeAndWait(client);
    });

    it('closes every socket with 1001 when the server shuts down', async () => {
      const sockets = [
        await connect(channelUrl(alice)),
        await connect(channelUrl(bob)),
        await connect(`${base}/ws/chat/notificacoes/?token=${bob.token}`),
      ];
      await expectResponsive(sockets[0]!);
      // One more upgrade is still being checked (its database read is slow) when shutdown begins.
      const lastSeq = t.deps.eventLog.lastSeq.bind(t.deps.eventLog);
      let checking!: () => void;
      const inPreHandler = new Promise<void>((resolve) => (checking = resolve));
      vi.spyOn(t.deps.eventLog, 'lastSeq').mockImplementationOnce(async (id) => {
        checking();
        await new Promise((resolve) => setTimeout(resolve, 500));
        return lastSeq(id);
      });
      const late = connect(channelUrl(alice));
      await inPreHandler;
      appClosed = true;
      const started = Date.now();
      await t.close();
      // It closes with its server (it would otherwise hold the close until SHUTDOWN_TIMEOUT_MS).
      expect(Date.now() - started).toBeLessThan(5_000);
      for (const socket of sockets) expect(await socket.waitForClose(2_000)).toBe(1001);
      const lateSocket = await late.catch((error: unknown) => error);
      // Its upgrade either completes and the socket is closed at once with 1001, or is refused.
      if (lateSocket instanceof WsClient) expect(await lateSocket.waitForClose(2_000)).toBe(1001);
      else expect(lateSocket).toBeInstanceOf(Error);
    });
  });
});
