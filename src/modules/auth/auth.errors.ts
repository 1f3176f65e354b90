import { createErrorFactory } from '../../shared/errors.js';

export const createInvalidCredentialsError = createErrorFactory({
  status: 401,
  code: 'auth.invalid_credentials',
  detail: 'No active account found with the given credentials.',
});
export const createInvalidTokenError = createErrorFactory({
  status: 401,
  code: 'auth.invalid_token',
  detail: 'Given token not valid for any token type.',
});
export const createRegistrationClosedError = createErrorFactory({
  status: 403,
  code: 'auth.registration_closed',
  detail: 'Registration is disabled on this server.',
});
export const createOriginNotAllowedError = createErrorFactory({
  status: 403,
  code: 'auth.origin_not_allowed',
  detail: 'Cookie-authenticated requests must come from an allowed Origin.',
});
