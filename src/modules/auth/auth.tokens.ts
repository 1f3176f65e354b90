import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';

export type TokenType = 'access' | 'refresh';

export type TokenSettings = {
  secret: string;
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
};

export type PlatformTokenSettings = {
  issuer: string;
  audience: string;
  secret?: string | undefined;
  jwksUrl?: string | undefined;
  algorithms: string[];
};

export type PlatformClaims = { subject: string; username: string; email: string; isStaff: boolean };

// HS256 only: pinning the algorithm is what stops `alg: none` and key-confusion tokens.
const ALGORITHM = 'HS256';

export function createTokenCodec(settings: TokenSettings, platform?: PlatformTokenSettings) {
  const key = new TextEncoder().encode(settings.secret);
  const platformKey = platform?.jwksUrl
    ? createRemoteJWKSet(new URL(platform.jwksUrl))
    : platform?.secret
      ? new TextEncoder().encode(platform.secret)
      : undefined;

  async function sign(userId: string, type: TokenType): Promise<string> {
    const ttl = type === 'access' ? settings.accessTtlSeconds : settings.refreshTtlSeconds;
    return new SignJWT({ token_type: type })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(settings.issuer)
      .setAudience(settings.audience)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(`${ttl}s`)
      .sign(key);
  }

  /** Returns the user id of a valid token of the given type, or undefined for anything else. */
  async function verify(token: string, type: TokenType): Promise<string | undefined> {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [ALGORITHM],
        issuer: settings.issuer,
        audience: settings.audience,
        requiredClaims: ['exp', 'iat', 'sub', 'iss', 'aud'],
      });
      if (payload.token_type !== type || typeof payload.sub !== 'string') return undefined;
      return payload.sub;
    } catch (error) {
      if (error instanceof joseErrors.JOSEError || error instanceof TypeError) return undefined;
      throw error;
    }
  }

  /** Verifies a token issued by the host platform; undefined when not configured or not valid. */
  async function verifyPlatform(token: string): Promise<PlatformClaims | undefined> {
    if (!platform || !platformKey) return undefined;
    try {
      const options = {
        algorithms: platform.algorithms,
        issuer: platform.issuer,
        audience: platform.audience,
        requiredClaims: ['exp', 'sub', 'iss', 'aud'],
      };
      const { payload } =
        platformKey instanceof Uint8Array
          ? await jwtVerify(token, platformKey, options)
          : await jwtVerify(token, platformKey, options);
      return readPlatformClaims(payload);
    } catch (error) {
      if (error instanceof joseErrors.JOSEError || error instanceof TypeError) return undefined;
      throw error;
    }
  }

  return {
    signAccess: (userId: string) => sign(userId, 'access'),
    signRefresh: (userId: string) => sign(userId, 'refresh'),
    verify,
    verifyPlatform,
    /** Cheap look at the unverified issuer, only to pick which verifier to use. */
    peekIssuer(token: string): string | undefined {
      const part = token.split('.')[1];
      if (!part) return undefined;
      try {
        const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { iss?: unknown };
        return typeof claims.iss === 'string' ? claims.iss : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
export type TokenCodec = ReturnType<typeof createTokenCodec>;

const PLATFORM_USERNAME = /^[\w.@+-]{1,150}$/u;

/** Claims that could not be stored as a user (too long, odd characters) make the token invalid. */
function readPlatformClaims(payload: JWTPayload): PlatformClaims | undefined {
  // Platforms that issue refresh tokens with the same issuer and audience mark them (simplejwt:
  // `token_type: "refresh"`); only an access token, or one with no type at all, grants access.
  if (payload.token_type !== undefined && payload.token_type !== 'access') return undefined;
  if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255)
    return undefined;
  if (payload.sub.includes('\u0000')) return undefined;
  const username =
    typeof payload.preferred_username === 'string'
      ? payload.preferred_username
      : typeof payload.username === 'string'
        ? payload.username
        : undefined;
  if (!username || !PLATFORM_USERNAME.test(username)) return undefined;
  const email = typeof payload.email === 'string' ? payload.email : '';
  if (email.length > 254 || email.includes('\u0000')) return undefined;
  return { subject: payload.sub, username, email, isStaff: payload.is_staff === true };
}
