import type { AuthUser } from '../auth/auth.service.js';
import type { UsersRepository } from '../users/users.repository.js';
import { createUserNotFoundError } from '../users/users.errors.js';
import { createErrorFactory, createForbiddenError } from '../../shared/errors.js';
import type { ContextRef, ContextsRepository } from './contexts.repository.js';
import type { MembershipStatus } from './contexts.table.js';

export const createMembershipNotFoundError = createErrorFactory({
  status: 404,
  code: 'contexts.membership_not_found',
  detail: 'This user is not a member of that context.',
});

/** Context memberships mirror the platform; only staff manage them. */
export function createContextsService(deps: {
  contextsRepository: ContextsRepository;
  usersRepository: Pick<UsersRepository, 'findById'>;
  onMembershipChanged?: (change: { userId: string; context: ContextRef; active: boolean }) => void;
}) {
  const { contextsRepository, usersRepository } = deps;

  function requireStaff(actor: AuthUser) {
    if (!actor.isStaff) throw createForbiddenError('Only staff can manage context memberships.');
  }

  return {
    async setMembership(actor: AuthUser, input: ContextRef & { userId: string; status: MembershipStatus }) {
      requireStaff(actor);
      const user = await usersRepository.findById(input.userId);
      if (!user) throw createUserNotFoundError();
      const { userId, status, ...context } = input;
      const row = await contextsRepository.upsert(userId, context, status);
      deps.onMembershipChanged?.({ userId, context, active: status === 'ativo' });
      return row;
    },
    async removeMembership(actor: AuthUser, input: ContextRef & { userId: string }) {
      requireStaff(actor);
      const { userId, ...context } = input;
      const removed = await contextsRepository.delete(userId, context);
      if (!removed) throw createMembershipNotFoundError();
      deps.onMembershipChanged?.({ userId, context, active: false });
    },
  };
}
export type ContextsService = ReturnType<typeof createContextsService>;
