import { Readable } from 'node:stream';

/**
 * Reads up to `bytes` from the start of `source` and hands back those bytes plus a readable of the
 * whole file (head included) that continues from the source, so nothing beyond the head is held in
 * memory. The readable fails with `limit.tooLarge()` as soon as more than `limit.maxBytes` went by
 * (or the source says it was cut at its own limit), which makes a storage put reject.
 */
export async function readHead(
  source: Readable,
  bytes: number,
  limit: { maxBytes: number; tooLarge: () => Error; truncated: () => boolean },
) {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < bytes) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    chunks.push(next.value);
    length += next.value.length;
  }
  const buffered = Buffer.concat(chunks);
  async function* whole() {
    let seen = buffered.length;
    let finished = ended;
    try {
      if (seen > limit.maxBytes) throw limit.tooLarge();
      yield buffered;
      while (!finished) {
        const next = await iterator.next();
        if (next.done) {
          finished = true;
          break;
        }
        seen += next.value.length;
        if (seen > limit.maxBytes) throw limit.tooLarge();
        yield next.value;
      }
      if (limit.truncated()) throw limit.tooLarge();
    } finally {
      // Stopped early (limit, storage failure): end the source so the request is not read on.
      if (!finished) await iterator.return?.();
    }
  }
  return {
    head: buffered.subarray(0, bytes),
    /** True when the head is the whole file. */
    ended,
    body: () => Readable.from(whole(), { objectMode: false }),
    /** Ends the source when the caller decides not to read on. */
    release: async () => {
      if (!ended) await iterator.return?.();
    },
  };
}
