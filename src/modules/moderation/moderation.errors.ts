import { createErrorFactory } from '../../shared/errors.js';

export const createAlreadyFlaggedError = createErrorFactory({
  status: 409,
  code: 'moderation.already_flagged',
  detail: 'You have already flagged this message.',
});
export const createOwnMessageFlagError = createErrorFactory({
  status: 400,
  code: 'moderation.own_message',
  detail: 'You cannot flag your own message.',
});
export const createNotModeratorError = createErrorFactory({
  status: 403,
  code: 'moderation.not_moderator',
  detail: 'Only moderators may do this.',
});
export const createHistoryForbiddenError = createErrorFactory({
  status: 403,
  code: 'moderation.history_forbidden',
  detail: "Only the message's sender, channel admins and moderators may read its history.",
});
export const createNotStaffError = createErrorFactory({
  status: 403,
  code: 'moderation.not_staff',
  detail: 'Only staff may grant or revoke the moderator role.',
});
