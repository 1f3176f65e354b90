import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError, createNotFoundError } from '../../shared/errors.js';
import { errorResponses } from '../../shared/schemas.js';
import type { Metrics } from './metrics.js';

const createMetricsTokenRequiredError = () =>
  new AppError({
    status: 401,
    code: 'metrics.token_required',
    detail: 'GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>".',
    headers: { 'www-authenticate': 'Bearer realm="metrics"' },
  });

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares digests, not the strings: equal lengths, and the time taken says nothing of the token. */
function createTokenCheck(token: string) {
  const expected = digest(token);
  return (request: FastifyRequest) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    return match !== null && timingSafeEqual(digest(match[1]!), expected);
  };
}

/**
 * Times every HTTP response, labelled by route pattern (never the raw URL, which carries ids).
 * Call it before any plugin or route: a plugin's routes get the hooks its parent had when it loaded.
 */
export function registerHttpMetrics(app: FastifyInstance, metrics: Pick<Metrics, 'observeHttpRequest'>) {
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeHttpRequest({
      method: request.method,
      route: request.routeOptions.url,
      status: reply.statusCode,
      seconds: reply.elapsedTime / 1000,
    });
  });
}

/**
 * Serves `GET /metrics` (Prometheus text format) on the API port, for a scraper holding
 * METRICS_TOKEN; without a token configured it answers 404. Declare it after the OpenAPI plugin,
 * which documents only the routes declared after it.
 */
export function registerMetricsRoute(
  app: FastifyInstance,
  deps: { metrics: Pick<Metrics, 'render' | 'contentType'>; token: string | undefined },
) {
  const { metrics } = deps;
  const isAuthorized = deps.token === undefined ? undefined : createTokenCheck(deps.token);
  app.get(
    '/metrics',
    {
      // Not a user's route: the scraper's token is checked here, and the user hook stays out of it.
      config: { public: true, ownCredentials: true },
      schema: {
        operationId: 'metrics',
        summary: 'Prometheus metrics of this process',
        description:
          'Prometheus text format (`text/plain; version=0.0.4`). Requires `Authorization: Bearer <METRICS_TOKEN>` ' +
          '(401 without it or with another token); 404 when METRICS_TOKEN is not set. The metrics are listed in the README.',
        tags: ['health'],
        security: [],
        response: {
          200: { description: 'The metrics', content: { 'text/plain': { schema: Type.String() } } },
          ...errorResponses(401, 404),
        },
      },
    },
    async (request, reply) => {
      if (!isAuthorized) throw createNotFoundError();
      if (!isAuthorized(request)) throw createMetricsTokenRequiredError();
      const body = await metrics.render();
      return reply.header('cache-control', 'no-store').type(metrics.contentType).send(body);
    },
  );
}
