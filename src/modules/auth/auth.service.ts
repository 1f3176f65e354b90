import { createHash, randomBytes } from 'node:crypto';
import { newId } from '../../shared/ids.js';
import { createValidationError } from '../../shared/errors.js';
import type { UsersRepository, UserWithGrant } from '../users/users.repository.js';
import { createUsernameTakenError, createWeakPasswordError } from '../users/users.errors.js';
import type { SessionsRepository } from './auth.repository.js';
import {
  createInvalidCredentialsError,
  createInvalidTokenError,
  createRegistrationClosedError,
} from './auth.errors.js';
import { checkPasswordStrength, getDummyHash, hashPassword, verifyPassword } from './auth.passwords.js';
import type { TokenCodec } from './auth.tokens.js';

export type AuthUser = {
  id: string;
  username: string;
  email: string;
  isStaff: boolean;
  /** Staff, or granted the role (chat_moderators); what it allows is channels.access's isModerator. */
  isModerator: boolean;
};

export const toAuthUser = (row: UserWithGrant): AuthUser => ({
  id: row.id,
  username: row.username,
  email: row.email,
  isStaff: row.isStaff,
  isModerator: row.isStaff || row.hasModeratorGrant,
});

/** The stored (and loggable) key of a session: a SHA-256 of the cookie value. */
export const sessionKeyOf = (token: string) => createHash('sha256').update(token).digest('hex');
const hashSessionToken = sessionKeyOf;
const USERNAME_PATTERN = /^[\w.@+-]{1,150}$/u;

export function createAuthService(deps: {
  usersRepository: UsersRepository;
  sessionsRepository: SessionsRepository;
  tokens: TokenCodec;
  settings: {
    allowRegistration: boolean;
    passwordMinLength: number;
    sessionTtlSeconds: number;
    platformIssuer?: string | undefined;
  };
  now?: () => Date;
  /** Told after a session ends, so sockets opened with it can be closed on every node. */
  onSessionEnded?: (session: { userId: string; sessionKey: string }) => void;
}) {
  const { usersRepository, sessionsRepository, tokens, settings } = deps;
  const now = deps.now ?? (() => new Date());

  async function createUser(input: {
    username: string;
    password: string;
    email?: string;
    isStaff?: boolean;
  }) {
    if (!USERNAME_PATTERN.test(input.username)) {
      throw createValidationError(
        'Enter a valid username: up to 150 letters, digits and @/./+/-/_ characters.',
        'users.invalid_username',
      );
    }
    const problems = checkPasswordStrength(input.password, {
      username: input.username,
      minLength: settings.passwordMinLength,
    });
    if (problems.length > 0) throw createWeakPasswordError(problems.join(' '));
    const row = await usersRepository.insert({
      id: newId(),
      username: input.username,
      email: input.email ?? '',
      passwordHash: await hashPassword(input.password),
      isStaff: input.isStaff ?? false,
    });
    if (!row) throw createUsernameTakenError();
    // A new user holds no grant yet.
    return toAuthUser({ ...row, hasModeratorGrant: false });
  }

  async function checkCredentials(username: string, password: string): Promise<UserWithGrant> {
    const user = await usersRepository.findByUsername(username);
    if (!user || !user.passwordHash) {
      await verifyPassword(password, await getDummyHash());
      throw createInvalidCredentialsError();
    }
    const valid = await verifyPassword(password, user.passwordHash);
    if (!valid || !user.isActive) throw createInvalidCredentialsError();
    return user;
  }

  async function findActiveUser(id: string): Promise<UserWithGrant | undefined> {
    const user = await usersRepository.findById(id);
    return user?.isActive ? user : undefined;
  }

  /** Provisions (or refreshes) the local user behind a verified platform token. */
  async function provisionPlatformUser(claims: {
    subject: string;
    username: string;
    email: string;
    isStaff: boolean;
  }): Promise<UserWithGrant | undefined> {
    const issuer = settings.platformIssuer;
    if (!issuer) return undefined;
    const existing = await usersRepository.findByExternalIdentity(issuer, claims.subject);
    if (existing) {
      if (!existing.isActive) return undefined;
      if (existing.isStaff !== claims.isStaff || existing.email !== claims.email) {
        return usersRepository.update(existing.id, { isStaff: claims.isStaff, email: claims.email });
      }
      return existing;
    }
    // A local account may already hold the username: the platform user then gets a stable suffix.
    const suffix = createHash('sha256').update(`${issuer}\n${claims.subject}`).digest('hex').slice(0, 8);
    for (const username of [claims.username, `${claims.username.slice(0, 141)}-${suffix}`]) {
      const inserted = await usersRepository.insert({
        id: newId(),
        username,
        email: claims.email,
        isStaff: claims.isStaff,
        externalIssuer: issuer,
        externalSubject: claims.subject,
      });
      if (inserted) return { ...inserted, hasModeratorGrant: false };
      // A concurrent first sight of the same identity may have won the insert.
      const raced = await usersRepository.findByExternalIdentity(issuer, claims.subject);
      if (raced) return raced.isActive ? raced : undefined;
    }
    return undefined;
  }

  return {
    async register(input: { username: string; password: string; email: string }) {
      if (!settings.allowRegistration) throw createRegistrationClosedError();
      return createUser({ ...input, isStaff: false });
    },
    createUser,

    async issueTokens(username: string, password: string) {
      const user = await checkCredentials(username, password);
      return { access: await tokens.signAccess(user.id), refresh: await tokens.signRefresh(user.id) };
    },

    async refreshAccessToken(refresh: string) {
      const userId = await tokens.verify(refresh, 'refresh');
      const user = userId ? await findActiveUser(userId) : undefined;
      if (!user) throw createInvalidTokenError('Token is invalid or expired.');
      return { access: await tokens.signAccess(user.id) };
    },

    /** Resolves a bearer token (ours or the platform's) to an active user. */
    async authenticateBearer(token: string): Promise<AuthUser | undefined> {
      if (settings.platformIssuer && tokens.peekIssuer(token) === settings.platformIssuer) {
        const claims = await tokens.verifyPlatform(token);
        const user = claims ? await provisionPlatformUser(claims) : undefined;
        return user ? toAuthUser(user) : undefined;
      }
      const userId = await tokens.verify(token, 'access');
      const user = userId ? await findActiveUser(userId) : undefined;
      return user ? toAuthUser(user) : undefined;
    },

    /** The active user with this id as authentication sees it now (open sockets refresh with it). */
    async findUser(id: string): Promise<AuthUser | undefined> {
      const user = await findActiveUser(id);
      return user ? toAuthUser(user) : undefined;
    },

    async login(username: string, password: string) {
      const user = await checkCredentials(username, password);
      const token = randomBytes(32).toString('base64url');
      const expiresAt = new Date(now().getTime() + settings.sessionTtlSeconds * 1000);
      await sessionsRepository.insert({
        id: newId(),
        tokenHash: hashSessionToken(token),
        userId: user.id,
        expiresAt,
      });
      return { token, expiresAt, user: toAuthUser(user) };
    },

    async authenticateSession(token: string): Promise<AuthUser | undefined> {
      const user = await sessionsRepository.findUserByTokenHash(hashSessionToken(token), now());
      return user ? toAuthUser(user) : undefined;
    },

    /** Whether the session with this key (see sessionKeyOf) is still open and its user active. */
    async isSessionActive(sessionKey: string): Promise<boolean> {
      return (await sessionsRepository.findUserByTokenHash(sessionKey, now())) !== undefined;
    },

    /** Ends a session (no-op for an unknown one). */
    async logout(token: string): Promise<void> {
      const sessionKey = hashSessionToken(token);
      const deleted = await sessionsRepository.deleteByTokenHash(sessionKey);
      if (deleted) deps.onSessionEnded?.({ userId: deleted.userId, sessionKey });
    },
  };
}
export type AuthService = ReturnType<typeof createAuthService>;
