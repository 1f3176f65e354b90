import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses } from '../../shared/schemas.js';
import { currentUser } from '../auth/auth.hooks.js';
import type { OperationsService } from './operations.service.js';

const Count = Type.Integer({ minimum: 0 });
const JobQueuesSchema = Type.Object({
  mode: Type.Union([Type.Literal('inline'), Type.Literal('bullmq')], {
    description:
      '`inline`: jobs run in the API process (embedded mode); `bullmq`: in Redis queues that `npm run worker` processes',
  }),
  queues: Type.Array(
    Type.Object({
      queue: Type.String(),
      counts: Type.Object(
        {
          waiting: Count,
          active: Count,
          delayed: Count,
          completed: Count,
          failed: Count,
          paused: Count,
        },
        {
          description: 'Jobs per state; finished jobs are kept up to a bound (1,000 completed, 5,000 failed)',
        },
      ),
    }),
  ),
});

export const operationsRoutes: FastifyPluginAsyncTypebox<{ operationsService: OperationsService }> = async (
  app,
  { operationsService },
) => {
  app.get(
    '/admin/jobs/',
    {
      schema: {
        operationId: 'listJobQueues',
        summary: 'Background job queues: jobs per state in each queue (staff only)',
        tags: ['operations'],
        response: { 200: JobQueuesSchema, ...errorResponses(401, 403, 503) },
      },
    },
    async (request) => operationsService.listJobQueues(currentUser(request)),
  );
};
