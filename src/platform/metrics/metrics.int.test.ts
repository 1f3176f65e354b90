import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { readSample } from '../../../test/support/metrics.js';
import { connect, listen, type WsClient } from '../../../test/support/ws.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const scraper = { authorization: `Bearer ${METRICS_TOKEN}` };

describe.skipIf(skipDatabaseTests)('GET /metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ METRICS_TOKEN });
  });
  afterAll(async () => t?.close());

  const scrape = async () => {
    const response = await t.inject({ url: '/metrics', headers: scraper });
    expect(response.statusCode, response.body).toBe(200);
    return response.body;
  };

  it('answers the Prometheus text format to the holder of METRICS_TOKEN, with process metrics', async () => {
    const response = await t.inject({ url: '/metrics', headers: scraper });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.body).toContain('# TYPE hubx_messages_written_total counter');
    expect(response.body).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(readSample(response.body, 'hubx_websocket_connections', { kind: 'channel' })).toBe(0);
    expect(readSample(response.body, 'hubx_websocket_connections', { kind: 'notifications' })).toBe(0);
    expect(readSample(response.body, 'hubx_bus_publish_backlog')).toBe(0);
  });

  it('refuses a request without the token, with a user token and with another token (401)', async () => {
    const user = await t.createUser({ staff: true });
    for (const headers of [
      {},
      user.auth,
      { authorization: `Bearer ${METRICS_TOKEN}x` },
      { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}` },
      { authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` },
      { authorization: METRICS_TOKEN },
    ]) {
      const response = await t.inject({ url: '/metrics', headers });
      expect(response.statusCode, JSON.stringify(headers)).toBe(401);
      expect(response.json()).toEqual({
        detail: 'GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>".',
        code: 'metrics.token_required',
      });
      expect(response.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(response.body).not.toContain('hubx_');
    }
  });

  it('counts exactly the messages stored, whether new or retried with the same client_id', async () => {
    const chat = chatClient(t);
    const owner = await t.createUser();
    const channel = await chat.createChannel(owner);
    const before = readSample(await scrape(), 'hubx_messages_written_total') ?? 0;
    for (let i = 0; i < 3; i += 1) await chat.sendMessage(owner, channel.id, { conteudo: `m${i}` });
    await chat.sendMessage(owner, channel.id, { client_id: 'once' });
    // A retry answers with the stored message (200) and stores nothing.
    const retry = await t.inject({
      method: 'POST',
      url: `/api/chat/channels/${channel.id}/messages/`,
      headers: owner.auth,
      payload: { tipo: 'text', conteudo: 'olá', client_id: 'once' },
    });
    expect(retry.statusCode).toBe(200);
    // A refused send stores nothing either.
    const empty = await t.inject({
      method: 'POST',
      url: `/api/chat/channels/${channel.id}/messages/`,
      headers: owner.auth,
      payload: { tipo: 'text', conteudo: '   ' },
    });
    expect(empty.statusCode).toBe(400);
    expect(readSample(await scrape(), 'hubx_messages_written_total')).toBe(before + 4);
  });

  it('counts HTTP requests by method, route pattern (no ids) and status, and times them', async () => {
    const chat = chatClient(t);
    const owner = await t.createUser();
    const channel = await chat.createChannel(owner);
    const route = '/api/chat/channels/:id/';
    const labels = (status: string) => ({ method: 'GET', route, status });
    const before = await scrape();
    const ok = readSample(before, 'hubx_http_requests_total', labels('200')) ?? 0;
    const notFound = readSample(before, 'hubx_http_requests_total', labels('404')) ?? 0;
    const unmatched =
      readSample(before, 'hubx_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }) ??
      0;

    for (let i = 0; i < 2; i += 1) {
      const response = await t.inject({ url: `/api/chat/channels/${channel.id}/`, headers: owner.auth });
      expect(response.statusCode).toBe(200);
    }
    const absent = await t.inject({
      url: '/api/chat/channels/0190a3f2-0000-7000-8000-000000000000/',
      headers: owner.auth,
    });
    expect(absent.statusCode).toBe(404);
    expect((await t.inject({ url: `/no/such/${channel.id}` })).statusCode).toBe(404);

    const after = await scrape();
    expect(readSample(after, 'hubx_http_requests_total', labels('200'))).toBe(ok + 2);
    expect(readSample(after, 'hubx_http_requests_total', labels('404'))).toBe(notFound + 1);
    expect(
      readSample(after, 'hubx_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }),
    ).toBe(unmatched + 1);
    expect(readSample(after, 'hubx_http_request_duration_seconds_count', labels('200'))).toBe(ok + 2);
    expect(
      readSample(after, 'hubx_http_request_duration_seconds_bucket', { ...labels('200'), le: '+Inf' }),
    ).toBe(ok + 2);
    // No label anywhere carries an id.
    expect(after).not.toContain(channel.id);
    expect(after).not.toContain('0190a3f2');
  });

  it('reports the jobs of the counts source at scrape time, and none when it fails', async () => {
    const counts = [
      { queue: 'events', state: 'waiting', count: 3 },
      { queue: 'events', state: 'failed', count: 1 },
      { queue: 'exports', state: 'active', count: 2 },
    ];
    let fail = false;
    t.deps.metrics.setJobCountsSource(async () => {
      if (fail) throw new Error('redis is away');
      return counts;
    });
    try {
      const body = await scrape();
      expect(readSample(body, 'hubx_jobs', { queue: 'events', state: 'waiting' })).toBe(3);
      expect(readSample(body, 'hubx_jobs', { queue: 'events', state: 'failed' })).toBe(1);
      expect(readSample(body, 'hubx_jobs', { queue: 'exports', state: 'active' })).toBe(2);

      counts.splice(0, 3, { queue: 'events', state: 'waiting', count: 0 });
      const next = await scrape();
      expect(readSample(next, 'hubx_jobs', { queue: 'events', state: 'waiting' })).toBe(0);
      expect(readSample(next, 'hubx_jobs', { queue: 'exports', state: 'active' })).toBeUndefined();

      fail = true;
      const failed = await scrape();
      expect(readSample(failed, 'hubx_jobs', { queue: 'events', state: 'waiting' })).toBeUndefined();
      expect(failed).toContain('hubx_messages_written_total');
    } finally {
      t.deps.metrics.setJobCountsSource(undefined);
    }
  });

  it('reports the gateway: open sockets by kind, events delivered, send → ack and commit → delivery', async () => {
    const base = await listen(t);
    const chat = chatClient(t);
    const owner = await t.createUser();
    const member = await t.createUser();
    const channel = await chat.createChannel(owner, { participantes: [member.id] });
    const sockets: WsClient[] = [];
    const before = await scrape();
    const count = (text: string, name: string, labels: Record<string, string> = {}) =>
      readSample(text, name, labels) ?? 0;
    try {
      sockets.push(await connect(`${base}/ws/chat/${channel.id}/?token=${owner.token}`));
      sockets.push(await connect(`${base}/ws/chat/${channel.id}/?token=${member.token}`));
      sockets.push(await connect(`${base}/ws/chat/notificacoes/?token=${member.token}`));
      const open = await scrape();
      expect(count(open, 'hubx_websocket_connections', { kind: 'channel' })).toBe(2);
      expect(count(open, 'hubx_websocket_connections', { kind: 'notifications' })).toBe(1);

      sockets[0]!.send({ tipo: 'text', conteudo: 'over the socket', client_id: 'm-1' });
      const ack = await sockets[0]!.waitFor((frame) => frame.type === 'ack');
      await sockets[1]!.waitFor((frame) => frame.type === 'chat.message' && frame.seq === ack.seq);
      const after = await scrape();
      expect(count(after, 'hubx_send_ack_seconds_count') - count(before, 'hubx_send_ack_seconds_count')).toBe(
        1,
      );
      // One event (the message) handed to the channel's two sockets.
      expect(count(after, 'hubx_events_delivered_total') - count(before, 'hubx_events_delivered_total')).toBe(
        2,
      );
      expect(
        count(after, 'hubx_commit_to_delivery_seconds_count') -
          count(before, 'hubx_commit_to_delivery_seconds_count'),
      ).toBe(1);
    } finally {
      for (const socket of sockets) socket.close();
      await Promise.all(sockets.map((socket) => socket.waitForClose(2_000)));
    }
    await expect
      .poll(async () => count(await scrape(), 'hubx_websocket_connections', { kind: 'channel' }))
      .toBe(0);
    expect(count(await scrape(), 'hubx_websocket_connections', { kind: 'notifications' })).toBe(0);
  });
});

describe.skipIf(skipDatabaseTests)('GET /metrics without METRICS_TOKEN', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t?.close());

  it('is off: 404 with or without a token', async () => {
    for (const headers of [{}, scraper]) {
      const response = await t.inject({ url: '/metrics', headers });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({ detail: 'Not found.', code: 'not_found' });
    }
  });
});
