import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/support/app.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { busEnv, buses } from '../../../test/support/ws.js';

// The operators' queue view: jobs per state per queue, for staff only — on the embedded (inline)
// runner and on BullMQ with the real Redis.
describe.skipIf(skipDatabaseTests).each(buses)('GET /api/chat/admin/jobs/ ($name)', ({ redis, skip }) => {
  let t: TestApp;

  beforeAll(async () => {
    if (skip) return;
    t = await createTestApp(busEnv(redis));
  });
  afterAll(async () => t?.close());

  const view = (headers: Record<string, string> = {}) => t.inject({ url: '/api/chat/admin/jobs/', headers });

  it.skipIf(skip)('refuses anonymous callers (401) and users who are not staff (403)', async () => {
    const anonymous = await view();
    expect(anonymous.statusCode, anonymous.body).toBe(401);
    expect(anonymous.json()).toMatchObject({ code: 'auth.not_authenticated' });
    const user = await t.createUser();
    const refused = await view(user.auth);
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'operations.staff_only' });
    expect(refused.body).not.toContain('maintenance');
  });

  it.skipIf(skip)('shows staff the jobs per state of every queue', async () => {
    const staff = await t.createUser({ staff: true });
    const before = await view(staff.auth);
    expect(before.statusCode, before.body).toBe(200);
    const zero = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0, paused: 0 };
    expect(before.json()).toEqual({
      mode: redis ? 'bullmq' : 'inline',
      queues: [{ queue: 'maintenance', counts: zero }],
    });

    // Nothing processes jobs in this app (its runner is not started): an enqueued job waits.
    await t.deps.jobs.enqueue('events.prune_log', {}, { jobId: 'queue-view-test' });
    await t.deps.jobs.enqueue('events.prune_log', {}, { jobId: 'queue-view-test' });
    const after = await view(staff.auth);
    expect(after.statusCode, after.body).toBe(200);
    expect(after.json()).toEqual({
      mode: redis ? 'bullmq' : 'inline',
      queues: [{ queue: 'maintenance', counts: { ...zero, waiting: 1 } }],
    });
  });
});
