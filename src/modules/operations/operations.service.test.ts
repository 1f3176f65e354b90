import { describe, expect, it } from 'vitest';
import { JobsUnavailableError } from '../../platform/jobs/jobs.js';
import { createOperationsService } from './operations.service.js';

const staff = { id: 's', username: 'staff', email: 's@example.test', isStaff: true, isModerator: true };
const member = { ...staff, id: 'm', username: 'member', isStaff: false, isModerator: false };

describe('operations service', () => {
  const counts = [
    {
      queue: 'maintenance',
      counts: { waiting: 1, active: 0, delayed: 2, completed: 3, failed: 0, paused: 0 },
    },
  ];

  it('gives staff the job counts, and refuses everyone else before reading them', async () => {
    let reads = 0;
    const service = createOperationsService({
      jobs: {
        mode: 'bullmq',
        counts: async () => {
          reads += 1;
          return counts;
        },
      },
    });
    await expect(service.listJobQueues(member)).rejects.toMatchObject({
      status: 403,
      code: 'operations.staff_only',
    });
    expect(reads).toBe(0);
    expect(await service.listJobQueues(staff)).toEqual({ mode: 'bullmq', queues: counts });
  });

  it('answers 503 when the job queues cannot be reached', async () => {
    const service = createOperationsService({
      jobs: {
        mode: 'bullmq',
        counts: async () => {
          throw new JobsUnavailableError('count the jobs of maintenance: Redis did not answer');
        },
      },
    });
    await expect(service.listJobQueues(staff)).rejects.toMatchObject({
      status: 503,
      code: 'operations.jobs_unavailable',
    });
  });
});
