import { createErrorFactory } from '../../shared/errors.js';

export const createChannelNotFoundError = createErrorFactory({
  status: 404,
  code: 'channels.not_found',
  detail: 'Channel not found.',
});
export const createNotChannelMemberError = createErrorFactory({
  status: 403,
  code: 'channels.not_member',
  detail: 'Only participants of this channel can do that.',
});
export const createNotChannelAdminError = createErrorFactory({
  status: 403,
  code: 'channels.not_admin',
  detail: 'Only channel admins and owners can do that.',
});
export const createStaffOnlyError = createErrorFactory({
  status: 403,
  code: 'channels.staff_only',
  detail: 'Only staff can do that.',
});
export const createInvalidUsersError = createErrorFactory({
  status: 400,
  code: 'channels.invalid_users',
  detail: 'Some user ids are unknown, inactive or not allowed in this channel.',
});
