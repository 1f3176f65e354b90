import { Type } from 'typebox';

export const UserSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  username: Type.String(),
  email: Type.String(),
  is_staff: Type.Boolean(),
  is_moderator: Type.Boolean({ description: 'Staff, or granted the moderator role' }),
});

export const RegisterBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 150 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
    email: Type.String({ format: 'email', maxLength: 254 }),
  },
  { additionalProperties: false },
);

export const CredentialsBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 150 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);

export const TokenPair = Type.Object({ access: Type.String(), refresh: Type.String() });
export const RefreshBody = Type.Object(
  { refresh: Type.String({ minLength: 1, maxLength: 4096 }) },
  { additionalProperties: false },
);
export const AccessToken = Type.Object({ access: Type.String() });
