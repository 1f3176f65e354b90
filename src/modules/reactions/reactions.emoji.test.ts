import { describe, expect, it } from 'vitest';
import { isValidReaction } from './reactions.emoji.js';

const names = new Set(['like', 'love']);

describe('isValidReaction', () => {
  it.each(['👍', '❤️', '👍🏽', '👨‍👩‍👧', '🇧🇷', '🎉', 'like', 'love'])('accepts %s', (emoji) => {
    expect(isValidReaction(emoji, names)).toBe(true);
  });
  it.each([
    '',
    ' ',
    'a',
    'ab',
    '👍👍',
    '👍 ',
    'like ',
    'LIKE',
    '<script>',
    '1',
    '#',
    '\u0000',
    'x'.repeat(65),
  ])('refuses %j', (emoji) => {
    expect(isValidReaction(emoji, names)).toBe(false);
  });
});
