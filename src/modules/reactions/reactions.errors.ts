import { createErrorFactory } from '../../shared/errors.js';

export const createInvalidEmojiError = createErrorFactory({
  status: 400,
  code: 'reactions.invalid_emoji',
  detail: 'A reaction is a single emoji or one of the configured reaction names.',
});
export const createTooManyReactionsError = createErrorFactory({
  status: 400,
  code: 'reactions.too_many',
  detail: 'This message already carries the maximum number of different reactions.',
});
