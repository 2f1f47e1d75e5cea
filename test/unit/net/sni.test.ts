import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { matchesServerName, normaliseServerName, selectContext, type SniEntry } from '../../../src/net/sni.js';

const context = () => tls.createSecureContext({});

describe('SNI name matching (nginx server_name forms)', () => {
  it('normalises case and a trailing dot, refuses what is not a host name', () => {
    expect(normaliseServerName('Mail.Example.COM.')).toBe('mail.example.com');
    expect(normaliseServerName('')).toBeNull();
    expect(normaliseServerName('a b')).toBeNull();
    expect(normaliseServerName('../etc/passwd')).toBeNull();
    expect(normaliseServerName('x'.repeat(254))).toBeNull();
  });

  it.each([
    ['mail.example.com', 'mail.example.com', true],
    ['mail.example.com', 'imap.example.com', false],
    ['*.example.com', 'mail.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'a.b.example.com', false],
    ['.example.com', 'example.com', true],
    ['.example.com', 'a.b.example.com', true],
    ['.example.com', 'badexample.com', false],
  ])('%s matches %s: %s', (pattern, name, expected) => {
    expect(matchesServerName(pattern, name)).toBe(expected);
  });

  it('prefers the exact name, then the longest wildcard; no match means the default', () => {
    const exact = context();
    const star = context();
    const dot = context();
    const entries: SniEntry[] = [
      { pattern: '.example.com', context: dot },
      { pattern: '*.mail.example.com', context: star },
      { pattern: 'imap.mail.example.com', context: exact },
    ];
    expect(selectContext(entries, 'IMAP.mail.example.com')).toBe(exact);
    expect(selectContext(entries, 'pop.mail.example.com')).toBe(star);
    expect(selectContext(entries, 'example.com')).toBe(dot);
    expect(selectContext(entries, 'example.org')).toBeNull();
  });
});
