import { describe, expect, it } from 'vitest';
import { assertStorageKey, InvalidStorageKeyError, STORAGE_KEY_MAX_LENGTH } from './storage.keys.js';

describe('assertStorageKey', () => {
  it.each([
    'a',
    'attachments/2026/12/0193f0c2-7b1e-7c3a-9a51-2f0d7a1b9c4e',
    'attachments/0193f0c2.thumb.webp',
    'x/.hidden/y_z-1',
    '...', // a name of dots, not a "." or ".." segment
    'a'.repeat(STORAGE_KEY_MAX_LENGTH),
  ])('accepts %s', (key) => {
    expect(() => assertStorageKey(key)).not.toThrow();
  });

  it.each([
    ['empty', ''],
    ['parent segment', '..'],
    ['leading parent segment', '../x'],
    ['inner parent segment', 'a/../../x'],
    ['trailing parent segment', 'a/..'],
    ['current segment', 'a/./b'],
    ['absolute', '/a'],
    ['double slash', 'a//b'],
    ['trailing slash', 'a/'],
    ['backslash', 'a\\b'],
    ['Windows drive', 'C:/x'],
    ['NUL', 'a\0b'],
    ['newline', 'a\nb'],
    ['space', 'a b'],
    ['percent-encoding', 'a%2F..'],
    ['non-ASCII', 'caf\u00e9'],
    ['too long', 'a'.repeat(STORAGE_KEY_MAX_LENGTH + 1)],
  ])('refuses %s', (_label, key) => {
    expect(() => assertStorageKey(key)).toThrow(InvalidStorageKeyError);
  });
});
