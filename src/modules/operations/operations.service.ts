import { JobsUnavailableError, type JobRunner } from '../../platform/jobs/jobs.js';
import { createErrorFactory } from '../../shared/errors.js';
import type { AuthUser } from '../auth/auth.service.js';

export const createStaffOnlyError = createErrorFactory({
  status: 403,
  code: 'operations.staff_only',
  detail: 'Only staff can see the operations views.',
});
export const createJobsUnavailableError = createErrorFactory({
  status: 503,
  code: 'operations.jobs_unavailable',
  detail: 'The job queues cannot be reached (Redis is not answering).',
});

/** What operators look at: the job queues (counts per state). Staff only. */
export function createOperationsService(deps: { jobs: Pick<JobRunner, 'mode' | 'counts'> }) {
  return {
    async listJobQueues(actor: AuthUser) {
      if (!actor.isStaff) throw createStaffOnlyError();
      try {
        return { mode: deps.jobs.mode, queues: await deps.jobs.counts() };
      } catch (error) {
        if (error instanceof JobsUnavailableError) throw createJobsUnavailableError();
        throw error;
      }
    },
  };
}
export type OperationsService = ReturnType<typeof createOperationsService>;
