import { Type } from 'typebox';

export const ContextoId = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,64}$',
  description: "The platform's context id",
});
