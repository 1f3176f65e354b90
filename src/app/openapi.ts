import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/** The OpenAPI document is generated from the route schemas; served at /api/openapi.json. */
export async function registerOpenApi(app: FastifyInstance) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Hubx Chat API',
        version: '0.1.0',
        description:
          'Real-time chat of the Hubx platform. Authenticate with `Authorization: Bearer <access>` ' +
          '(from POST /api/auth/token) or the session cookie set by POST /api/auth/login. Errors are `{detail, code}`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          session: { type: 'apiKey', in: 'cookie', name: 'hubx_session' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    transformObject: (document) =>
      'openapiObject' in document ? markOptionalBodies(document.openapiObject) : document.swaggerObject,
  });
  await app.register(async (docs) => {
    // The interactive docs are public pages, like the document they render.
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config ?? {}), public: true };
    });
    await docs.register(swaggerUi, { routePrefix: '/api/docs', uiConfig: { docExpansion: 'list' } });
  });
  app.get('/api/openapi.json', { config: { public: true }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
}

type OpenApiDocument = { paths?: Record<string, Record<string, { requestBody?: OpenApiBody } | undefined>> };
type OpenApiBody = { required?: boolean; content?: Record<string, { schema?: { nullable?: boolean } }> };

/**
 * @fastify/swagger marks every request body required; a route whose body schema admits null (no
 * body at all, as approve and remove) takes it optionally, and the document says so.
 */
function markOptionalBodies<T>(document: T): T {
  for (const methods of Object.values((document as OpenApiDocument).paths ?? {})) {
    for (const operation of Object.values(methods)) {
      const body = operation?.requestBody;
      if (body && Object.values(body.content ?? {}).some((media) => media.schema?.nullable === true))
        body.required = false;
    }
  }
  return document;
}
