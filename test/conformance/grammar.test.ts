/** Unit tests of reply framing and grammar (src/conformance/grammar.ts) and the report's closing line. */
import { describe, expect, it } from 'vitest';
import { greetingProblems, imapHasTag, isPositive, pop3MultiLine, replyComplete, replyProblems } from '../../src/conformance/grammar.js';
import { formatReport } from '../../src/conformance/index.js';
import { normalizeLine } from '../../src/conformance/normalize.js';
import type { ReceivedLine } from '../../src/conformance/types.js';

const rl = (...texts: string[]): ReceivedLine[] => texts.map((text) => ({ text, eol: '\r\n', seq: 0, tls: false }));

describe('framing', () => {
  it('POP3: multi-line only for +OK to CAPA, bare AUTH/LIST/UIDL, RETR, TOP', () => {
    expect(pop3MultiLine('CAPA')).toBe(true);
    expect(pop3MultiLine('auth')).toBe(true);
    expect(pop3MultiLine('AUTH PLAIN')).toBe(false);
    expect(pop3MultiLine('LIST 1')).toBe(false);
    expect(replyComplete('pop3', 'CAPA', rl('+OK Capability list follows'))).toBe(false);
    expect(replyComplete('pop3', 'CAPA', rl('+OK x', 'TOP', '.'))).toBe(true);
    expect(replyComplete('pop3', 'CAPA', rl('-ERR invalid command'))).toBe(true);
    expect(replyComplete('pop3', 'AUTH PLAIN', rl('+ '))).toBe(true);
  });

  it('IMAP: untagged lines until a final one; * BAD is final only where no tag is visible', () => {
    expect(replyComplete('imap', 'a1 CAPABILITY', rl('* CAPABILITY IMAP4'))).toBe(false);
    expect(replyComplete('imap', 'a1 CAPABILITY', rl('* CAPABILITY IMAP4', 'a1 OK completed'))).toBe(true);
    expect(replyComplete('imap', 'a1 LOGIN {5}', rl('+ OK'))).toBe(true);
    expect(replyComplete('imap', 'a+b NOOP', rl('* BAD invalid command'))).toBe(true);
    expect(replyComplete('imap', 'a1 NOOP', rl('* BAD internal server error'))).toBe(false);
    expect(imapHasTag(' a9 NOOP')).toBe(false);
    expect(imapHasTag(`${'x'.repeat(33)} NOOP`)).toBe(false);
  });

  it('SMTP: continuation lines until "ddd "', () => {
    expect(replyComplete('smtp', 'EHLO x', rl('250-mx.test'))).toBe(false);
    expect(replyComplete('smtp', 'EHLO x', rl('250-mx.test', '250 AUTH PLAIN LOGIN'))).toBe(true);
    expect(isPositive('smtp', rl('235 2.0.0 OK'))).toBe(true);
  });
});

describe('grammar', () => {
  it('accepts well-formed replies', () => {
    expect(greetingProblems('pop3', rl('+OK POP3 ready'))).toEqual([]);
    expect(greetingProblems('imap', rl('* OK IMAP4 ready'))).toEqual([]);
    expect(greetingProblems('smtp', rl('220-mx.test', '220 ESMTP ready'))).toEqual([]);
    expect(replyProblems('imap', 'a1 LOGOUT', rl('* BYE', 'a1 OK completed'))).toEqual([]);
    expect(replyProblems('pop3', 'CAPA', rl('+OK x', 'TOP', '..stuffed', '.'))).toEqual([]);
  });

  it('flags nginx IMAP quirks, bare LF, unstuffed dots, mixed SMTP codes', () => {
    expect(replyProblems('imap', ' a9 NOOP', rl(' BAD invalid command'))[0]).toMatch(/invalid tag ""/);
    expect(replyProblems('imap', '!!', rl('BAD invalid command'))[0]).toMatch(/is not "\* \.\.\."/);
    expect(replyProblems('pop3', 'NOOP', [{ text: '+OK', eol: '\n', seq: 0, tls: false }])[0]).toMatch(/bare LF/);
    expect(replyProblems('pop3', 'CAPA', rl('+OK x', '.oops', '.'))[0]).toMatch(/dot-stuffed/);
    expect(replyProblems('smtp', 'EHLO x', rl('250-a', '251 b'))[0]).toMatch(/changes the reply code/);
  });

  it('normalises salts, their base64 and Dovecot timings', () => {
    expect(normalizeLine('+OK POP3 ready <123.456@mx.test>')).toBe('+OK POP3 ready <SALT>');
    expect(normalizeLine(`+ ${Buffer.from('<1.2@mx.test>').toString('base64')}`)).toBe('+ <B64SALT>');
    expect(normalizeLine('a1 OK Logout completed (0.001 + 0.000 secs).')).toBe('a1 OK Logout completed (<TIMING>).');
  });
});

describe('report', () => {
  it('ends with the summary table and "N passed, M failed"', () => {
    const text = formatReport({
      target: { host: '127.0.0.1', port: 1 },
      protocol: 'pop3',
      tls: 'none',
      starttlsMode: 'off',
      seed: 1,
      runsPerProperty: 2,
      results: [
        { id: 'one-reply-per-command', number: 1, title: 't', status: 'passed', runs: 2, durationMs: 1 },
        { id: 'no-reply-across-tls', number: 3, title: 't', status: 'skipped', skipReason: 'needs starttls', runs: 0, durationMs: 0 },
        {
          id: 'quit-closes',
          number: 7,
          title: 't',
          status: 'failed',
          runs: 1,
          durationMs: 1,
          failure: { message: 'still open', transcript: ['S: +OK', 'C: QUIT', 'S: +OK'], seed: 1, path: '0:1', shrinks: 1 },
        },
      ],
      passed: 1,
      failed: 1,
      skipped: 1,
      durationMs: 3,
    });
    expect(text).toContain("replay: runConformance({ ...same options, properties: ['quit-closes'], seed: 1, path: '0:1' })");
    expect(text).toMatch(/#\s+property\s+runs\s+result/);
    expect(text.split('\n').at(-1)).toBe('1 passed, 1 failed');
  });
});

describe('generators', () => {
  it('every property yields well-formed scripts for every protocol (no network)', async () => {
    const fc = (await import('fast-check')).default;
    const { PROPERTIES } = await import('../../src/conformance/properties/index.js');
    const { dialectGen } = await import('../../src/conformance/generators/index.js');
    const { resolveContext } = await import('../../src/conformance/index.js');
    for (const protocol of ['pop3', 'imap', 'smtp'] as const) {
      const ctx = resolveContext({ target: { host: '127.0.0.1', port: 1 }, protocol, tls: 'starttls', starttlsMode: 'only', users: [{ user: 'alice', password: 'secret' }] });
      for (const def of PROPERTIES) {
        for (const value of fc.sample(def.arbitrary(ctx, dialectGen(protocol)), { numRuns: 30, seed: 1 })) {
          const script = (value as { script?: unknown }).script ?? value;
          const s = script as import('../../src/conformance/types.js').Script;
          expect(s.pipeline.length).toBe(s.commands.flatMap((c) => c.lines).length);
          for (const c of s.commands) for (const l of [...c.lines, ...(c.injected ?? [])]) expect(l.text.includes('§'), `${protocol} ${def.id}: ${l.text}`).toBe(false);
        }
      }
    }
  });
});
