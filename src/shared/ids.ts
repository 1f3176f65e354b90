import { uuidv7 } from 'uuidv7';

// Ids are made in the app (UUIDv7: time-ordered, index friendly) so SQL stays portable to PostgreSQL 15.
export const newId = (): string => uuidv7();

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID_PATTERN.test(value);
