import { describe, expect, it } from 'vitest';
import { readSample } from '../../../test/support/metrics.js';
import { createMetrics } from './metrics.js';

describe('createMetrics', () => {
  it('keeps each instance apart: two registries, the same names, no clash', async () => {
    const first = createMetrics();
    const second = createMetrics();
    first.messagesWritten(2);
    expect(readSample(await first.render(), 'hubx_messages_written_total')).toBe(2);
    expect(readSample(await second.render(), 'hubx_messages_written_total')).toBe(0);
  });

  it('collects process metrics only when asked to', async () => {
    expect(await createMetrics().render()).not.toContain('process_cpu_user_seconds_total');
    expect(await createMetrics({ collectProcessMetrics: true }).render()).toContain(
      'process_cpu_user_seconds_total',
    );
  });

  it('counts the gateway: sockets by kind, events delivered, send → ack and commit → delivery', async () => {
    const metrics = createMetrics();
    metrics.socketOpened('channel');
    metrics.socketOpened('channel');
    metrics.socketOpened('notifications');
    metrics.socketClosed('channel');
    metrics.eventsDelivered(5);
    metrics.eventsDelivered(0);
    metrics.observeSendAck(0.003);
    metrics.observeCommitToDelivery(0.02);
    // Another node's clock a little ahead: counted as no delay, not as a negative one.
    metrics.observeCommitToDelivery(-0.004);

    const text = await metrics.render();
    expect(readSample(text, 'hubx_websocket_connections', { kind: 'channel' })).toBe(1);
    expect(readSample(text, 'hubx_websocket_connections', { kind: 'notifications' })).toBe(1);
    expect(readSample(text, 'hubx_events_delivered_total')).toBe(5);
    expect(readSample(text, 'hubx_send_ack_seconds_bucket', { le: '0.0025' })).toBe(0);
    expect(readSample(text, 'hubx_send_ack_seconds_bucket', { le: '0.005' })).toBe(1);
    expect(readSample(text, 'hubx_send_ack_seconds_count')).toBe(1);
    expect(readSample(text, 'hubx_commit_to_delivery_seconds_bucket', { le: '0.001' })).toBe(1);
    expect(readSample(text, 'hubx_commit_to_delivery_seconds_bucket', { le: '0.025' })).toBe(2);
    expect(readSample(text, 'hubx_commit_to_delivery_seconds_sum')).toBeCloseTo(0.02);
  });

  it('labels HTTP requests by route pattern, an unmatched route as one label, and odd methods as OTHER', async () => {
    const metrics = createMetrics();
    const request = { method: 'GET', route: '/api/chat/channels/:id/', status: 200, seconds: 0.004 };
    metrics.observeHttpRequest(request);
    metrics.observeHttpRequest(request);
    metrics.observeHttpRequest({ ...request, status: 404 });
    metrics.observeHttpRequest({ ...request, route: undefined, status: 404 });
    metrics.observeHttpRequest({ ...request, method: 'PROPFIND', route: undefined, status: 404 });

    const text = await metrics.render();
    const labels = { method: 'GET', route: '/api/chat/channels/:id/' };
    expect(readSample(text, 'hubx_http_requests_total', { ...labels, status: '200' })).toBe(2);
    expect(readSample(text, 'hubx_http_requests_total', { ...labels, status: '404' })).toBe(1);
    expect(
      readSample(text, 'hubx_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }),
    ).toBe(1);
    expect(
      readSample(text, 'hubx_http_requests_total', { method: 'OTHER', route: 'unmatched', status: '404' }),
    ).toBe(1);
    expect(
      readSample(text, 'hubx_http_request_duration_seconds_bucket', {
        ...labels,
        status: '200',
        le: '0.005',
      }),
    ).toBe(2);
  });

  it('reads the bus backlog at scrape time and counts reconnections per connection', async () => {
    const metrics = createMetrics();
    let backlog = 7;
    metrics.setBusBacklogSource(() => backlog);
    metrics.busReconnected('publisher');
    metrics.busReconnected('publisher');
    metrics.busReconnected('subscriber');
    let text = await metrics.render();
    expect(readSample(text, 'hubx_bus_publish_backlog')).toBe(7);
    expect(readSample(text, 'hubx_bus_reconnects_total', { connection: 'publisher' })).toBe(2);
    expect(readSample(text, 'hubx_bus_reconnects_total', { connection: 'subscriber' })).toBe(1);
    backlog = 0;
    text = await metrics.render();
    expect(readSample(text, 'hubx_bus_publish_backlog')).toBe(0);
  });

  it('answers a scrape without the job counts when their source hangs, and says why', async () => {
    const errors: unknown[] = [];
    const metrics = createMetrics({ onCollectError: (error) => errors.push(error), jobCountsTimeoutMs: 50 });
    metrics.setJobCountsSource(() => new Promise(() => undefined));
    const started = Date.now();
    const text = await metrics.render();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(text).not.toMatch(/^hubx_jobs\{/m);
    expect(text).toContain('hubx_messages_written_total 0');
    expect(String(errors[0])).toContain('reading job counts took longer than 50 ms');
  });
});
