import { createErrorFactory } from '../../shared/errors.js';

export const createUserNotFoundError = createErrorFactory({
  status: 404,
  code: 'users.not_found',
  detail: 'User not found.',
});
export const createUsernameTakenError = createErrorFactory({
  status: 400,
  code: 'users.username_taken',
  detail: 'A user with that username already exists.',
});
export const createWeakPasswordError = createErrorFactory({
  status: 400,
  code: 'users.weak_password',
  detail: 'The password is too weak.',
});
