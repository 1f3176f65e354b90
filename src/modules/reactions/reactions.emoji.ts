// A reaction is one emoji grapheme (RGI emoji, including ZWJ sequences, flags and skin tones) or
// one of the configured names (`like`, `love`, …) the platform uses.
// Built from a string: TypeScript's ES2023 target does not know the `v` flag, Node 20's V8 does.
const RGI_EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

export function isValidReaction(value: string, names: ReadonlySet<string>): boolean {
  if (names.has(value)) return true;
  if (value.length === 0 || value.length > 64) return false;
  const graphemes = [...segmenter.segment(value)];
  return graphemes.length === 1 && RGI_EMOJI.test(value);
}
