import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { RateLimiter } from '../../platform/rate-limit/rate-limit.js';
import { createRateLimitedError } from '../../shared/errors.js';
import { errorResponses } from '../../shared/schemas.js';
import { createOriginNotAllowedError } from './auth.errors.js';
import { currentUser, isOriginAllowed } from './auth.hooks.js';
import type { AuthService, AuthUser } from './auth.service.js';
import {
  AccessToken,
  CredentialsBody,
  RefreshBody,
  RegisterBody,
  TokenPair,
  UserSchema,
} from './auth.schemas.js';

const toUserView = (user: AuthUser) => ({
  id: user.id,
  username: user.username,
  email: user.email,
  is_staff: user.isStaff,
  is_moderator: user.isModerator,
});

export const authRoutes: FastifyPluginAsyncTypebox<{
  authService: AuthService;
  attemptLimiter: RateLimiter;
  session: { cookieName: string; secureCookie: boolean; ttlSeconds: number };
  allowedOrigins: string[];
}> = async (app, { authService, attemptLimiter, session, allowedOrigins }) => {
  const tags = ['auth'];
  // Password guessing and account spraying (each try also costs a scrypt hash): AUTH_RATE_LIMIT
  // attempts per client address, on the routes that take a password.
  const limitAttempts = async (request: FastifyRequest) => {
    const decision = await attemptLimiter.consume(`auth:${request.ip}`);
    if (!decision.allowed) throw createRateLimitedError(decision.retryAfterMs, 'attempts');
  };

  app.post(
    '/register',
    {
      config: { public: true },
      schema: {
        operationId: 'register',
        summary: 'Create an account',
        tags,
        body: RegisterBody,
        response: { 201: UserSchema, ...errorResponses(400, 403, 429) },
      },
      preHandler: limitAttempts,
    },
    async (request, reply) => {
      const user = await authService.register(request.body);
      return reply.status(201).send(toUserView(user));
    },
  );

  app.post(
    '/token',
    {
      config: { public: true },
      schema: {
        operationId: 'obtainToken',
        summary: 'Exchange username and password for an access and a refresh token',
        tags,
        body: CredentialsBody,
        response: { 200: TokenPair, ...errorResponses(400, 401, 429) },
      },
      preHandler: limitAttempts,
    },
    async (request) => authService.issueTokens(request.body.username, request.body.password),
  );

  app.post(
    '/token/refresh',
    {
      config: { public: true },
      schema: {
        operationId: 'refreshToken',
        summary: 'Exchange a refresh token for a new access token',
        tags,
        body: RefreshBody,
        response: { 200: AccessToken, ...errorResponses(400, 401) },
      },
    },
    async (request) => authService.refreshAccessToken(request.body.refresh),
  );

  app.post(
    '/login',
    {
      config: { public: true },
      schema: {
        operationId: 'login',
        summary: 'Start a browser session (sets an HttpOnly session cookie)',
        tags,
        body: CredentialsBody,
        response: { 200: UserSchema, ...errorResponses(400, 401, 429) },
      },
      preHandler: limitAttempts,
    },
    async (request, reply) => {
      const result = await authService.login(request.body.username, request.body.password);
      void reply.setCookie(session.cookieName, result.token, {
        httpOnly: true,
        sameSite: 'lax',
        secure: session.secureCookie,
        path: '/',
        maxAge: session.ttlSeconds,
      });
      return toUserView(result.user);
    },
  );

  app.post(
    '/logout',
    {
      config: { public: true },
      schema: {
        operationId: 'logout',
        summary: 'End the browser session',
        tags,
        response: { 204: { type: 'null' }, ...errorResponses(403) },
      },
    },
    async (request, reply) => {
      const token = request.cookies[session.cookieName];
      // End the session whenever its cookie comes along, even if a bearer token authenticated the
      // request; a cookie-driven logout from a foreign site is refused like any other cookie write.
      if (token) {
        if (request.authMethod !== 'session' && !isOriginAllowed(request, allowedOrigins)) {
          throw createOriginNotAllowedError();
        }
        await authService.logout(token);
      }
      void reply.clearCookie(session.cookieName, { path: '/' });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      schema: {
        operationId: 'me',
        summary: 'The authenticated user',
        tags,
        response: { 200: UserSchema, ...errorResponses(401) },
      },
    },
    async (request) => toUserView(currentUser(request)),
  );
};
