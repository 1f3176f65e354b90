import { createErrorFactory } from '../../shared/errors.js';

export const createParticipantNotFoundError = createErrorFactory({
  status: 404,
  code: 'participants.not_found',
  detail: 'This user is not a participant of the channel.',
});
export const createNotParticipantError = createErrorFactory({
  status: 400,
  code: 'participants.not_participant',
  detail: 'You are not a participant of this channel.',
});
export const createLastAdminError = createErrorFactory({
  status: 400,
  code: 'participants.last_admin',
  detail: 'The last admin cannot leave the channel; promote another participant first.',
});
export const createCannotRemoveOwnerError = createErrorFactory({
  status: 403,
  code: 'participants.cannot_remove_owner',
  detail: 'The channel owner cannot be removed.',
});
export const createCannotRemoveAdminError = createErrorFactory({
  status: 403,
  code: 'participants.cannot_remove_admin',
  detail: 'Only the owner can remove another admin.',
});
export const createNotOwnerError = createErrorFactory({
  status: 403,
  code: 'participants.not_owner',
  detail: 'Only the channel owner can change roles.',
});
export const createOwnerRoleError = createErrorFactory({
  status: 400,
  code: 'participants.owner_role_fixed',
  detail: "The owner's role cannot be changed.",
});
