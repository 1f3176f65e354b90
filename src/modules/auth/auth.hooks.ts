import type {} from '@fastify/cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sessionKeyOf, type AuthService, type AuthUser } from './auth.service.js';
import { createOriginNotAllowedError, createInvalidTokenError } from './auth.errors.js';
import { createUnauthenticatedError } from '../../shared/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user, or null on public routes without credentials. */
    user: AuthUser | null;
    authMethod: 'bearer' | 'session' | null;
    /** Key of the session behind a cookie-authenticated request (sockets remember it for logout). */
    sessionKey: string | null;
  }
  interface FastifyContextConfig {
    /** Routes that answer without authentication (health, docs, login). */
    public?: boolean;
    /** WebSocket upgrade routes: tokens may also come in `?token=` or `Sec-WebSocket-Protocol`. */
    websocket?: boolean;
    /** Routes that check credentials of their own (GET /metrics: METRICS_TOKEN): no user is looked up. */
    ownCredentials?: boolean;
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
 * Browsers cannot set headers on a WebSocket, so its token may come as `?token=` or as the
 * subprotocol list `bearer, <token>`.
 */
function readWebSocketToken(request: FastifyRequest): string | undefined {
  const query = request.query as Record<string, unknown> | undefined;
  if (typeof query?.token === 'string' && query.token.length > 0) return query.token;
  const protocols = request.headers['sec-websocket-protocol'];
  if (typeof protocols !== 'string') return undefined;
  const [scheme, token] = protocols.split(',').map((part) => part.trim());
  return scheme?.toLowerCase() === 'bearer' && token ? token : undefined;
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
  app.decorateRequest('sessionKey', null);

  app.addHook('onRequest', async (request) => {
    // Unknown routes fall through to the 404 handler without revealing anything.
    if (request.routeOptions.url === undefined) return;
    if (request.routeOptions.config.ownCredentials === true) return;
    const isPublic = request.routeOptions.config.public === true;
    const isWebSocket = request.routeOptions.config.websocket === true;
    let bearer = readBearerToken(request);
    if (bearer === false) throw createInvalidTokenError('The Authorization header must be "Bearer <token>".');
    if (bearer === undefined && isWebSocket) bearer = readWebSocketToken(request);
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
        // A WebSocket upgrade is a GET, but a cross-site page could hijack the session (CSWSH).
        const needsOrigin = isWebSocket || !SAFE_METHODS.has(request.method);
        if (needsOrigin && !isOriginAllowed(request, deps.allowedOrigins))
          throw createOriginNotAllowedError();
        request.user = user;
        request.authMethod = 'session';
        request.sessionKey = sessionKeyOf(sessionToken);
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
