import { asc, count, eq } from 'drizzle-orm';
import { expectEventLogIntact as expectLogIntact } from './support/event-log.js';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatChannels } from '../src/modules/channels/channels.table.js';
import { contextMemberships } from '../src/modules/contexts/contexts.table.js';
import { chatEvents } from '../src/modules/events/events.table.js';
import { chatMessages } from '../src/modules/messages/messages.table.js';
import { chatMessageEdits, chatModerationLogs } from '../src/modules/moderation/moderation.table.js';
import { chatParticipants } from '../src/modules/channels/participants.table.js';
import { newId } from '../src/shared/ids.js';
import { createTestApp, type TestApp, type TestUser } from './support/app.js';
import { chatClient } from './support/chat.js';
import { skipDatabaseTests } from './support/database.js';

type Response = Awaited<ReturnType<TestApp['inject']>>;

/** A 4xx answer shaped `{detail, code}` (no stack, no request_id, nothing else). */
function expectClientError(response: Response, status: number | number[], code?: string) {
  const statuses = Array.isArray(status) ? status : [status];
  expect(statuses, `${response.statusCode} ${response.body.slice(0, 300)}`).toContain(response.statusCode);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json() as { detail: unknown; code: unknown };
  expect(body).toEqual({ detail: expect.any(String), code: expect.any(String) });
  expect((body.detail as string).length).toBeGreaterThan(0);
  if (code) expect(body.code).toBe(code);
}

/** `[[[[…]]]]` nested `depth` times. */
const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
/** `{"a":{"a":…{}}}` nested `depth` times. */
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;

describe.skipIf(skipDatabaseTests)('bad input', () => {
  let t: TestApp;
  let alice: TestUser; // owner of the channel
  let bob: TestUser; // participant
  let carol: TestUser; // not in the channel
  let staff: TestUser;
  let channelId: string;
  let messageId: string;

  const db = () => t.deps.database.db;
  const channelUrl = () => `/api/chat/channels/${channelId}/`;
  const messagesUrl = () => `/api/chat/channels/${channelId}/messages/`;
  const messageUrl = () => `/api/chat/channels/${channelId}/messages/${messageId}/`;

  /** Every endpoint that takes a JSON body, with who calls it. */
  const bodyEndpoints = (): {
    name: string;
    method: 'POST' | 'PATCH' | 'PUT';
    url: string;
    user: TestUser;
  }[] => [
    { name: 'create channel', method: 'POST', url: '/api/chat/channels/', user: alice },
    { name: 'update channel', method: 'PATCH', url: channelUrl(), user: alice },
    { name: 'send message', method: 'POST', url: messagesUrl(), user: bob },
    { name: 'edit message', method: 'PATCH', url: messageUrl(), user: bob },
    { name: 'add participant', method: 'POST', url: `${channelUrl()}add_participant/`, user: alice },
    { name: 'remove participant', method: 'POST', url: `${channelUrl()}remove_participant/`, user: alice },
    { name: 'set role', method: 'POST', url: `${channelUrl()}participants/${bob.id}/role/`, user: alice },
    {
      name: 'context member',
      method: 'PUT',
      url: `/api/chat/contexts/nucleo/n1/members/${bob.id}/`,
      user: staff,
    },
  ];

  function raw(
    method: InjectOptions['method'],
    url: string,
    user: TestUser,
    body: string,
    contentType?: string,
  ) {
    return t.inject({
      method,
      url,
      headers: { ...user.auth, ...(contentType ? { 'content-type': contentType } : {}) },
      payload: body,
    });
  }
  const json = (method: InjectOptions['method'], url: string, user: TestUser, body: unknown) =>
    raw(method, url, user, JSON.stringify(body), 'application/json');

  /** What a bad request must leave untouched: row counts and the rows it aimed at. */
  async function snapshot() {
    const counts = await Promise.all(
      [
        chatMessages,
        chatChannels,
        chatParticipants,
        chatEvents,
        chatMessageEdits,
        chatModerationLogs,
        contextMemberships,
      ].map(async (table) => Number((await db().select({ total: count() }).from(table))[0]!.total)),
    );
    const channel = await db().select().from(chatChannels).where(eq(chatChannels.id, channelId));
    const message = await db().select().from(chatMessages).where(eq(chatMessages.id, messageId));
    const participants = await db()
      .select()
      .from(chatParticipants)
      .where(eq(chatParticipants.channelId, channelId))
      .orderBy(asc(chatParticipants.id));
    return { counts, channel, message, participants };
  }
  /** Runs the bad requests and checks that nothing at all was written. */
  async function expectNothingWritten(work: () => Promise<void>) {
    const before = await snapshot();
    await work();
    expect(await snapshot()).toEqual(before);
  }

  const expectEventLogIntact = (channel: string) => expectLogIntact(db(), channel);

  beforeAll(async () => {
    t = await createTestApp();
    const client = chatClient(t);
    [alice, bob, carol] = await Promise.all([t.createUser(), t.createUser(), t.createUser()]);
    staff = await t.createUser({ staff: true });
    channelId = (await client.createChannel(alice, { titulo: 'Alvo', participantes: [bob.id] })).id;
    messageId = (await client.sendMessage(bob, channelId, { conteudo: 'intacta' })).id;
  });
  afterAll(async () => t?.close());

  it('malformed JSON: 400 invalid_json on every endpoint', async () => {
    await expectNothingWritten(async () => {
      for (const endpoint of bodyEndpoints()) {
        for (const body of [
          '{"tipo": "text",',
          '{tipo: "text"}',
          "{'a': 1}",
          '{"a":1}}',
          'nul',
          '{"a":"\\x"}',
          '\u0000',
        ]) {
          expectClientError(
            await raw(endpoint.method, endpoint.url, endpoint.user, body, 'application/json'),
            400,
            'invalid_json',
          );
        }
      }
    });
  });

  it('an empty body or JSON that is not an object (null, arrays, scalars): 400', async () => {
    await expectNothingWritten(async () => {
      for (const endpoint of bodyEndpoints()) {
        expectClientError(
          await raw(endpoint.method, endpoint.url, endpoint.user, '', 'application/json'),
          400,
        );
        for (const body of [
          'null',
          '[]',
          '"texto"',
          '42',
          'true',
          '[{"tipo":"text","conteudo":"x"}]',
          `[{"usuarios":["${carol.id}"]}]`,
        ]) {
          expectClientError(
            await raw(endpoint.method, endpoint.url, endpoint.user, body, 'application/json'),
            400,
            'validation_error',
          );
        }
      }
    });
  });

  it('wrong types: 400 validation_error, never coerced', async () => {
    const cases: [string, InjectOptions['method'], () => string, () => TestUser, unknown][] = [
      ['conteudo: 5', 'POST', messagesUrl, () => bob, { tipo: 'text', conteudo: 5 }],
      ['conteudo: null', 'POST', messagesUrl, () => bob, { tipo: 'text', conteudo: null }],
      ['conteudo: {}', 'POST', messagesUrl, () => bob, { tipo: 'text', conteudo: {} }],
      ['conteudo: ["x"]', 'POST', messagesUrl, () => bob, { tipo: 'text', conteudo: ['x'] }],
      ['tipo: 1', 'POST', messagesUrl, () => bob, { tipo: 1, conteudo: 'x' }],
      ['tipo missing', 'POST', messagesUrl, () => bob, { conteudo: 'x' }],
      ['client_id: 5', 'POST', messagesUrl, () => bob, { tipo: 'text', conteudo: 'x', client_id: 5 }],
      ['client_id: ""', 'POST', messagesUrl, () => bob, { tipo: 'text', conteudo: 'x', client_id: '' }],
      [
        'client_id too long',
        'POST',
        messagesUrl,
        () => bob,
        { tipo: 'text', conteudo: 'x', client_id: 'c'.repeat(65) },
      ],
      ['reply_to: 5', 'POST', messagesUrl, () => bob, { tipo: 'text', conteudo: 'x', reply_to: 5 }],
      [
        'key_version: "1"',
        'POST',
        messagesUrl,
        () => bob,
        { tipo: 'text', conteudo_cifrado: 'x', key_version: '1' },
      ],
      [
        'key_version: 1.5',
        'POST',
        messagesUrl,
        () => bob,
        { tipo: 'text', conteudo_cifrado: 'x', key_version: 1.5 },
      ],
      [
        'key_version: 2^31',
        'POST',
        messagesUrl,
        () => bob,
        { tipo: 'text', conteudo_cifrado: 'x', key_version: 2 ** 31 },
      ],
      [
        'key_version: -1',
        'POST',
        messagesUrl,
        () => bob,
        { tipo: 'text', conteudo_cifrado: 'x', key_version: -1 },
      ],
      [
        'conteudo over the schema limit',
        'POST',
        messagesUrl,
        () => bob,
        { tipo: 'text', conteudo: 'a'.repeat(400_001) },
      ],
      ['edit conteudo: 5', 'PATCH', messageUrl, () => bob, { conteudo: 5 }],
      ['edit conteudo: null', 'PATCH', messageUrl, () => bob, { conteudo: null }],
      ['edit {}', 'PATCH', messageUrl, () => bob, {}],
      [
        'titulo: ["x"]',
        'POST',
        () => '/api/chat/channels/',
        () => alice,
        { contexto_tipo: 'privado', titulo: ['x'] },
      ],
      [
        'titulo: 5',
        'POST',
        () => '/api/chat/channels/',
        () => alice,
        { contexto_tipo: 'privado', titulo: 5 },
      ],
      [
        'titulo blank',
        'POST',
        () => '/api/chat/channels/',
        () => alice,
        { contexto_tipo: 'privado', titulo: '   ' },
      ],
      [
        'titulo too long',
        'POST',
        () => '/api/chat/channels/',
        () => alice,
        { contexto_tipo: 'privado', titulo: 't'.repeat(201) },
      ],
      ['titulo missing', 'POST', () => '/api/chat/channels/', () => alice, { contexto_tipo: 'privado' }],
      [
        'contexto_tipo unknown',
        'POST',
        () => '/api/chat/channels/',
        () => alice,
        { contexto_tipo: 'secreto', titulo: 'x' },
      ],
      [
        'participantes: "abc"',
        'POST',
        () => '/api/chat/channels/',
        () => alice,
        { contexto_tipo: 'privado', titulo: 'x', participantes: 'abc' },
      ],
      [
        'participantes: [5]',
        'POST',
        () => '/api/chat/channels/',
        () => alice,
        { contexto_tipo: 'privado', titulo: 'x', participantes: [5] },
      ],
      [
        'participantes: {}',
        'POST',
        () => '/api/chat/channels/',
        () => alice,
        { contexto_tipo: 'privado', titulo: 'x', participantes: {} },
      ],
      [
        'e2ee_habilitado: "true"',
        'POST',
        () => '/api/chat/channels/',
        () => alice,
        { contexto_tipo: 'privado', titulo: 'x', e2ee_habilitado: 'true' },
      ],
      ['update titulo: ["x"]', 'PATCH', channelUrl, () => alice, { titulo: ['x'] }],
      ['update categoria: 5', 'PATCH', channelUrl, () => alice, { categoria: 5 }],
      ['update {}', 'PATCH', channelUrl, () => alice, {}],
      ['usuarios: "abc"', 'POST', () => `${channelUrl()}add_participant/`, () => alice, { usuarios: 'abc' }],
      ['usuarios: []', 'POST', () => `${channelUrl()}add_participant/`, () => alice, { usuarios: [] }],
      ['usuarios: [1]', 'POST', () => `${channelUrl()}add_participant/`, () => alice, { usuarios: [1] }],
      ['usuarios: {}', 'POST', () => `${channelUrl()}add_participant/`, () => alice, { usuarios: {} }],
      [
        'usuarios: [null]',
        'POST',
        () => `${channelUrl()}remove_participant/`,
        () => alice,
        { usuarios: [null] },
      ],
      [
        'is_admin: "yes"',
        'POST',
        () => `${channelUrl()}participants/${bob.id}/role/`,
        () => alice,
        { is_admin: 'yes' },
      ],
      [
        'is_admin: 1',
        'POST',
        () => `${channelUrl()}participants/${bob.id}/role/`,
        () => alice,
        { is_admin: 1 },
      ],
      ['is_admin missing', 'POST', () => `${channelUrl()}participants/${bob.id}/role/`, () => alice, {}],
    ];
    await expectNothingWritten(async () => {
      for (const [name, method, url, user, body] of cases) {
        const response = await json(method, url(), user(), body);
        expect(response.statusCode, `${name}: ${response.body.slice(0, 300)}`).toBe(400);
        expectClientError(response, 400, 'validation_error');
      }
    });
  });

  it('unknown fields: 400 naming the field', async () => {
    const cases: [InjectOptions['method'], () => string, () => TestUser, Record<string, unknown>][] = [
      ['POST', messagesUrl, () => bob, { tipo: 'text', conteudo: 'x', remetente: alice.id }],
      ['POST', messagesUrl, () => bob, { tipo: 'text', conteudo: 'x', seq: 1 }],
      ['PATCH', messageUrl, () => bob, { conteudo: 'x', hidden_at: null }],
      [
        'POST',
        () => '/api/chat/channels/',
        () => alice,
        { contexto_tipo: 'privado', titulo: 'x', created_by: bob.id },
      ],
      ['PATCH', channelUrl, () => alice, { titulo: 'x', e2ee_habilitado: true }],
      [
        'POST',
        () => `${channelUrl()}add_participant/`,
        () => alice,
        { usuarios: [carol.id], is_admin: true },
      ],
      [
        'POST',
        () => `${channelUrl()}participants/${bob.id}/role/`,
        () => alice,
        { is_admin: true, is_owner: true },
      ],
    ];
    await expectNothingWritten(async () => {
      for (const [method, url, user, body] of cases) {
        const response = await json(method, url(), user(), body);
        expectClientError(response, 400, 'validation_error');
        const field = Object.keys(body).at(-1)!;
        expect((response.json() as { detail: string }).detail).toContain(field);
      }
    });
  });

  it('prototype-polluting keys are refused', async () => {
    await expectNothingWritten(async () => {
      for (const body of [
        '{"tipo":"text","conteudo":"x","__proto__":{"isStaff":true}}',
        '{"tipo":"text","conteudo":"x","constructor":{"prototype":{"isStaff":true}}}',
      ]) {
        expectClientError(await raw('POST', messagesUrl(), bob, body, 'application/json'), 400);
      }
    });
  });

  it('a body over BODY_LIMIT_BYTES (1 MiB): 413 payload_too_large', async () => {
    expect(t.config.http.bodyLimit).toBe(1_048_576);
    const big = 'a'.repeat(1_048_576);
    await expectNothingWritten(async () => {
      expectClientError(
        await json('POST', messagesUrl(), bob, { tipo: 'text', conteudo: big }),
        413,
        'payload_too_large',
      );
      expectClientError(await json('PATCH', messageUrl(), bob, { conteudo: big }), 413, 'payload_too_large');
      expectClientError(
        await json('POST', '/api/chat/channels/', alice, {
          contexto_tipo: 'privado',
          titulo: 'x',
          descricao: big,
        }),
        413,
        'payload_too_large',
      );
      expectClientError(
        await json('POST', `${channelUrl()}add_participant/`, alice, {
          usuarios: Array(40_000).fill(carol.id),
        }),
        413,
        'payload_too_large',
      );
    });
    // Just under the limit but over MESSAGE_MAX_CHARS: the content rule answers, not a crash.
    await expectNothingWritten(async () => {
      expectClientError(
        await json('POST', messagesUrl(), bob, { tipo: 'text', conteudo: 'a'.repeat(300_000) }),
        400,
        'messages.too_long',
      );
    });
  });

  it('a missing or foreign content-type: 415 (or 400), never 5xx', async () => {
    const body = JSON.stringify({ tipo: 'text', conteudo: 'sem content-type' });
    await expectNothingWritten(async () => {
      for (const endpoint of bodyEndpoints()) {
        expectClientError(await raw(endpoint.method, endpoint.url, endpoint.user, body), [400, 415]);
        expectClientError(
          await raw(endpoint.method, endpoint.url, endpoint.user, body, 'text/plain'),
          [400, 415],
        );
        expectClientError(
          await raw(
            endpoint.method,
            endpoint.url,
            endpoint.user,
            'conteudo=x',
            'application/x-www-form-urlencoded',
          ),
          415,
          'unsupported_media_type',
        );
        expectClientError(
          await raw(endpoint.method, endpoint.url, endpoint.user, body, 'multipart/form-data; boundary=x'),
          415,
          'unsupported_media_type',
        );
      }
    });
  });

  it('deeply nested junk: 400, never a stack overflow', async () => {
    await expectNothingWritten(async () => {
      for (const junk of [nestedArrays(20_000), nestedObjects(20_000)]) {
        expectClientError(
          await raw(
            'POST',
            messagesUrl(),
            bob,
            `{"tipo":"text","conteudo":"x","junk":${junk}}`,
            'application/json',
          ),
          400,
        );
        expectClientError(
          await raw('POST', messagesUrl(), bob, `{"tipo":"text","conteudo":${junk}}`, 'application/json'),
          400,
        );
        expectClientError(
          await raw(
            'POST',
            `${channelUrl()}add_participant/`,
            alice,
            `{"usuarios":${junk}}`,
            'application/json',
          ),
          400,
        );
      }
      // The whole body, nested as deep as 1 MiB allows.
      expectClientError(
        await raw('POST', messagesUrl(), bob, nestedArrays(500_000), 'application/json'),
        400,
      );
      expectClientError(
        await raw('POST', '/api/chat/channels/', alice, nestedObjects(100_000), 'application/json'),
        400,
      );
    });
  });

  it('NUL characters in body strings or keys: 400 invalid_characters', async () => {
    await expectNothingWritten(async () => {
      const cases: [InjectOptions['method'], string, TestUser, unknown][] = [
        ['POST', messagesUrl(), bob, { tipo: 'text', conteudo: 'a\u0000b' }],
        ['POST', messagesUrl(), bob, { tipo: 'text', conteudo: 'x', client_id: 'c\u0000' }],
        ['PATCH', messageUrl(), bob, { conteudo: '\u0000' }],
        ['POST', '/api/chat/channels/', alice, { contexto_tipo: 'privado', titulo: 'a\u0000' }],
        [
          'POST',
          '/api/chat/channels/',
          alice,
          { contexto_tipo: 'privado', titulo: 'x', descricao: '\u0000' },
        ],
        ['PATCH', channelUrl(), alice, { categoria: 'c\u0000' }],
        ['POST', messagesUrl(), bob, { tipo: 'text', conteudo: 'x', ['k\u0000']: 1 }],
        ['POST', messagesUrl(), bob, { tipo: 'text', conteudo: 'x', deep: [[[{ a: ['\u0000'] }]]] }],
      ];
      for (const [method, url, user, body] of cases) {
        expectClientError(await json(method, url, user, body), 400, 'invalid_characters');
      }
    });
  });

  it('NUL characters in query strings: 400', async () => {
    await expectNothingWritten(async () => {
      for (const url of [
        `${messagesUrl()}?cursor=%00`,
        `${messagesUrl()}?desde=%00`,
        `${messagesUrl()}?ate=2021-01-01%00`,
        `${channelUrl()}participants/?cursor=%00`,
        '/api/chat/channels/?cursor=%00',
      ]) {
        const response = await t.inject({ url, headers: bob.auth });
        expect(response.statusCode, `${url}: ${response.body}`).toBe(400);
        expectClientError(response, 400);
      }
    });
  });

  it('a NUL character in the categoria filter of the channel list: 400, not a database error', async () => {
    const statuses: string[] = [];
    for (const query of ['categoria=%00', 'categoria=a%00b']) {
      const response = await t.inject({ url: `/api/chat/channels/?${query}`, headers: bob.auth });
      statuses.push(`${query} → ${response.statusCode} ${(response.json() as { code: string }).code}`);
    }
    expect(statuses).toEqual([
      'categoria=%00 → 400 invalid_characters',
      'categoria=a%00b → 400 invalid_characters',
    ]);
  });

  it('ids in the path that are not UUIDs: 404 not_found', async () => {
    const badIds = [
      'abc',
      '123',
      `${newId()}x`,
      newId().replaceAll('-', '').slice(0, 30),
      'null',
      '%20',
      '..%2F..',
    ];
    await expectNothingWritten(async () => {
      for (const bad of badIds) {
        const requests: InjectOptions[] = [
          { method: 'GET', url: `/api/chat/channels/${bad}/` },
          { method: 'PATCH', url: `/api/chat/channels/${bad}/`, payload: { titulo: 'x' } },
          { method: 'DELETE', url: `/api/chat/channels/${bad}/` },
          { method: 'GET', url: `/api/chat/channels/${bad}/messages/` },
          {
            method: 'POST',
            url: `/api/chat/channels/${bad}/messages/`,
            payload: { tipo: 'text', conteudo: 'x' },
          },
          { method: 'GET', url: `/api/chat/channels/${channelId}/messages/${bad}/` },
          {
            method: 'PATCH',
            url: `/api/chat/channels/${channelId}/messages/${bad}/`,
            payload: { conteudo: 'x' },
          },
          { method: 'DELETE', url: `/api/chat/channels/${channelId}/messages/${bad}/` },
          {
            method: 'POST',
            url: `/api/chat/channels/${bad}/add_participant/`,
            payload: { usuarios: [carol.id] },
          },
          { method: 'POST', url: `/api/chat/channels/${bad}/leave/` },
          {
            method: 'POST',
            url: `/api/chat/channels/${channelId}/participants/${bad}/role/`,
            payload: { is_admin: true },
          },
        ];
        for (const request of requests) {
          const user =
            request.method === 'DELETE' && !request.url!.toString().includes('messages') ? staff : alice;
          const response = await t.inject({ ...request, headers: user.auth });
          expect(response.statusCode, `${request.method} ${request.url}: ${response.body}`).toBe(404);
          expectClientError(response, 404);
        }
      }
    });
  });

  it('urn:uuid: ids (valid for the uuid format, not for PostgreSQL): 404 in the path, 400 in the body, never 500', async () => {
    const urn = (id: string) => `urn:uuid:${id}`;
    const cases: [InjectOptions, TestUser, number][] = [
      [{ method: 'GET', url: `/api/chat/channels/${urn(channelId)}/` }, alice, 404],
      [{ method: 'GET', url: `/api/chat/channels/${urn(channelId)}/messages/` }, alice, 404],
      [{ method: 'GET', url: `/api/chat/channels/${channelId}/messages/${urn(messageId)}/` }, alice, 404],
      [{ method: 'DELETE', url: `/api/chat/channels/${channelId}/messages/${urn(messageId)}/` }, alice, 404],
      [
        {
          method: 'POST',
          url: `${channelUrl()}participants/${urn(bob.id)}/role/`,
          payload: { is_admin: true },
        },
        alice,
        404,
      ],
      [
        { method: 'PUT', url: `/api/chat/contexts/nucleo/n1/members/${urn(carol.id)}/`, payload: {} },
        staff,
        404,
      ],
      [
        {
          method: 'POST',
          url: messagesUrl(),
          payload: { tipo: 'text', conteudo: 'x', reply_to: urn(messageId) },
        },
        bob,
        400,
      ],
      [
        { method: 'POST', url: `${channelUrl()}add_participant/`, payload: { usuarios: [urn(carol.id)] } },
        alice,
        400,
      ],
      [
        { method: 'POST', url: `${channelUrl()}remove_participant/`, payload: { usuarios: [urn(bob.id)] } },
        alice,
        400,
      ],
      [
        {
          method: 'POST',
          url: '/api/chat/channels/',
          payload: { contexto_tipo: 'privado', titulo: 'x', participantes: [urn(carol.id)] },
        },
        alice,
        400,
      ],
    ];
    await expectNothingWritten(async () => {
      const answers: string[] = [];
      for (const [request, user] of cases) {
        const response = await t.inject({ ...request, headers: user.auth });
        answers.push(`${request.method} ${request.url} → ${response.statusCode}`);
        if (response.statusCode < 500) expectClientError(response, response.statusCode);
      }
      expect(answers).toEqual(
        cases.map(([request, , status]) => `${request.method} ${request.url} → ${status}`),
      );
    });
  });

  it('ids in the body that are not UUIDs: 400', async () => {
    await expectNothingWritten(async () => {
      for (const bad of ['abc', '', '123', `${newId()}x`, newId().toUpperCase().replaceAll('-', '')]) {
        expectClientError(
          await json('POST', messagesUrl(), bob, { tipo: 'text', conteudo: 'x', reply_to: bad }),
          400,
        );
      }
      for (const bad of ['abc', '', `${carol.id}0`, `{${carol.id}}`]) {
        expectClientError(
          await json('POST', `${channelUrl()}add_participant/`, alice, { usuarios: [carol.id, bad] }),
          400,
        );
        expectClientError(
          await json('POST', `${channelUrl()}remove_participant/`, alice, { usuarios: [bob.id, bad] }),
          400,
        );
        expectClientError(
          await json('POST', '/api/chat/channels/', alice, {
            contexto_tipo: 'privado',
            titulo: 'x',
            participantes: [carol.id, bad],
          }),
          400,
        );
      }
    });
  });

  it('invalid cursors: 400', async () => {
    await expectNothingWritten(async () => {
      for (const cursor of ['abc', '!!!', Buffer.from('["a",-1]').toString('base64url'), 'x'.repeat(201)]) {
        const response = await t.inject({
          url: `${messagesUrl()}?cursor=${encodeURIComponent(cursor)}`,
          headers: bob.auth,
        });
        expectClientError(response, 400);
      }
      for (const url of ['/api/chat/channels/?cursor=abc', `${channelUrl()}participants/?cursor=abc`]) {
        expectClientError(await t.inject({ url, headers: bob.auth }), 400, 'validation_error');
      }
    });
  });

  it('limit 0, 201, "abc", -1, 1.5, not written in decimals, repeated or empty: 400 on every list', async () => {
    await expectNothingWritten(async () => {
      for (const list of [messagesUrl(), '/api/chat/channels/', `${channelUrl()}participants/`]) {
        for (const limit of [
          'limit=0',
          'limit=201',
          'limit=abc',
          'limit=-1',
          'limit=1.5',
          // Numbers all the same to Ajv's coercion, but not a count as anyone writes one.
          'limit=0x10',
          'limit=1e1',
          'limit=%205',
          'limit=+5',
          'limit=1&limit=2',
          'limit=',
        ]) {
          const response = await t.inject({ url: `${list}?${limit}`, headers: bob.auth });
          expect(response.statusCode, `${list}?${limit}: ${response.body}`).toBe(400);
          expectClientError(response, 400, 'validation_error');
        }
        expectClientError(
          await t.inject({ url: `${list}?unknown=1`, headers: bob.auth }),
          400,
          'validation_error',
        );
        expect((await t.inject({ url: `${list}?limit=200`, headers: bob.auth })).statusCode).toBe(200);
      }
    });
  });

  it('invalid dates in desde/ate: 400', async () => {
    await expectNothingWritten(async () => {
      for (const query of [
        'desde=amanha',
        'ate=2021-99-99',
        'desde=2021-01-01T10:00:00Zjunk',
        'desde=1&desde=2',
        `ate=${'9'.repeat(65)}`,
      ]) {
        expectClientError(await t.inject({ url: `${messagesUrl()}?${query}`, headers: bob.auth }), 400);
      }
    });
  });

  it('the target rows are still exactly as created', async () => {
    const [message] = await db().select().from(chatMessages).where(eq(chatMessages.id, messageId));
    expect(message).toMatchObject({ conteudo: 'intacta', editedAt: null, deletedAt: null });
    const [channel] = await db().select().from(chatChannels).where(eq(chatChannels.id, channelId));
    expect(channel).toMatchObject({ titulo: 'Alvo', categoria: null });
    await expectEventLogIntact(channelId);
  });

  describe('random input (fast-check)', () => {
    const anyJson = fc.jsonValue({ maxDepth: 3 });
    const messageBody = fc.oneof(
      anyJson,
      fc.record(
        {
          tipo: fc.oneof(fc.constantFrom('text', 'image', 'video', 'file', ''), anyJson),
          conteudo: fc.oneof(fc.string(), fc.string({ unit: 'binary' }), anyJson),
          conteudo_cifrado: fc.oneof(fc.string(), anyJson),
          alg: fc.oneof(fc.constantFrom('AES-GCM', 'none'), anyJson),
          key_version: fc.oneof(fc.integer(), fc.double(), anyJson),
          reply_to: fc.oneof(fc.uuid(), fc.constant(null), fc.string(), anyJson),
          client_id: fc.oneof(fc.string(), anyJson),
        },
        { requiredKeys: [] },
      ),
      fc.dictionary(fc.string(), anyJson, { maxKeys: 5 }),
    );

    it('random JSON bodies at POST messages never get a 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(messageBody, async (body) => {
          const response = await json('POST', messagesUrl(), bob, body);
          expect(response.statusCode, `${JSON.stringify(body)} → ${response.body}`).toBeLessThan(500);
          if (response.statusCode >= 400) expectClientError(response, response.statusCode);
          else expect([200, 201]).toContain(response.statusCode);
        }),
        { numRuns: 200 },
      );
      await expectEventLogIntact(channelId);
    });

    it('random raw bodies and content-types never get a 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.constantFrom(
            'application/json',
            'application/json; charset=utf-8',
            'text/plain',
            'application/xml',
            '',
          ),
          async (body, contentType) => {
            const response = await raw('POST', messagesUrl(), bob, body, contentType || undefined);
            expect(
              response.statusCode,
              `${JSON.stringify(body)} (${contentType}) → ${response.body}`,
            ).toBeLessThan(500);
          },
        ),
        { numRuns: 150 },
      );
    });

    it('random query strings on GET messages never get a 5xx', async () => {
      const key = fc.oneof(fc.constantFrom('cursor', 'limit', 'desde', 'ate'), fc.string({ maxLength: 8 }));
      await fc.assert(
        fc.asyncProperty(
          fc.dictionary(key, fc.string({ unit: 'binary', maxLength: 40 }), { maxKeys: 4 }),
          async (query) => {
            const search = new URLSearchParams(query).toString();
            const response = await t.inject({ url: `${messagesUrl()}?${search}`, headers: bob.auth });
            expect(response.statusCode, `?${search} → ${response.body}`).toBeLessThan(500);
            if (response.statusCode >= 400) expectClientError(response, response.statusCode);
          },
        ),
        { numRuns: 150 },
      );
    });
  });
});
