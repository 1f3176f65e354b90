import type { AuthUser } from '../auth/auth.service.js';
import { isModerator } from '../channels/channels.access.js';
import type { ModeratorGrant, ModeratorsRepository } from '../users/moderators.repository.js';
import type { UsersRepository, UserWithGrant } from '../users/users.repository.js';
import { createUserNotFoundError } from '../users/users.errors.js';
import { createNotModeratorError, createNotStaffError } from './moderation.errors.js';

const toGrantView = (grant: ModeratorGrant) => ({
  user: grant.user,
  is_moderator: true as const,
  granted_by: grant.grantedBy,
  created_at: grant.createdAt.toISOString(),
});

/**
 * Who moderates besides staff: staff grant and revoke the role (moderators moderate, but do not
 * appoint each other); staff and moderators may list it. A change reaches the user's open sockets
 * at once: after it commits, `onModeratorChanged` announces an access change for the user.
 */
export function createModeratorsService(deps: {
  moderatorsRepository: ModeratorsRepository;
  usersRepository: Pick<UsersRepository, 'findById' | 'findByUsername'>;
  /** Awaited, so the access change is on its way when the request (or the CLI) answers. */
  onModeratorChanged?: (change: { userId: string }) => Promise<void> | void;
}) {
  const { moderatorsRepository, usersRepository } = deps;

  function requireStaff(actor: AuthUser) {
    if (!actor.isStaff) throw createNotStaffError();
  }

  async function grant(target: UserWithGrant | undefined, grantedBy: string | null) {
    if (!target?.isActive) throw createUserNotFoundError();
    const { created } = await moderatorsRepository.grant(target.id, grantedBy);
    if (created) await deps.onModeratorChanged?.({ userId: target.id });
    const found = await moderatorsRepository.find(target.id);
    // Revoked again by a concurrent request in between: the last writer wins.
    if (!found) throw createUserNotFoundError('The user is no longer a granted moderator.');
    return { created, moderator: toGrantView(found) };
  }

  async function revoke(target: UserWithGrant | undefined): Promise<{ revoked: boolean }> {
    if (!target) throw createUserNotFoundError();
    const revoked = await moderatorsRepository.revoke(target.id);
    if (revoked) await deps.onModeratorChanged?.({ userId: target.id });
    return { revoked };
  }

  return {
    /** Grants the role (idempotent); `created` tells a first grant from a repeated one. */
    async grantModerator(actor: AuthUser, userId: string) {
      requireStaff(actor);
      return grant(await usersRepository.findById(userId), actor.id);
    },

    /**
     * Revokes the role; a user without a grant is left as is (idempotent). Staff stay moderators
     * through their flag. An inactive user's grant can be revoked too: nothing should linger.
     */
    async revokeModerator(actor: AuthUser, userId: string) {
      requireStaff(actor);
      return revoke(await usersRepository.findById(userId));
    },

    /** The operator's CLI (`grant-moderator --username`): no acting user, so no granter is recorded. */
    async grantModeratorByUsername(username: string) {
      return grant(await usersRepository.findByUsername(username), null);
    },

    async revokeModeratorByUsername(username: string) {
      return revoke(await usersRepository.findByUsername(username));
    },

    async listModerators(actor: AuthUser, options: { afterId?: string | undefined; limit: number }) {
      if (!isModerator(actor)) throw createNotModeratorError();
      const rows = await moderatorsRepository.list(options);
      const page = rows.slice(0, options.limit);
      return {
        results: page.map(toGrantView),
        nextAfterId: rows.length > options.limit ? page[page.length - 1]!.user.id : undefined,
      };
    },
  };
}
export type ModeratorsService = ReturnType<typeof createModeratorsService>;
