import { describe, expect, it } from 'vitest';
import { checkPasswordStrength, getDummyHash, hashPassword, verifyPassword } from './auth.passwords.js';

const PASSWORD = 'correct-horse-battery';

/** Flips one character of a base64url string so the decoded bytes differ. */
function tamper(value: string): string {
  const replacement = value.at(-2) === 'A' ? 'B' : 'A';
  return `${value.slice(0, -2)}${replacement}${value.at(-1)}`;
}

describe('hashPassword / verifyPassword', () => {
  it('accepts the right password and refuses a wrong one', async () => {
    const hash = await hashPassword(PASSWORD);
    expect(hash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[\w-]+\$[\w-]+$/);
    expect(hash).not.toContain(PASSWORD);
    await expect(verifyPassword(PASSWORD, hash)).resolves.toBe(true);
    await expect(verifyPassword('correct-horse-batterY', hash)).resolves.toBe(false);
    await expect(verifyPassword('', hash)).resolves.toBe(false);
    await expect(verifyPassword(`${PASSWORD} `, hash)).resolves.toBe(false);
  });

  it('salts every hash: the same password hashes differently and both verify', async () => {
    const [first, second] = await Promise.all([hashPassword(PASSWORD), hashPassword(PASSWORD)]);
    expect(first).not.toBe(second);
    const saltOf = (hash: string) => hash.split('$')[4];
    expect(saltOf(first)).not.toBe(saltOf(second));
    await expect(verifyPassword(PASSWORD, first)).resolves.toBe(true);
    await expect(verifyPassword(PASSWORD, second)).resolves.toBe(true);
  });

  it('refuses a tampered hash (changed key, changed salt, salt of another hash)', async () => {
    const hash = await hashPassword(PASSWORD);
    const parts = hash.split('$');
    const [scheme, n, r, p, salt, key] = parts as [string, string, string, string, string, string];

    const changedKey = [scheme, n, r, p, salt, tamper(key)].join('$');
    const changedSalt = [scheme, n, r, p, tamper(salt), key].join('$');
    const other = (await hashPassword(PASSWORD)).split('$');
    const swappedSalt = [scheme, n, r, p, other[4], key].join('$');

    await expect(verifyPassword(PASSWORD, changedKey)).resolves.toBe(false);
    await expect(verifyPassword(PASSWORD, changedSalt)).resolves.toBe(false);
    await expect(verifyPassword(PASSWORD, swappedSalt)).resolves.toBe(false);
  });

  it('refuses a hash whose key was cut short: a shorter key must not verify any password', async () => {
    const [scheme, n, r, p, salt, key] = (await hashPassword(PASSWORD)).split('$') as string[];
    // 'A' decodes to zero bytes: a zero-length comparison would accept every password.
    const emptyKey = [scheme, n, r, p, salt, 'A'].join('$');
    await expect(verifyPassword('any other password', emptyKey)).resolves.toBe(false);
    const oneByteKey = [scheme, n, r, p, salt, key!.slice(0, 2)].join('$');
    await expect(verifyPassword(PASSWORD, oneByteKey)).resolves.toBe(false);
    const truncatedKey = [scheme, n, r, p, salt, key!.slice(0, 20)].join('$');
    await expect(verifyPassword(PASSWORD, truncatedKey)).resolves.toBe(false);
  });

  it('answers false (not an exception) for a hash with tampered cost parameters', async () => {
    const [scheme, , r, p, salt, key] = (await hashPassword(PASSWORD)).split('$') as string[];
    await expect(verifyPassword(PASSWORD, [scheme, 'abc', r, p, salt, key].join('$'))).resolves.toBe(false);
    await expect(verifyPassword(PASSWORD, [scheme, '3', r, p, salt, key].join('$'))).resolves.toBe(false);
  });

  it('refuses malformed or foreign-scheme hashes instead of accepting them', async () => {
    const hash = await hashPassword(PASSWORD);
    await expect(verifyPassword(PASSWORD, '')).resolves.toBe(false);
    await expect(verifyPassword(PASSWORD, 'not-a-hash')).resolves.toBe(false);
    await expect(verifyPassword(PASSWORD, hash.replace(/^scrypt/, 'bcrypt'))).resolves.toBe(false);
    await expect(verifyPassword(PASSWORD, hash.split('$').slice(0, 5).join('$'))).resolves.toBe(false);
    await expect(verifyPassword(PASSWORD, hash.replace(/\$[\w-]+$/, '$'))).resolves.toBe(false);
  });

  it('normalises Unicode (NFKC) so the same password typed differently still verifies', async () => {
    const composed = 'pa\u00dfw\u00f6rt-sicher';
    const decomposed = 'pa\u00dfwo\u0308rt-sicher';
    expect(composed).not.toBe(decomposed);
    const hash = await hashPassword(composed);
    await expect(verifyPassword(decomposed, hash)).resolves.toBe(true);
  });

  it('keeps a dummy hash (for unknown users) that no ordinary password matches', async () => {
    const dummy = await getDummyHash();
    expect(dummy).toMatch(/^scrypt\$/);
    expect(await getDummyHash()).toBe(dummy);
    await expect(verifyPassword(PASSWORD, dummy)).resolves.toBe(false);
    await expect(verifyPassword('', dummy)).resolves.toBe(false);
  });
});

describe('checkPasswordStrength', () => {
  const context = { username: 'marina', minLength: 8 };

  it('accepts a long, uncommon password', () => {
    expect(checkPasswordStrength(PASSWORD, context)).toEqual([]);
    expect(checkPasswordStrength('Tr0ub4dor&3-xyz', context)).toEqual([]);
  });

  it('refuses passwords shorter than the minimum length, with the limit in the message', () => {
    const problems = checkPasswordStrength('aB3$xY9', context);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/too short/);
    expect(problems[0]).toContain('8');
    expect(checkPasswordStrength('aB3$xY9!', context)).toEqual([]);
    expect(checkPasswordStrength('aB3$xY9!', { ...context, minLength: 12 })).toEqual([
      expect.stringContaining('12'),
    ]);
    expect(checkPasswordStrength('', context)).not.toEqual([]);
  });

  it('refuses passwords longer than 256 characters', () => {
    expect(checkPasswordStrength('x7-'.repeat(85) + 'a', context)).toEqual([]);
    expect(checkPasswordStrength('x7-'.repeat(86), context)).toEqual([expect.stringMatching(/too long/)]);
  });

  it('refuses entirely numeric passwords', () => {
    expect(checkPasswordStrength('90817263544', context)).toEqual([expect.stringMatching(/numeric/)]);
  });

  it('refuses common passwords whatever their case', () => {
    expect(checkPasswordStrength('password', context)).toEqual([expect.stringMatching(/too common/)]);
    expect(checkPasswordStrength('PassWord1', context)).toEqual([expect.stringMatching(/too common/)]);
    expect(checkPasswordStrength('iloveyou', context)).toEqual([expect.stringMatching(/too common/)]);
    const numericAndCommon = checkPasswordStrength('12345678', context);
    expect(numericAndCommon).toEqual(
      expect.arrayContaining([expect.stringMatching(/numeric/), expect.stringMatching(/too common/)]),
    );
  });

  it('refuses passwords that contain the username, case-insensitively', () => {
    expect(checkPasswordStrength('MARINA-2024!', context)).toEqual([expect.stringMatching(/similar/)]);
    expect(checkPasswordStrength('xx-marina-xx', context)).toEqual([expect.stringMatching(/similar/)]);
    expect(checkPasswordStrength('xx-marina-xx', { ...context, username: '' })).toEqual([]);
  });

  it('lists every problem at once', () => {
    const problems = checkPasswordStrength('123', { username: '123', minLength: 8 });
    expect(problems).toHaveLength(3);
  });
});
