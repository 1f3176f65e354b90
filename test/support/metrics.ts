/**
 * The value of one sample in a Prometheus text exposition: the line of `name` whose labels are
 * exactly `labels` (in any order); undefined when there is none.
 */
export function readSample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    // Label values here never contain commas or escaped quotes (route patterns, names, numbers).
    const found = (match[2] ?? '')
      .split(',')
      .filter((pair) => pair.length > 0)
      .sort()
      .join(',');
    if (found === wanted) return Number(match[3]);
  }
  return undefined;
}
