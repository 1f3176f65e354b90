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
export const createInvalidModerationDateError = createErrorFactory({
  status: 400,
  code: 'moderation.invalid_date',
  detail: 'desde and ate must be ISO 8601 timestamps.',
});
export const createRestoreForbiddenError = createErrorFactory({
  status: 403,
  code: 'moderation.restore_forbidden',
  detail: 'Only channel admins and moderators may restore an earlier version.',
});
export const createVersionNotFoundError = createErrorFactory({
  status: 404,
  code: 'moderation.version_not_found',
  detail: 'No such earlier version of this message.',
});
export const createRestoreEncryptedError = createErrorFactory({
  status: 409,
  code: 'moderation.restore_encrypted',
  detail: 'End-to-end encrypted messages cannot be restored by the server; the sender edits them.',
});
export const createNotStaffError = createErrorFactory({
  status: 403,
  code: 'moderation.not_staff',
  detail: 'Only staff may grant or revoke the moderator role.',
});
