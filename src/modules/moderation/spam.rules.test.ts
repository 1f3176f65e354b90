import { describe, expect, it } from 'vitest';
import { createMemoryWindowCounter } from '../../platform/rate-limit/rate-limit.js';
import {
  contentSpamReason,
  countLinks,
  isSuspiciousHost,
  linkHosts,
  mentionsSuspiciousDomain,
  normalizeForRepeat,
  repeatKeyOf,
} from './spam.rules.js';
import { createSpamGuard } from './spam.service.js';

describe('links', () => {
  it.each([
    ['no link here', []],
    ['see https://example.com', ['example.com']],
    ['HTTP://Example.COM/path?q=1#x', ['example.com']],
    ['http://user:pw@host.example:8080/a', ['host.example']],
    ['go to www.shop.example/promo now', ['www.shop.example']],
    ['WWW.Shop.Example.', ['www.shop.example']],
    ['(https://a.example/x), https://b.example.', ['a.example', 'b.example']],
    ['https://www.a.example counts once', ['www.a.example']],
    ['https://a.example https://a.example', ['a.example', 'a.example']],
    ['http://[::1]:3000/x', ['[::1]']],
  ])('%s → %j', (text, hosts) => {
    expect(linkHosts(text)).toEqual(hosts);
    expect(countLinks(text)).toBe(hosts.length);
  });

  it.each([
    'example.com without a scheme is not a link',
    'mail me at someone@www.example.com',
    'ftp://files.example/a',
    'https:// nothing',
    'wwwx.example',
    'the www. prefix alone',
    'foo.www.example',
  ])('not a link: %s', (text) => {
    expect(countLinks(text)).toBe(0);
  });
});

describe('suspicious domains', () => {
  const domains = ['spam.example', 'bit.ly'];

  it('matches the domain itself and its subdomains, not look-alikes', () => {
    expect(isSuspiciousHost('spam.example', domains)).toBe(true);
    expect(isSuspiciousHost('SPAM.example.', domains)).toBe(true);
    expect(isSuspiciousHost('a.b.spam.example', domains)).toBe(true);
    expect(isSuspiciousHost('notspam.example', domains)).toBe(false);
    expect(isSuspiciousHost('spam.example.org', domains)).toBe(false);
    expect(isSuspiciousHost('example', domains)).toBe(false);
  });

  it.each([
    'https://promo.spam.example/win',
    'http://x:y@spam.example:81',
    'www.spam.example',
    'short link bit.ly/abc',
    'BIT.LY/abc',
    'via promo.spam.example.',
  ])('suspicious: %s', (text) => {
    expect(mentionsSuspiciousDomain(text, domains)).toBe(true);
  });

  it.each([
    'https://notspam.example/x',
    'https://spam.example.org/x',
    'reach me at user@spam.example', // an e-mail address is not a link to the domain
    'spam example, bit ly',
  ])('not suspicious: %s', (text) => {
    expect(mentionsSuspiciousDomain(text, domains)).toBe(false);
  });

  it('no domains configured: nothing is suspicious', () => {
    expect(mentionsSuspiciousDomain('https://spam.example', [])).toBe(false);
  });
});

describe('identical messages', () => {
  it('trims, collapses whitespace, lower-cases and folds compatibility forms', () => {
    expect(normalizeForRepeat('  Buy   NOW\n\tplease ')).toBe('buy now please');
    expect(normalizeForRepeat('ＢＵＹ')).toBe('buy');
    expect(repeatKeyOf('Buy now')).toBe(repeatKeyOf('  buy\n now '));
    expect(repeatKeyOf('buy now')).not.toBe(repeatKeyOf('buy now!'));
  });
});

describe('content rules', () => {
  const settings = { linkLimit: 3, domains: ['spam.example'] };
  const links = (n: number) => Array.from({ length: n }, (_, i) => `https://l${i}.example`).join(' ');

  it('three links are fine, four are spam; a suspicious domain is spam at once', () => {
    expect(contentSpamReason({ conteudo: links(3), encrypted: false }, settings)).toBeUndefined();
    expect(contentSpamReason({ conteudo: links(4), encrypted: false }, settings)).toBe('links');
    expect(contentSpamReason({ conteudo: 'https://spam.example', encrypted: false }, settings)).toBe(
      'domain',
    );
    expect(contentSpamReason({ conteudo: links(4), encrypted: false }, { ...settings, linkLimit: 0 })).toBe(
      undefined,
    );
  });

  it('encrypted content is opaque: no content rule applies', () => {
    expect(contentSpamReason({ conteudo: links(9), encrypted: true }, settings)).toBeUndefined();
  });
});

describe('spam guard counters', () => {
  const noRepository = { openReview: async () => undefined, insertLog: async () => undefined };
  const text = (conteudo: string) => ({ conteudo, conteudoCifrado: null, alg: null, keyVersion: null });

  function guard(overrides: Partial<Parameters<typeof createSpamGuard>[0]['settings']> = {}) {
    let time = 1_000_000;
    const clock = { advance: (ms: number) => (time += ms) };
    const spam = createSpamGuard({
      settings: { messagesPerMinute: 20, repeatLimit: 3, linkLimit: 3, domains: [], ...overrides },
      counter: createMemoryWindowCounter(() => time),
      moderationRepository: noRepository,
    });
    return { spam, clock };
  }

  it('rate: the 20th send of a minute is fine, the 21st is spam, one user across everything', async () => {
    const { spam, clock } = guard();
    for (let i = 1; i <= 20; i++) expect(await spam.check('u1', text(`m${i}`))).toBeUndefined();
    expect(await spam.check('u1', text('m21'))).toBe('rate');
    // Someone else has their own budget.
    expect(await spam.check('u2', text('m1'))).toBeUndefined();
    // The window slides: a minute after the first sends, they no longer count.
    clock.advance(60_001);
    expect(await spam.check('u1', text('again'))).toBeUndefined();
  });

  it('repeat: three identical are fine, the fourth is spam (normalized); other texts are not', async () => {
    const { spam, clock } = guard();
    expect(await spam.check('u1', text('Buy now'))).toBeUndefined();
    expect(await spam.check('u1', text(' buy  NOW'))).toBeUndefined();
    expect(await spam.check('u1', text('buy now'))).toBeUndefined();
    expect(await spam.check('u1', text('something else'))).toBeUndefined();
    expect(await spam.check('u1', text('BUY NOW '))).toBe('repeat');
    expect(await spam.check('u2', text('buy now'))).toBeUndefined();
    clock.advance(60_001);
    expect(await spam.check('u1', text('buy now'))).toBeUndefined();
  });

  it('a rule set to 0 is off', async () => {
    const { spam } = guard({ messagesPerMinute: 0, repeatLimit: 0 });
    for (let i = 0; i < 30; i++) expect(await spam.check('u1', text('same'))).toBeUndefined();
  });
});
