import { randomUUID } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTokenCodec, type TokenSettings } from './auth.tokens.js';

const settings: TokenSettings = {
  secret: 'unit-test-secret-that-is-long-enough-0123456789',
  issuer: 'hubx-chat',
  audience: 'hubx-chat',
  accessTtlSeconds: 300,
  refreshTtlSeconds: 86_400,
};
const platform = {
  issuer: 'https://platform.hubx.test',
  audience: 'hubx-chat-platform',
  secret: 'platform-shared-secret-that-is-long-enough-42',
  algorithms: ['HS256'],
};
const encode = (secret: string) => new TextEncoder().encode(secret);
const now = () => Math.floor(Date.now() / 1000);
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

type CraftOptions = {
  subject?: string;
  type?: string | null;
  secret?: string;
  alg?: string;
  issuer?: string;
  audience?: string;
  issuedAt?: number | null;
  expiresAt?: number | null;
  claims?: Record<string, unknown>;
};

/** A token shaped like ours, with any one property changed. */
function craft(options: CraftOptions = {}): Promise<string> {
  const type = options.type === undefined ? 'access' : options.type;
  const jwt = new SignJWT({ ...(type === null ? {} : { token_type: type }), ...options.claims })
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(options.subject ?? randomUUID())
    .setIssuer(options.issuer ?? settings.issuer)
    .setAudience(options.audience ?? settings.audience)
    .setJti(randomUUID());
  if (options.issuedAt !== null) jwt.setIssuedAt(options.issuedAt ?? now());
  if (options.expiresAt !== null) jwt.setExpirationTime(options.expiresAt ?? now() + 60);
  return jwt.sign(encode(options.secret ?? settings.secret));
}

function unsignedToken(payload: Record<string, unknown>): string {
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`;
}

describe('token codec: our own tokens', () => {
  const codec = createTokenCodec(settings);

  it('round-trips an access and a refresh token to the user id', async () => {
    const userId = randomUUID();
    const access = await codec.signAccess(userId);
    const refresh = await codec.signRefresh(userId);
    expect(access).not.toBe(refresh);
    await expect(codec.verify(access, 'access')).resolves.toBe(userId);
    await expect(codec.verify(refresh, 'refresh')).resolves.toBe(userId);
  });

  it('signs HS256 tokens carrying sub, iss, aud, iat, exp, jti and the token type', async () => {
    const userId = randomUUID();
    const access = await codec.signAccess(userId);
    expect(decodeProtectedHeader(access)).toMatchObject({ alg: 'HS256' });
    const claims = decodeJwt(access);
    expect(claims).toMatchObject({
      sub: userId,
      iss: settings.issuer,
      aud: settings.audience,
      token_type: 'access',
    });
    expect(claims.jti).toEqual(expect.any(String));
    expect(claims.exp! - claims.iat!).toBe(settings.accessTtlSeconds);
    const refreshClaims = decodeJwt(await codec.signRefresh(userId));
    expect(refreshClaims.token_type).toBe('refresh');
    expect(refreshClaims.exp! - refreshClaims.iat!).toBe(settings.refreshTtlSeconds);
    // Two tokens for the same user are still distinct (unique jti).
    expect(decodeJwt(await codec.signAccess(userId)).jti).not.toBe(claims.jti);
  });

  it('refuses type confusion: a refresh token is not an access token and vice versa', async () => {
    const userId = randomUUID();
    await expect(codec.verify(await codec.signRefresh(userId), 'access')).resolves.toBeUndefined();
    await expect(codec.verify(await codec.signAccess(userId), 'refresh')).resolves.toBeUndefined();
    await expect(codec.verify(await craft({ type: null }), 'access')).resolves.toBeUndefined();
    await expect(codec.verify(await craft({ type: 'id' }), 'access')).resolves.toBeUndefined();
  });

  it('accepts a hand-crafted token with every required claim (the control for the cases below)', async () => {
    const subject = randomUUID();
    await expect(codec.verify(await craft({ subject }), 'access')).resolves.toBe(subject);
  });

  it('pins HS256: alg none, HS384/HS512 with the same secret and RS256 are refused', async () => {
    const subject = randomUUID();
    const payload = {
      sub: subject,
      iss: settings.issuer,
      aud: settings.audience,
      iat: now(),
      exp: now() + 60,
      token_type: 'access',
    };
    await expect(codec.verify(unsignedToken(payload), 'access')).resolves.toBeUndefined();
    await expect(codec.verify(await craft({ subject, alg: 'HS384' }), 'access')).resolves.toBeUndefined();
    await expect(codec.verify(await craft({ subject, alg: 'HS512' }), 'access')).resolves.toBeUndefined();
    const { privateKey } = await generateKeyPair('RS256');
    const rs256 = await new SignJWT({ token_type: 'access' })
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject(subject)
      .setIssuer(settings.issuer)
      .setAudience(settings.audience)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(privateKey);
    await expect(codec.verify(rs256, 'access')).resolves.toBeUndefined();
  });

  it('refuses a token signed with another secret, or with a tampered payload', async () => {
    await expect(
      codec.verify(await craft({ secret: 'another-secret-that-is-also-long-enough-99' }), 'access'),
    ).resolves.toBeUndefined();
    const genuine = await codec.signAccess(randomUUID());
    const [header, , signature] = genuine.split('.');
    const forgedPayload = { ...decodeJwt(genuine), sub: randomUUID() };
    await expect(
      codec.verify(`${header}.${base64url(forgedPayload)}.${signature}`, 'access'),
    ).resolves.toBeUndefined();
  });

  it('refuses expired tokens and tokens without exp, iss, aud or sub', async () => {
    await expect(
      codec.verify(await craft({ issuedAt: now() - 600, expiresAt: now() - 300 }), 'access'),
    ).resolves.toBeUndefined();
    await expect(codec.verify(await craft({ expiresAt: null }), 'access')).resolves.toBeUndefined();
    await expect(codec.verify(await craft({ issuer: 'someone-else' }), 'access')).resolves.toBeUndefined();
    await expect(codec.verify(await craft({ audience: 'another-app' }), 'access')).resolves.toBeUndefined();
    const noIssuer = await new SignJWT({ token_type: 'access' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(randomUUID())
      .setAudience(settings.audience)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(encode(settings.secret));
    await expect(codec.verify(noIssuer, 'access')).resolves.toBeUndefined();
    const noSubject = await new SignJWT({ token_type: 'access' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(settings.issuer)
      .setAudience(settings.audience)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(encode(settings.secret));
    await expect(codec.verify(noSubject, 'access')).resolves.toBeUndefined();
  });

  it('answers undefined (never throws) for garbage', async () => {
    for (const garbage of ['', 'abc', 'a.b.c', '...', `${base64url({ alg: 'HS256' })}.e30.`]) {
      await expect(codec.verify(garbage, 'access')).resolves.toBeUndefined();
    }
  });

  it('peeks at the unverified issuer, and at nothing in garbage', async () => {
    expect(codec.peekIssuer(await craft({ issuer: 'https://elsewhere.test' }))).toBe(
      'https://elsewhere.test',
    );
    expect(codec.peekIssuer('not-a-token')).toBeUndefined();
    expect(codec.peekIssuer('a.!!!.c')).toBeUndefined();
    expect(codec.peekIssuer(`x.${base64url({ iss: 42 })}.y`)).toBeUndefined();
  });

  it('does not verify platform tokens when no platform is configured', async () => {
    const token = await craft({
      secret: platform.secret,
      issuer: platform.issuer,
      audience: platform.audience,
      claims: { preferred_username: 'someone' },
    });
    await expect(codec.verifyPlatform(token)).resolves.toBeUndefined();
  });
});

describe('token codec: platform tokens (shared secret)', () => {
  const codec = createTokenCodec(settings, platform);

  const platformToken = (options: CraftOptions = {}) =>
    craft({
      type: null,
      secret: platform.secret,
      issuer: platform.issuer,
      audience: platform.audience,
      ...options,
    });

  it('reads sub, preferred_username, email and is_staff from a valid token', async () => {
    const token = await platformToken({
      subject: 'platform-42',
      claims: { preferred_username: 'ana.souza', email: 'ana@hubx.test', is_staff: true },
    });
    await expect(codec.verifyPlatform(token)).resolves.toEqual({
      subject: 'platform-42',
      username: 'ana.souza',
      email: 'ana@hubx.test',
      isStaff: true,
    });
  });

  it('falls back to the username claim, an empty email and non-staff', async () => {
    const token = await platformToken({ subject: 'platform-7', claims: { username: 'bruno' } });
    await expect(codec.verifyPlatform(token)).resolves.toEqual({
      subject: 'platform-7',
      username: 'bruno',
      email: '',
      isStaff: false,
    });
    // Only the boolean true makes staff; a string does not.
    const stringy = await platformToken({ claims: { username: 'carla', is_staff: 'true' } });
    await expect(codec.verifyPlatform(stringy)).resolves.toMatchObject({ isStaff: false });
  });

  it('refuses platform tokens without a username, or with the wrong audience, issuer, key or algorithm', async () => {
    const claims = { preferred_username: 'dora' };
    await expect(codec.verifyPlatform(await platformToken({ claims }))).resolves.toBeDefined();
    await expect(codec.verifyPlatform(await platformToken())).resolves.toBeUndefined();
    await expect(
      codec.verifyPlatform(await platformToken({ claims, audience: 'someone-else' })),
    ).resolves.toBeUndefined();
    await expect(
      codec.verifyPlatform(await platformToken({ claims, issuer: 'https://evil.test' })),
    ).resolves.toBeUndefined();
    await expect(
      codec.verifyPlatform(await platformToken({ claims, secret: settings.secret })),
    ).resolves.toBeUndefined();
    await expect(
      codec.verifyPlatform(await platformToken({ claims, alg: 'HS512' })),
    ).resolves.toBeUndefined();
    await expect(
      codec.verifyPlatform(await platformToken({ claims, issuedAt: now() - 600, expiresAt: now() - 300 })),
    ).resolves.toBeUndefined();
    await expect(
      codec.verifyPlatform(await platformToken({ claims, expiresAt: null })),
    ).resolves.toBeUndefined();
    const unsigned = unsignedToken({
      sub: 'platform-9',
      iss: platform.issuer,
      aud: platform.audience,
      exp: now() + 60,
      preferred_username: 'eve',
    });
    await expect(codec.verifyPlatform(unsigned)).resolves.toBeUndefined();
  });

  it('refuses platform refresh tokens (any token_type but access); access or untyped ones pass', async () => {
    const claims = { preferred_username: 'gil' };
    for (const type of ['refresh', 'sliding', 'id', '']) {
      await expect(
        codec.verifyPlatform(await platformToken({ claims, type })),
        type,
      ).resolves.toBeUndefined();
    }
    await expect(
      codec.verifyPlatform(await platformToken({ claims, type: 'access' })),
    ).resolves.toMatchObject({
      username: 'gil',
    });
    await expect(codec.verifyPlatform(await platformToken({ claims }))).resolves.toMatchObject({
      username: 'gil',
    });
  });

  it('keeps platform tokens and our tokens apart', async () => {
    const ours = await codec.signAccess(randomUUID());
    await expect(codec.verifyPlatform(ours)).resolves.toBeUndefined();
    const theirs = await platformToken({ claims: { preferred_username: 'fabio' } });
    await expect(codec.verify(theirs, 'access')).resolves.toBeUndefined();
  });
});
