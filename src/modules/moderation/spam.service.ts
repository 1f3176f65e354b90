import type { Executor } from '../../platform/db/client.js';
import type { WindowCounter } from '../../platform/rate-limit/rate-limit.js';
import type { SpamGuard } from '../messages/messages.send.js';
import type { ModerationRepository } from './moderation.repository.js';
import { contentSpamReason, repeatKeyOf, type SpamReason, type SpamSettings } from './spam.rules.js';

const MINUTE_MS = 60_000;

/**
 * The spam rules of every send (REST and socket), for the send path: `check` classifies a send
 * before its write, `record` queues and logs a spam message in the write's transaction.
 *
 * Counting is per user, one budget across all channels (a spammer spreading a burst over many
 * channels is still one spammer), in a sliding minute. Every send the rules see counts, spam
 * included; both counters cost one call to the window counter (one Redis round trip). With both
 * counters off there is no call at all.
 */
export function createSpamGuard(deps: {
  settings: SpamSettings;
  counter: WindowCounter;
  moderationRepository: Pick<ModerationRepository, 'openReview' | 'insertLog'>;
}): SpamGuard {
  const { settings, counter, moderationRepository } = deps;
  const counts = settings.messagesPerMinute > 0 || settings.repeatLimit > 0;

  return {
    async check(senderId, content): Promise<SpamReason | undefined> {
      const encrypted = content.conteudoCifrado !== null;
      const text = encrypted ? content.conteudoCifrado! : content.conteudo;
      const byContent = contentSpamReason({ conteudo: text, encrypted }, settings);
      if (!counts) return byContent;
      // One hash tag per user keeps both keys in one Redis Cluster slot.
      const keys: string[] = [];
      if (settings.messagesPerMinute > 0) keys.push(`spam:{${senderId}}:rate`);
      if (settings.repeatLimit > 0) keys.push(`spam:{${senderId}}:repeat:${repeatKeyOf(text)}`);
      const hits = await counter.hit(keys, MINUTE_MS);
      if (byContent) return byContent;
      // The more specific rule names the reason when both trip.
      const sent = settings.messagesPerMinute > 0 ? hits[0]! : 0;
      const repeats = settings.repeatLimit > 0 ? hits[keys.length - 1]! : 0;
      if (settings.repeatLimit > 0 && repeats > settings.repeatLimit) return 'repeat';
      if (settings.messagesPerMinute > 0 && sent > settings.messagesPerMinute) return 'rate';
      return undefined;
    },

    async record({ messageId, channelId, senderId, reason }, tx: Executor) {
      await moderationRepository.openReview({ messageId, channelId, isSpam: true }, tx);
      await moderationRepository.insertLog(
        { messageId, channelId, action: 'spam', moderatorId: senderId, reason },
        tx,
      );
    },
  };
}
