import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

// scrypt from node:crypto (no native addon to build). Parameters are stored with each hash so they can
// be raised later without invalidating existing passwords.
const PARAMS = { N: 2 ** 15, r: 8, p: 1, keyLength: 32 };
const MAX_MEMORY = 128 * PARAMS.N * PARAMS.r * 2;

function derive(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, keyLength, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p, keyLength } = PARAMS;
  const key = await derive(password, salt, keyLength, { N, r, p, maxmem: MAX_MEMORY });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash, ...rest] = encoded.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash || rest.length > 0) return false;
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  // Tampered parameters must fail verification, not throw (a 500) or weaken the check.
  const validCost =
    Number.isInteger(N) &&
    N >= 2 ** 14 &&
    N <= 2 ** 20 &&
    (N & (N - 1)) === 0 &&
    Number.isInteger(R) &&
    R >= 1 &&
    R <= 32 &&
    Number.isInteger(P) &&
    P >= 1 &&
    P <= 16;
  const expected = Buffer.from(hash, 'base64url');
  // A shorter stored key would only compare a prefix of the derived key.
  if (!validCost || expected.length !== PARAMS.keyLength) return false;
  try {
    const key = await derive(password, Buffer.from(salt, 'base64url'), expected.length, {
      N,
      r: R,
      p: P,
      maxmem: 128 * N * R * 2 + 1024 * 1024,
    });
    return timingSafeEqual(key, expected);
  } catch {
    return false;
  }
}

// A dummy hash to verify against when the user does not exist, so timing does not reveal usernames.
let dummyHash: Promise<string> | undefined;
export function getDummyHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(12).toString('hex'));
  return dummyHash;
}

const COMMON_PASSWORDS = new Set([
  'password',
  'password1',
  '12345678',
  '123456789',
  '1234567890',
  'qwertyuiop',
  'qwerty123',
  'senha123',
  'senha1234',
  'iloveyou',
  'admin123',
  'abc12345',
  '11111111',
  '00000000',
  'letmein1',
]);

/** Returns the reasons a password is refused (empty when it is acceptable). */
export function checkPasswordStrength(password: string, context: { username: string; minLength: number }) {
  const problems: string[] = [];
  if (password.length < context.minLength) {
    problems.push(`This password is too short. It must contain at least ${context.minLength} characters.`);
  }
  if (password.length > 256) problems.push('This password is too long (at most 256 characters).');
  if (/^\d+$/.test(password)) problems.push('This password is entirely numeric.');
  if (COMMON_PASSWORDS.has(password.toLowerCase())) problems.push('This password is too common.');
  if (context.username && password.toLowerCase().includes(context.username.toLowerCase())) {
    problems.push('The password is too similar to the username.');
  }
  return problems;
}
