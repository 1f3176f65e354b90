import type {} from '@fastify/cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthService, AuthUser } from './auth.service.js';
import { createOriginNotAllowedError, createInvalidTokenError } from './auth.errors.js';
import { createUnauthenticatedError } from '../../shared/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user, or null on public routes without credentials. */
    user: AuthUser | null;
    authMethod: 'bearer' | 'session' | null;
  }
  interface FastifyContextConfig {
    /** Routes that answer without authentication (health, docs, login). */
    public?: boolean;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** True when the request's Origin (or Referer) is the server itself or listed in ALLOWED_ORIGINS. */
export function isOriginAllowed(request: FastifyRequest, allowedOrigins: string[]): boolean {
  const header = request.headers.origin ?? request.headers.referer;
  if (!header || header === 'null') return false;
  let origin: URL;
  try {
    origin = new URL(header);
  } catch {
    return false;
  }
  if (allowedOrigins.includes(origin.origin)) return true;
  // Same origin: the browser's page was served by this host (default ports compared as implied).
  const host = request.headers.host?.toLowerCase().replace(/:(80|443)$/, '');
  return host !== undefined && origin.host === host;
}

/** Extracts the bearer token from `Authorization: Bearer <token>`; undefined when absent. */
export function readBearerToken(request: FastifyRequest): string | undefined | false {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(header);
  return match ? match[1]! : false;
}

/**
 * Authenticates every request before its handler runs (deny by default): a bearer token, or the
 * session cookie — and a cookie-authenticated request that changes state must come from an
 * allowed Origin (CSRF).
 */
export function registerAuthentication(
  app: FastifyInstance,
  deps: {
    authService: Pick<AuthService, 'authenticateBearer' | 'authenticateSession'>;
    cookieName: string;
    allowedOrigins: string[];
  },
) {
  app.decorateRequest('user', null);
  app.decorateRequest('authMethod', null);

  app.addHook('onRequest', async (request) => {
    // Unknown routes fall through to the 404 handler without revealing anything.
    if (request.routeOptions.url === undefined) return;
    const isPublic = request.routeOptions.config.public === true;
    const bearer = readBearerToken(request);
    if (bearer === false) throw createInvalidTokenError('The Authorization header must be "Bearer <token>".');
    if (bearer !== undefined) {
      const user = await deps.authService.authenticateBearer(bearer);
      if (!user) throw createInvalidTokenError();
      request.user = user;
      request.authMethod = 'bearer';
      return;
    }
    const sessionToken = request.cookies[deps.cookieName];
    if (sessionToken) {
      const user = await deps.authService.authenticateSession(sessionToken);
      if (user) {
        if (!SAFE_METHODS.has(request.method) && !isOriginAllowed(request, deps.allowedOrigins)) {
          throw createOriginNotAllowedError();
        }
        request.user = user;
        request.authMethod = 'session';
        return;
      }
    }
    if (!isPublic) throw createUnauthenticatedError();
  });
}

/** The authenticated user of a non-public route (the hook guarantees it). */
export function currentUser(request: FastifyRequest): AuthUser {
  if (!request.user) throw createUnauthenticatedError();
  return request.user;
}
