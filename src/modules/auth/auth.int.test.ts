import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import {
  SignJWT,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type CryptoKey,
} from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALLOWED_ORIGIN,
  TEST_JWT_SECRET,
  TEST_PASSWORD,
  createTestApp,
  type TestApp,
  type TestUser,
} from '../../../test/support/app.js';
import { openTestDatabase, skipDatabaseTests } from '../../../test/support/database.js';
import { buildApp } from '../../app/build-app.js';
import { createDependencies, type Dependencies } from '../../app/dependencies.js';
import { loadConfig } from '../../config/config.js';
import { createLogger } from '../../platform/logger/logger.js';
import { makeTempDir } from '../../../test/support/temp-dirs.js';

const EVIL_ORIGIN = 'https://evil.example';
const PLATFORM_ISSUER = 'https://platform.hubx.test';
const PLATFORM_AUDIENCE = 'hubx-chat-platform';
const PLATFORM_SECRET = 'platform-shared-secret-that-is-long-enough-42';
const STRONG_PASSWORD = 'Orbit-Lantern-7731';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const encode = (secret: string) => new TextEncoder().encode(secret);
const nowSeconds = () => Math.floor(Date.now() / 1000);
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

type TokenOptions = {
  subject: string;
  type?: string | null;
  secret?: string;
  alg?: string;
  issuer?: string;
  audience?: string;
  expiresAt?: number | null;
  claims?: Record<string, unknown>;
};

/** A token shaped like the service's own access token, with any one property changed. */
function craftToken(options: TokenOptions): Promise<string> {
  const type = options.type === undefined ? 'access' : options.type;
  const jwt = new SignJWT({ ...(type === null ? {} : { token_type: type }), ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(options.subject)
    .setIssuer(options.issuer ?? 'hubx-chat')
    .setAudience(options.audience ?? 'hubx-chat')
    .setIssuedAt(nowSeconds() - 5);
  if (options.expiresAt !== null) jwt.setExpirationTime(options.expiresAt ?? nowSeconds() + 120);
  return jwt.sign(encode(options.secret ?? TEST_JWT_SECRET));
}

/** `alg: none`: a header, a payload and an empty signature. */
function unsignedToken(subject: string, type = 'access'): string {
  const payload = {
    sub: subject,
    iss: 'hubx-chat',
    aud: 'hubx-chat',
    iat: nowSeconds(),
    exp: nowSeconds() + 120,
    token_type: type,
  };
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`;
}

function sessionCookieOf(response: LightMyRequestResponse, name: string) {
  return response.cookies.find((cookie) => cookie.name === name);
}

function setCookieHeaders(response: LightMyRequestResponse): string[] {
  const header = response.headers['set-cookie'];
  if (header === undefined) return [];
  return Array.isArray(header) ? header : [header];
}

describe.skipIf(skipDatabaseTests)('auth', () => {
  let t: TestApp;
  let cookieName: string;

  beforeAll(async () => {
    t = await createTestApp();
    cookieName = t.config.auth.session.cookieName;
  });
  afterAll(async () => t?.close());

  async function obtainTokens(username: string, password = TEST_PASSWORD) {
    const response = await t.inject({
      method: 'POST',
      url: '/api/auth/token',
      payload: { username, password },
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as { access: string; refresh: string };
  }

  async function login(user: TestUser) {
    const response = await t.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: user.username, password: TEST_PASSWORD },
    });
    expect(response.statusCode, response.body).toBe(200);
    const cookie = sessionCookieOf(response, cookieName);
    expect(cookie?.value).toBeTruthy();
    return { response, cookie: `${cookieName}=${cookie!.value}` };
  }

  const me = (headers: Record<string, string>) => t.inject({ method: 'GET', url: '/api/auth/me', headers });

  describe('registration', () => {
    it('creates an account: 201 with exactly id, username, email, is_staff and is_moderator; it can then sign in', async () => {
      const response = await t.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username: 'marina', password: STRONG_PASSWORD, email: 'marina@hubx.test' },
      });
      expect(response.statusCode, response.body).toBe(201);
      const body = response.json();
      expect(body).toEqual({
        id: expect.stringMatching(UUID),
        username: 'marina',
        email: 'marina@hubx.test',
        is_staff: false,
        is_moderator: false,
      });

      const { access } = await obtainTokens('marina', STRONG_PASSWORD);
      const profile = await me(bearer(access));
      expect(profile.statusCode).toBe(200);
      expect(profile.json()).toEqual(body);
    });

    it('refuses weak or short passwords with 400, and creates no account', async () => {
      const weak = ['Sh0rt!', 'password1', '9081726354', 'x-rodrigo-x-2024'];
      for (const password of weak) {
        const response = await t.inject({
          method: 'POST',
          url: '/api/auth/register',
          payload: { username: 'rodrigo', password, email: 'rodrigo@hubx.test' },
        });
        expect(response.statusCode, `${password}: ${response.body}`).toBe(400);
        expect(response.json().code).toBe('users.weak_password');
      }
      const denied = await t.inject({
        method: 'POST',
        url: '/api/auth/token',
        payload: { username: 'rodrigo', password: 'Sh0rt!' },
      });
      expect(denied.statusCode).toBe(401);
      const accepted = await t.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username: 'rodrigo', password: STRONG_PASSWORD, email: 'rodrigo@hubx.test' },
      });
      expect(accepted.statusCode, accepted.body).toBe(201);
    });

    it('refuses a username that is taken, whatever its case', async () => {
      const first = await t.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username: 'Joana', password: STRONG_PASSWORD, email: 'joana@hubx.test' },
      });
      expect(first.statusCode, first.body).toBe(201);
      for (const username of ['Joana', 'joana', 'JOANA']) {
        const again = await t.inject({
          method: 'POST',
          url: '/api/auth/register',
          payload: { username, password: `${STRONG_PASSWORD}-2`, email: 'other@hubx.test' },
        });
        expect(again.statusCode, `${username}: ${again.body}`).toBe(400);
        expect(again.json().code).toBe('users.username_taken');
      }
      // The original account and password are untouched.
      await obtainTokens('Joana', STRONG_PASSWORD);
    });

    it('cannot make a staff account: is_staff in the body is not honoured', async () => {
      const response = await t.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: {
          username: 'wannabe',
          password: STRONG_PASSWORD,
          email: 'wannabe@hubx.test',
          is_staff: true,
        },
      });
      expect(response.json().is_staff).not.toBe(true);
      const row = await t.deps.usersRepository.findByUsername('wannabe');
      expect(row?.isStaff ?? false).toBe(false);
    });

    it('refuses bodies without an email or with an invalid one', async () => {
      const missing = await t.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username: 'sem_email', password: STRONG_PASSWORD },
      });
      expect(missing.statusCode).toBe(400);
      const invalid = await t.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username: 'sem_email', password: STRONG_PASSWORD, email: 'not-an-email' },
      });
      expect(invalid.statusCode).toBe(400);
    });
  });

  describe('tokens', () => {
    it('issues an access and a refresh token for good credentials; 401 for bad ones', async () => {
      const user = await t.createUser();
      const tokens = await obtainTokens(user.username);
      expect(tokens).toEqual({ access: expect.any(String), refresh: expect.any(String) });
      expect((await me(bearer(tokens.access))).json()).toMatchObject({
        id: user.id,
        username: user.username,
      });

      const attempts = [
        { username: user.username, password: 'wrong-password-123' },
        { username: user.username, password: TEST_PASSWORD.toUpperCase() },
        { username: 'nobody_here', password: TEST_PASSWORD },
      ];
      for (const payload of attempts) {
        const response = await t.inject({ method: 'POST', url: '/api/auth/token', payload });
        expect(response.statusCode, JSON.stringify(payload)).toBe(401);
        expect(response.json().code).toBe('auth.invalid_credentials');
        expect(response.body).not.toContain('access');
      }
    });

    it('signs short-lived HS256 access tokens with iss, aud, exp and the token type', async () => {
      const user = await t.createUser();
      const { access, refresh } = await obtainTokens(user.username);
      expect(decodeProtectedHeader(access).alg).toBe('HS256');
      const claims = decodeJwt(access);
      expect(claims).toMatchObject({
        sub: user.id,
        iss: t.config.auth.issuer,
        aud: t.config.auth.audience,
        token_type: 'access',
      });
      expect(claims.exp! - claims.iat!).toBe(t.config.auth.accessTtlSeconds);
      expect(claims.exp! - nowSeconds()).toBeLessThanOrEqual(15 * 60);
      const refreshClaims = decodeJwt(refresh);
      expect(refreshClaims.token_type).toBe('refresh');
      expect(refreshClaims.exp!).toBeGreaterThan(claims.exp!);
    });

    it('exchanges a refresh token for a new working access token', async () => {
      const user = await t.createUser();
      const { refresh } = await obtainTokens(user.username);
      const response = await t.inject({
        method: 'POST',
        url: '/api/auth/token/refresh',
        payload: { refresh },
      });
      expect(response.statusCode, response.body).toBe(200);
      const body = response.json();
      expect(Object.keys(body)).toEqual(['access']);
      expect(decodeJwt(body.access).token_type).toBe('access');
      expect((await me(bearer(body.access))).json()).toMatchObject({ id: user.id });
    });

    it('refuses to refresh with an access token, a forged, an alg:none or an expired refresh token', async () => {
      const user = await t.createUser();
      const { access } = await obtainTokens(user.username);
      const bad = [
        access,
        await craftToken({
          subject: user.id,
          type: 'refresh',
          secret: 'another-secret-that-is-long-enough-999',
        }),
        unsignedToken(user.id, 'refresh'),
        await craftToken({ subject: user.id, type: 'refresh', expiresAt: nowSeconds() - 60 }),
        'not-a-token',
      ];
      for (const refresh of bad) {
        const response = await t.inject({
          method: 'POST',
          url: '/api/auth/token/refresh',
          payload: { refresh },
        });
        expect(response.statusCode, refresh).toBe(401);
        expect(response.body).not.toContain('"access"');
      }
      // Control: the same crafting with the right secret is a valid refresh token.
      const good = await craftToken({ subject: user.id, type: 'refresh' });
      const accepted = await t.inject({
        method: 'POST',
        url: '/api/auth/token/refresh',
        payload: { refresh: good },
      });
      expect(accepted.statusCode, accepted.body).toBe(200);
    });

    it('accepts a hand-crafted token with the right secret and claims (the control for the cases below)', async () => {
      const user = await t.createUser();
      const response = await me(bearer(await craftToken({ subject: user.id })));
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toMatchObject({ id: user.id });
    });

    const badTokens: Array<[string, (userId: string) => Promise<string> | string]> = [
      [
        'signed with another secret',
        (sub) => craftToken({ subject: sub, secret: 'forged-secret-that-is-long-enough-00000' }),
      ],
      ['alg: none', (sub) => unsignedToken(sub)],
      [
        'HS512 with the right secret (algorithm not pinned)',
        (sub) => craftToken({ subject: sub, alg: 'HS512' }),
      ],
      ['for another audience', (sub) => craftToken({ subject: sub, audience: 'another-service' })],
      ['from another issuer', (sub) => craftToken({ subject: sub, issuer: 'another-issuer' })],
      ['without exp', (sub) => craftToken({ subject: sub, expiresAt: null })],
      ['expired', (sub) => craftToken({ subject: sub, expiresAt: nowSeconds() - 60 })],
      ['without a token type', (sub) => craftToken({ subject: sub, type: null })],
      ['a refresh token', (sub) => craftToken({ subject: sub, type: 'refresh' })],
      [
        'for a user that does not exist',
        () => craftToken({ subject: '018f2a6e-0000-7000-8000-000000000000' }),
      ],
    ];
    it.each(badTokens)('refuses an access token %s with 401', async (_name, build) => {
      const user = await t.createUser();
      const response = await me(bearer(await build(user.id)));
      expect(response.statusCode, response.body).toBe(401);
      expect(response.json().code).toMatch(/^auth\./);
    });

    it('refuses a real refresh token used as an access token', async () => {
      const user = await t.createUser();
      const { refresh } = await obtainTokens(user.username);
      expect((await me(bearer(refresh))).statusCode).toBe(401);
    });

    it('requires the Authorization header to be "Bearer <token>"', async () => {
      const user = await t.createUser();
      expect((await me(bearer(user.token))).statusCode).toBe(200);
      const malformed = [
        user.token,
        `Token ${user.token}`,
        `JWT ${user.token}`,
        `Basic ${Buffer.from(`${user.username}:${TEST_PASSWORD}`).toString('base64')}`,
        'Bearer',
        'Bearer ',
        `Bearer ${user.token} ${user.token}`,
        `Bearer: ${user.token}`,
        '',
      ];
      for (const authorization of malformed) {
        const response = await me({ authorization });
        expect(response.statusCode, JSON.stringify(authorization)).toBe(401);
      }
    });

    it('answers 401 on /me without credentials', async () => {
      const response = await me({});
      expect(response.statusCode).toBe(401);
    });
  });

  describe('sessions', () => {
    it('login sets an HttpOnly, SameSite=Lax session cookie that authenticates /me', async () => {
      const user = await t.createUser();
      const { response, cookie } = await login(user);
      expect(response.json()).toEqual({
        id: user.id,
        username: user.username,
        email: user.email,
        is_staff: false,
        is_moderator: false,
      });
      const attributes = sessionCookieOf(response, cookieName)!;
      expect(attributes.httpOnly).toBe(true);
      expect(String(attributes.sameSite).toLowerCase()).toBe('lax');
      const header = setCookieHeaders(response).find((value) => value.startsWith(`${cookieName}=`));
      expect(header).toMatch(/;\s*HttpOnly/i);
      expect(header).toMatch(/;\s*SameSite=Lax/i);
      // A server-side session: the cookie is an opaque handle, not a self-contained token.
      expect(attributes.value).not.toContain(user.id);
      expect(attributes.value.split('.')).not.toHaveLength(3);

      const profile = await me({ cookie });
      expect(profile.statusCode).toBe(200);
      expect(profile.json()).toMatchObject({ id: user.id, username: user.username });
    });

    it('login with a wrong password is 401 and sets no cookie', async () => {
      const user = await t.createUser();
      const response = await t.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: user.username, password: 'not-the-password-1' },
      });
      expect(response.statusCode).toBe(401);
      expect(sessionCookieOf(response, cookieName)).toBeUndefined();
    });

    it('an unknown session cookie does not authenticate', async () => {
      const response = await me({ cookie: `${cookieName}=made-up-session-value-0123456789` });
      expect(response.statusCode).toBe(401);
    });

    it('logout ends the session: the same cookie no longer authenticates', async () => {
      const user = await t.createUser();
      const { cookie } = await login(user);
      const other = await login(user);
      expect((await me({ cookie })).statusCode).toBe(200);

      const response = await t.inject({
        method: 'POST',
        url: '/api/auth/logout',
        headers: { cookie, origin: ALLOWED_ORIGIN },
      });
      expect(response.statusCode, response.body).toBe(204);
      const cleared = setCookieHeaders(response).find((value) => value.startsWith(`${cookieName}=`));
      expect(cleared).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/i);

      // The browser would drop the cookie; a stolen copy of it must not work either.
      const after = await me({ cookie });
      expect(after.statusCode).toBe(401);
      // Only that session ended.
      expect((await me({ cookie: other.cookie })).statusCode).toBe(200);
    });

    it('cookie-authenticated state changes need an allowed Origin or the same origin (403 auth.origin_not_allowed)', async () => {
      const user = await t.createUser();
      const { cookie } = await login(user);
      const createChannel = (titulo: string, headers: Record<string, string>) =>
        t.inject({
          method: 'POST',
          url: '/api/chat/channels/',
          headers: { cookie, ...headers },
          payload: { contexto_tipo: 'privado', titulo },
        });

      const refused: Array<[string, Record<string, string>]> = [
        ['foreign origin', { origin: EVIL_ORIGIN }],
        ['no origin at all', {}],
        ['null origin', { origin: 'null' }],
        ['look-alike origin', { origin: `${ALLOWED_ORIGIN}.evil.example` }],
        ['allowed host on another port', { origin: `${ALLOWED_ORIGIN}:8443` }],
        ['foreign origin to this host', { host: 'chat.hubx.test', origin: EVIL_ORIGIN }],
      ];
      for (const [name, headers] of refused) {
        const response = await createChannel(`refused: ${name}`, headers);
        expect(response.statusCode, `${name}: ${response.body}`).toBe(403);
        expect(response.json().code).toBe('auth.origin_not_allowed');
      }

      const allowed = await createChannel('from the allowed origin', { origin: ALLOWED_ORIGIN });
      expect(allowed.statusCode, allowed.body).toBe(201);
      const sameOrigin = await createChannel('from the same origin', {
        host: 'chat.hubx.test',
        origin: 'https://chat.hubx.test',
      });
      expect(sameOrigin.statusCode, sameOrigin.body).toBe(201);

      const list = await t.inject({ method: 'GET', url: '/api/chat/channels/', headers: { cookie } });
      expect(list.statusCode).toBe(200);
      const titles = (list.json().results as Array<{ titulo: string }>)
        .map((channel) => channel.titulo)
        .sort();
      expect(titles).toEqual(['from the allowed origin', 'from the same origin']);
    });

    it('logout ends the session even when the request also carries a bearer token', async () => {
      const user = await t.createUser();
      const { cookie } = await login(user);
      const response = await t.inject({
        method: 'POST',
        url: '/api/auth/logout',
        headers: { cookie, origin: ALLOWED_ORIGIN, ...user.auth },
      });
      expect(response.statusCode).toBe(204);
      expect((await me({ cookie })).statusCode).toBe(401);
    });

    it('logout from a foreign origin is refused and leaves the session alive', async () => {
      const user = await t.createUser();
      const { cookie } = await login(user);
      const response = await t.inject({
        method: 'POST',
        url: '/api/auth/logout',
        headers: { cookie, origin: EVIL_ORIGIN },
      });
      expect(response.statusCode).toBe(403);
      expect(response.json().code).toBe('auth.origin_not_allowed');
      expect((await me({ cookie })).statusCode).toBe(200);
    });

    it('GET with the cookie is fine from any origin; bearer requests are not subject to the Origin check', async () => {
      const user = await t.createUser();
      const { cookie } = await login(user);
      const response = await me({ cookie, origin: EVIL_ORIGIN });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ id: user.id });

      const viaBearer = await t.inject({
        method: 'POST',
        url: '/api/chat/channels/',
        headers: { ...user.auth, origin: EVIL_ORIGIN },
        payload: { contexto_tipo: 'privado', titulo: 'bearer from anywhere' },
      });
      expect(viaBearer.statusCode, viaBearer.body).toBe(201);
    });
  });

  describe('/me and deactivation', () => {
    it('returns exactly id, username, email, is_staff and is_moderator (staff moderate)', async () => {
      const staff = await t.createUser({ staff: true });
      const response = await me(staff.auth);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        id: staff.id,
        username: staff.username,
        email: staff.email,
        is_staff: true,
        is_moderator: true,
      });
    });

    it('refuses a deactivated user at once: valid access token, session cookie, refresh token and credentials', async () => {
      const user = await t.createUser();
      const { access, refresh } = await obtainTokens(user.username);
      const { cookie } = await login(user);
      expect((await me(bearer(access))).statusCode).toBe(200);
      expect((await me({ cookie })).statusCode).toBe(200);

      await t.deps.usersRepository.update(user.id, { isActive: false });

      expect((await me(bearer(access))).statusCode).toBe(401);
      expect((await me({ cookie })).statusCode).toBe(401);
      const refreshed = await t.inject({
        method: 'POST',
        url: '/api/auth/token/refresh',
        payload: { refresh },
      });
      expect(refreshed.statusCode).toBe(401);
      const token = await t.inject({
        method: 'POST',
        url: '/api/auth/token',
        payload: { username: user.username, password: TEST_PASSWORD },
      });
      expect(token.statusCode).toBe(401);
      const loginAgain = await t.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: user.username, password: TEST_PASSWORD },
      });
      expect(loginAgain.statusCode).toBe(401);
    });
  });
});

describe.skipIf(skipDatabaseTests)(
  'auth with registration closed and platform tokens (shared secret)',
  () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await createTestApp({
        AUTH_ALLOW_REGISTRATION: 'false',
        PLATFORM_JWT_ISSUER: PLATFORM_ISSUER,
        PLATFORM_JWT_AUDIENCE: PLATFORM_AUDIENCE,
        PLATFORM_JWT_SECRET: PLATFORM_SECRET,
      });
    });
    afterAll(async () => t?.close());

    const platformToken = (options: Partial<TokenOptions> & { subject: string }) =>
      craftToken({
        type: null,
        secret: PLATFORM_SECRET,
        issuer: PLATFORM_ISSUER,
        audience: PLATFORM_AUDIENCE,
        ...options,
      });
    const me = (token: string) => t.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });

    it('refuses registration with 403 when AUTH_ALLOW_REGISTRATION is false, and creates nobody', async () => {
      const response = await t.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username: 'latecomer', password: STRONG_PASSWORD, email: 'late@hubx.test' },
      });
      expect(response.statusCode).toBe(403);
      expect(response.json().code).toBe('auth.registration_closed');
      expect(await t.deps.usersRepository.findByUsername('latecomer')).toBeUndefined();
    });

    it('still accepts its own tokens next to the platform ones', async () => {
      const user = await t.createUser();
      const response = await me(user.token);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ id: user.id });
    });

    it('provisions a user from the claims on first sight and reuses it afterwards', async () => {
      const first = await me(
        await platformToken({
          subject: 'platform-ana',
          claims: { preferred_username: 'ana.platform', email: 'ana@platform.test', is_staff: true },
        }),
      );
      expect(first.statusCode, first.body).toBe(200);
      const user = first.json();
      expect(user).toEqual({
        id: expect.stringMatching(UUID),
        username: 'ana.platform',
        email: 'ana@platform.test',
        is_staff: true,
        is_moderator: true,
      });

      const again = await me(
        await platformToken({
          subject: 'platform-ana',
          claims: { preferred_username: 'ana.platform', email: 'ana@platform.test', is_staff: true },
        }),
      );
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual(user);
      const row = await t.deps.usersRepository.findByExternalIdentity(PLATFORM_ISSUER, 'platform-ana');
      expect(row?.id).toBe(user.id);

      // The `username` claim is enough when there is no preferred_username.
      const other = await me(await platformToken({ subject: 'platform-bia', claims: { username: 'bia' } }));
      expect(other.statusCode, other.body).toBe(200);
      expect(other.json()).toMatchObject({ username: 'bia', is_staff: false });
      expect(other.json().id).not.toBe(user.id);
    });

    it('follows is_staff from the claims on later sights (a demotion on the platform counts here)', async () => {
      const claims = { preferred_username: 'staff.platform', is_staff: true };
      const promoted = await me(await platformToken({ subject: 'platform-staff', claims }));
      expect(promoted.json()).toMatchObject({ is_staff: true });
      const demoted = await me(
        await platformToken({ subject: 'platform-staff', claims: { ...claims, is_staff: false } }),
      );
      expect(demoted.statusCode).toBe(200);
      expect(demoted.json()).toMatchObject({ id: promoted.json().id, is_staff: false, is_moderator: false });
    });

    it('loads a granted moderator role with the platform user, on a plain sight and on a refresh of its claims', async () => {
      const claims = { preferred_username: 'mod.platform', email: 'mod@platform.test', is_staff: false };
      const first = await me(await platformToken({ subject: 'platform-mod', claims }));
      expect(first.json()).toMatchObject({ is_staff: false, is_moderator: false });
      await t.deps.moderatorsService.grantModeratorByUsername('mod.platform');
      const same = await me(await platformToken({ subject: 'platform-mod', claims }));
      expect(same.json()).toMatchObject({ id: first.json().id, is_staff: false, is_moderator: true });
      const refreshed = await me(
        await platformToken({ subject: 'platform-mod', claims: { ...claims, email: 'mod2@platform.test' } }),
      );
      expect(refreshed.json()).toMatchObject({ email: 'mod2@platform.test', is_moderator: true });
    });

    it('never signs a platform identity in as a local account that has the same username', async () => {
      const local = await t.createUser({ username: 'ana.local' });
      const response = await me(
        await platformToken({ subject: 'platform-impostor', claims: { preferred_username: 'ANA.local' } }),
      );
      expect([200, 401]).toContain(response.statusCode);
      expect(response.json().id).not.toBe(local.id);
    });

    it('answers a platform token whose claims do not fit the user table with 401, not a 500', async () => {
      const tooLong = await me(
        await platformToken({ subject: 'platform-long', claims: { preferred_username: 'x'.repeat(200) } }),
      );
      expect(tooLong.statusCode, tooLong.body).toBe(401);
      const longEmail = await me(
        await platformToken({
          subject: 'platform-long-email',
          claims: { preferred_username: 'long.email', email: `${'e'.repeat(300)}@platform.test` },
        }),
      );
      expect(longEmail.statusCode, longEmail.body).toBeLessThan(500);
    });

    it('refuses platform tokens with the wrong audience, key, expiry or algorithm, provisioning nobody', async () => {
      const claims = { preferred_username: 'carlos.platform' };
      const bad = [
        await platformToken({ subject: 'platform-carlos', claims, audience: 'hubx-chat' }),
        await platformToken({ subject: 'platform-carlos', claims, audience: 'another-service' }),
        await platformToken({
          subject: 'platform-carlos',
          claims,
          secret: 'forged-platform-secret-long-enough-0000',
        }),
        await platformToken({ subject: 'platform-carlos', claims, expiresAt: nowSeconds() - 60 }),
        await platformToken({ subject: 'platform-carlos', claims, expiresAt: null }),
        `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({
          sub: 'platform-carlos',
          iss: PLATFORM_ISSUER,
          aud: PLATFORM_AUDIENCE,
          exp: nowSeconds() + 60,
          ...claims,
        })}.`,
      ];
      for (const token of bad) {
        const response = await me(token);
        expect(response.statusCode, token).toBe(401);
      }
      expect(
        await t.deps.usersRepository.findByExternalIdentity(PLATFORM_ISSUER, 'platform-carlos'),
      ).toBeUndefined();
      // Control: the same token with the right audience and key is accepted.
      expect((await me(await platformToken({ subject: 'platform-carlos', claims }))).statusCode).toBe(200);
    });

    it('refuses a deactivated platform user even with a valid platform token', async () => {
      const token = await platformToken({ subject: 'platform-dani', claims: { preferred_username: 'dani' } });
      const first = await me(token);
      expect(first.statusCode).toBe(200);
      await t.deps.usersRepository.update(first.json().id, { isActive: false });
      expect((await me(token)).statusCode).toBe(401);
      const fresh = await platformToken({ subject: 'platform-dani', claims: { preferred_username: 'dani' } });
      expect((await me(fresh)).statusCode).toBe(401);
    });

    it('a provisioned platform user has no password to sign in with here', async () => {
      const first = await me(
        await platformToken({ subject: 'platform-eli', claims: { preferred_username: 'eli' } }),
      );
      expect(first.statusCode).toBe(200);
      const response = await t.inject({
        method: 'POST',
        url: '/api/auth/token',
        payload: { username: 'eli', password: TEST_PASSWORD },
      });
      expect(response.statusCode).toBe(401);
    });
  },
);

describe.skipIf(skipDatabaseTests)('auth with platform tokens from a JWKS', () => {
  let t: TestApp;
  let jwksServer: Server;
  let jwksRequests = 0;
  let privateKey: CryptoKey;
  let publicPem: string;
  const kid = 'platform-key-1';

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    publicPem = await exportSPKI(pair.publicKey);
    const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg: 'RS256', use: 'sig' };
    jwksServer = createServer((request, response) => {
      jwksRequests += 1;
      if (request.url !== '/.well-known/jwks.json') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    t = await createTestApp({
      PLATFORM_JWT_ISSUER: PLATFORM_ISSUER,
      PLATFORM_JWT_AUDIENCE: PLATFORM_AUDIENCE,
      PLATFORM_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    });
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => jwksServer?.close(resolve));
  });

  function rs256Token(options: {
    subject: string;
    key?: CryptoKey;
    audience?: string;
    claims?: Record<string, unknown>;
  }) {
    return new SignJWT({ ...options.claims })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setSubject(options.subject)
      .setIssuer(PLATFORM_ISSUER)
      .setAudience(options.audience ?? PLATFORM_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(options.key ?? privateKey);
  }
  const me = (token: string) => t.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });

  it('verifies RS256 platform tokens against the JWKS, provisions the user once and reuses it', async () => {
    const claims = { preferred_username: 'fernanda', email: 'fernanda@platform.test', is_staff: false };
    const first = await me(await rs256Token({ subject: 'jwks-fernanda', claims }));
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({
      id: expect.stringMatching(UUID),
      username: 'fernanda',
      email: 'fernanda@platform.test',
      is_staff: false,
      is_moderator: false,
    });
    expect(jwksRequests).toBeGreaterThan(0);

    const second = await me(await rs256Token({ subject: 'jwks-fernanda', claims }));
    expect(second.statusCode).toBe(200);
    expect(second.json().id).toBe(first.json().id);
  });

  it('refuses a JWKS platform token with the wrong audience', async () => {
    const claims = { preferred_username: 'gabriel' };
    const response = await me(
      await rs256Token({ subject: 'jwks-gabriel', claims, audience: 'another-service' }),
    );
    expect(response.statusCode).toBe(401);
    expect(
      await t.deps.usersRepository.findByExternalIdentity(PLATFORM_ISSUER, 'jwks-gabriel'),
    ).toBeUndefined();
  });

  it('refuses a token signed by another key under the same kid, and HS256 signed with the public key', async () => {
    const claims = { preferred_username: 'hugo' };
    const stranger = await generateKeyPair('RS256');
    expect(
      (await me(await rs256Token({ subject: 'jwks-hugo', claims, key: stranger.privateKey }))).statusCode,
    ).toBe(401);
    const confused = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' })
      .setSubject('jwks-hugo')
      .setIssuer(PLATFORM_ISSUER)
      .setAudience(PLATFORM_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(encode(publicPem));
    expect((await me(confused)).statusCode).toBe(401);
    expect(await t.deps.usersRepository.findByExternalIdentity(PLATFORM_ISSUER, 'jwks-hugo')).toBeUndefined();
  });
});

describe.skipIf(skipDatabaseTests)('auth secrets never reach the logs', () => {
  let app: FastifyInstance;
  let deps: Dependencies;
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  const lines: string[] = [];

  beforeAll(async () => {
    database = await openTestDatabase();
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'debug',
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: makeTempDir('hubx-test-'),
      ALLOWED_ORIGINS: ALLOWED_ORIGIN,
    });
    // The service's own logger (its redaction and serializers are what is under test), with its
    // destination swapped for memory; Fastify's child loggers inherit the stream.
    const logger = createLogger('debug');
    (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = {
      write: (line: string) => void lines.push(line),
    };
    deps = await createDependencies(config, { database: database.handle, logger });
    app = await buildApp(deps);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await deps?.close();
    await database?.drop();
  });

  it('logs requests, but no password, token or session cookie', async () => {
    const username = 'logged_user';
    const password = 'Secret-Pass-Phrase-9931';
    const secrets: string[] = [password];

    const registered = await app.inject({
      method: 'POST',
      url: '/api/auth/register',
      payload: { username, password, email: 'logged@hubx.test' },
    });
    expect(registered.statusCode, registered.body).toBe(201);
    const wrongLogin = await app.inject({
      method: 'POST',
      url: '/api/auth/token',
      payload: { username, password: 'Wrong-Guess-Pass-4410' },
    });
    expect(wrongLogin.statusCode).toBe(401);
    secrets.push('Wrong-Guess-Pass-4410');

    const tokens = await app.inject({
      method: 'POST',
      url: '/api/auth/token',
      payload: { username, password },
    });
    expect(tokens.statusCode).toBe(200);
    const { access, refresh } = tokens.json() as { access: string; refresh: string };
    secrets.push(access, refresh);

    expect(
      (await app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(access) })).statusCode,
    ).toBe(200);
    const refreshed = await app.inject({
      method: 'POST',
      url: '/api/auth/token/refresh',
      payload: { refresh },
    });
    expect(refreshed.statusCode).toBe(200);
    secrets.push(refreshed.json().access);

    const queryToken = await app.inject({
      method: 'GET',
      url: `/api/auth/me?token=${encodeURIComponent(access)}`,
    });
    expect(queryToken.statusCode).toBe(401);
    const forged = await craftToken({
      subject: registered.json().id,
      secret: 'forged-secret-that-is-long-enough-00000',
    });
    secrets.push(forged);
    expect(
      (await app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(forged) })).statusCode,
    ).toBe(401);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/api/auth/me',
          headers: { authorization: `Token ${access}` },
        })
      ).statusCode,
    ).toBe(401);

    const login = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username, password },
    });
    expect(login.statusCode).toBe(200);
    const session = login.cookies.find((cookie) => cookie.name === deps.config.auth.session.cookieName);
    expect(session?.value).toBeTruthy();
    secrets.push(session!.value);
    const cookie = `${session!.name}=${session!.value}`;
    expect((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } })).statusCode).toBe(
      200,
    );
    const logout = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie, origin: ALLOWED_ORIGIN },
    });
    expect(logout.statusCode).toBe(204);

    // Response logs are written after the reply is sent; let them land.
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A canary shows that anything written through this logger is captured, so the search can fail.
    const canary = 'canary-7f3a9c1e';
    deps.logger.info({ probe: canary }, 'capture check');
    const output = lines.join('');

    expect(output).toContain(canary);
    expect(output).toContain('incoming request');
    expect(output).toContain('request completed');
    expect(output).toContain('/api/auth/me');
    expect(output).toContain('/api/auth/login');
    expect(lines.length).toBeGreaterThanOrEqual(20);

    for (const secret of secrets) {
      expect(output, 'a secret reached the logs').not.toContain(secret);
      // A partial leak (e.g. a token's signature alone) counts too.
      const signature = secret.split('.')[2];
      if (signature) expect(output).not.toContain(signature);
    }
    expect(output).not.toContain('?token=');
    expect(output).not.toContain(encodeURIComponent(access));
  });
});

describe.skipIf(skipDatabaseTests)('auth attempt limit (AUTH_RATE_LIMIT=3/60s)', () => {
  let t: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp({ AUTH_RATE_LIMIT: '3/60s' });
    user = await t.createUser();
  });
  afterAll(async () => t?.close());

  const attempt = (url: string, payload: Record<string, unknown>, remoteAddress = '198.51.100.7') =>
    t.inject({ method: 'POST', url, payload, remoteAddress });

  it('refuses a client address its 4th password attempt in the window, right password or not; others are unaffected', async () => {
    const wrong = { username: user.username, password: 'not-the-password' };
    expect((await attempt('/api/auth/token', wrong)).statusCode).toBe(401);
    expect((await attempt('/api/auth/login', wrong)).statusCode).toBe(401);
    const registered = await attempt('/api/auth/register', {
      username: `limit_${Date.now()}`,
      password: TEST_PASSWORD,
      email: 'limit@example.test',
    });
    expect(registered.statusCode, registered.body).toBe(201);

    // Token, login and registration share the budget; a correct password does not get past it.
    for (const url of ['/api/auth/token', '/api/auth/login']) {
      const refused = await attempt(url, { username: user.username, password: TEST_PASSWORD });
      expect(refused.statusCode, refused.body).toBe(429);
      expect(refused.json()).toMatchObject({ code: 'rate_limited' });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    }
    const refusedRegistration = await attempt('/api/auth/register', {
      username: `limit2_${Date.now()}`,
      password: TEST_PASSWORD,
      email: 'limit2@example.test',
    });
    expect(refusedRegistration.statusCode).toBe(429);

    // Another address has its own budget; a bearer token keeps working for the limited one.
    const elsewhere = await attempt(
      '/api/auth/token',
      { username: user.username, password: TEST_PASSWORD },
      '203.0.113.9',
    );
    expect(elsewhere.statusCode, elsewhere.body).toBe(200);
    const me = await t.inject({ url: '/api/auth/me', headers: user.auth, remoteAddress: '198.51.100.7' });
    expect(me.statusCode).toBe(200);
  });
});
