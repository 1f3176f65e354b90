import { createHash } from 'node:crypto';

// The content side of the spam rules, pure: what counts as a link, which hosts are suspicious and
// when two messages are "identical". The counting side (rate, repeats) is in spam.service.ts.

/** Which rule a message tripped: the moderation log's `reason` for action `spam`. */
export type SpamReason = 'rate' | 'repeat' | 'links' | 'domain';

export type SpamSettings = {
  /** CHAT_SPAM_MESSAGES_PER_MINUTE: this many sends a minute are fine, the next is spam; 0 = off. */
  messagesPerMinute: number;
  /** CHAT_SPAM_REPEAT_LIMIT: this many identical messages a minute are fine; 0 = off. */
  repeatLimit: number;
  /** CHAT_SPAM_LINK_LIMIT: this many links in one message are fine; 0 = off. */
  linkLimit: number;
  /** CHAT_SPAM_DOMAINS, lower-cased: a link to one of them or to a subdomain is spam. */
  domains: string[];
};

/**
 * A link is an `http://` or `https://` URL, or a bare host starting with `www.` (`www.x.com/a`).
 * Group 1 is the URL's authority, group 2 the bare host. A `www.` right after `//`, `@`, `.` or a
 * word character is part of something else (a URL already counted, an e-mail address).
 */
const LINK = /\bhttps?:\/\/([^\s/?#<>"'\\]+)|(?<![\w.@/-])(www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+)/gi;
/** Host-like words (`bit.ly`, `promo.spam.example/x`): checked against the suspicious domains only. */
const BARE_HOST = /(?<![\w.@/-])((?:[a-z0-9-]+\.)+[a-z][a-z0-9-]*)(?![\w-]|\.[\w-])/gi;

/** The host of a URL's authority: without user info, port and a trailing dot, lower-cased. */
function hostOf(authority: string): string {
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  const bracket = host.startsWith('[') ? host.indexOf(']') : -1;
  const withoutPort = bracket >= 0 ? host.slice(0, bracket + 1) : host.replace(/:\d*$/, '');
  return withoutPort.replace(/[.,;:!?)]+$/, '').toLowerCase();
}

/** The hosts of the links in a text, in order (one per link, repeats included). */
export function linkHosts(text: string): string[] {
  // Most messages have no link: skip the scan when neither marker is there.
  if (!/https?:\/\/|www\./i.test(text)) return [];
  const hosts: string[] = [];
  for (const match of text.matchAll(LINK)) hosts.push(hostOf(match[1] ?? match[2]!));
  return hosts;
}

export const countLinks = (text: string): number => linkHosts(text).length;

/** Whether a host is one of the domains or a subdomain of one (`a.spam.example` of `spam.example`). */
export function isSuspiciousHost(host: string, domains: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.+$/, '');
  return domains.some((domain) => name === domain || name.endsWith(`.${domain}`));
}

/**
 * Whether a text points at a suspicious domain: through a link, or through a bare host name
 * (`bit.ly/x` needs no scheme to be followed).
 */
export function mentionsSuspiciousDomain(text: string, domains: readonly string[]): boolean {
  if (domains.length === 0) return false;
  if (linkHosts(text).some((host) => isSuspiciousHost(host, domains))) return true;
  for (const match of text.matchAll(BARE_HOST)) if (isSuspiciousHost(match[1]!, domains)) return true;
  return false;
}

/**
 * What "identical" means for the repeat rule: Unicode compatibility forms folded (NFKC), trimmed,
 * runs of whitespace collapsed to one space, lower-cased. `Buy  NOW ` and `buy now` are the same.
 */
export function normalizeForRepeat(text: string): string {
  return text.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

/** A short fixed-size key for a normalized text (the repeat counter's key, not the text itself). */
export function repeatKeyOf(text: string): string {
  return createHash('sha256').update(normalizeForRepeat(text)).digest('base64url').slice(0, 22);
}

/**
 * The rules a message's content trips by itself, first match: a suspicious domain, then too
 * many links. Encrypted content is opaque to the server, so only the counters apply to it.
 */
export function contentSpamReason(
  content: { conteudo: string; encrypted: boolean },
  settings: Pick<SpamSettings, 'linkLimit' | 'domains'>,
): SpamReason | undefined {
  if (content.encrypted) return undefined;
  if (mentionsSuspiciousDomain(content.conteudo, settings.domains)) return 'domain';
  if (settings.linkLimit > 0 && countLinks(content.conteudo) > settings.linkLimit) return 'links';
  return undefined;
}
