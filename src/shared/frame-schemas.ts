import { Type } from 'typebox';

// Field schemas that several modules' WebSocket frames share.
export const UuidField = Type.String({ format: 'uuid' });
export const ClientIdField = Type.Optional(Type.String({ minLength: 1, maxLength: 64 }));
