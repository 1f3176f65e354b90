import { createErrorFactory } from '../../shared/errors.js';

export const createMessageNotFoundError = createErrorFactory({
  status: 404,
  code: 'messages.not_found',
  detail: 'Message not found in this channel.',
});
export const createInvalidReplyError = createErrorFactory({
  status: 400,
  code: 'messages.invalid_reply_to',
  detail: 'reply_to must be a visible message of the same channel.',
});
export const createEmptyMessageError = createErrorFactory({
  status: 400,
  code: 'messages.empty',
  detail: 'Message content may not be blank.',
});
export const createMessageTooLongError = createErrorFactory({
  status: 400,
  code: 'messages.too_long',
  detail: 'Message content is too long.',
});
export const createUnsupportedTypeError = createErrorFactory({
  status: 400,
  code: 'messages.type_not_supported',
  detail: 'Only text messages are accepted until attachment uploads are available.',
});
export const createPlaintextRefusedError = createErrorFactory({
  status: 400,
  code: 'messages.e2ee_required',
  detail:
    'This channel is end-to-end encrypted: send conteudo_cifrado, alg (AES-GCM) and key_version, and no conteudo.',
});
export const createCiphertextRefusedError = createErrorFactory({
  status: 400,
  code: 'messages.e2ee_not_enabled',
  detail: 'This channel is not end-to-end encrypted: send conteudo, not conteudo_cifrado.',
});
export const createCannotEditError = createErrorFactory({
  status: 403,
  code: 'messages.cannot_edit',
  detail: 'Only the sender or a channel admin can edit this message.',
});
export const createCannotDeleteError = createErrorFactory({
  status: 403,
  code: 'messages.cannot_delete',
  detail: 'Only the sender, a channel admin or staff can delete this message.',
});
export const createInvalidDateError = createErrorFactory({
  status: 400,
  code: 'messages.invalid_date',
  detail: 'desde and ate must be ISO 8601 timestamps.',
});
export const createInvalidCursorError = createErrorFactory({
  status: 400,
  code: 'invalid_cursor',
  detail: 'The cursor is not valid.',
});
export const createClientIdReusedError = createErrorFactory({
  status: 409,
  code: 'messages.client_id_reused',
  detail: 'This client_id belongs to a message that has since been deleted; use a new client_id.',
});
