/**
 * Unit tests of reply framing and grammar (src/conformance/grammar.ts), the known nginx quirks
 * and counterexample classes (src/conformance/quirks.ts), the seed and the report.
 */
import { describe, expect, it } from 'vitest';
import { greetingProblems, imapHasTag, isPositive, pop3MultiLine, replyComplete, replyProblems } from '../../src/conformance/grammar.js';
import { conformanceSeed, formatReport, problemClass, problemClasses, resolveContext, type ConformanceReport } from '../../src/conformance/index.js';
import { normalizeLine } from '../../src/conformance/normalize.js';
import { sieveLines, sieveOutputProblem } from '../../src/conformance/sieve-grammar.js';
import { grammarProblems, replyAccounting } from '../../src/conformance/properties/checks.js';
import type { ClientLine, CommandKind, Exchange, Execution, Protocol, ReceivedLine } from '../../src/conformance/types.js';

const rl = (...texts: string[]): ReceivedLine[] => texts.map((text) => ({ text, eol: '\r\n', seq: 0, tls: false }));

/** An execution of `[command index, line sent, reply lines]` exchanges, after a standard greeting. */
function execution(protocol: Protocol, exchanges: Array<[number, string, ReceivedLine[]]>): Execution {
  const line = (text: string): ClientLine => ({ text, eol: '\r\n', awaitsReply: true, mustWait: false });
  const ex: Exchange[] = exchanges.map(([command, sent, reply]) => ({ command, line: line(sent), sent, sentSeq: 0, startSeq: 0, verbSeq: 0, reply, complete: true }));
  return { greeting: rl(protocol === 'imap' ? '* OK IMAP4 ready' : '+OK POP3 ready'), greetingComplete: true, exchanges: ex, extra: [], serverClosed: false, notes: [], transcript: [], timedOut: false };
}

const ctxOf = (protocol: Protocol) => resolveContext({ target: { host: '127.0.0.1', port: 1 }, protocol, tls: 'none', seed: 1 });
const grammarOf = (protocol: Protocol, exchanges: Array<[number, string, ReceivedLine[]]>) => {
  const { problems, quirks } = grammarProblems(ctxOf(protocol), execution(protocol, exchanges));
  return { problems, quirks: quirks.map((q) => q.id) };
};

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

describe('known nginx quirks: tolerated in exactly their situation, nowhere else', () => {
  it('IMAP empty tag echoed: a line starting with a space answered " BAD"/" OK"/" NO" with the empty tag', () => {
    expect(grammarOf('imap', [[0, ' a9 NOOP', rl(' BAD invalid command')]])).toEqual({ problems: [], quirks: ['imap-empty-tag-echoed'] });
    expect(grammarOf('imap', [[0, ' NOOP', rl(' OK completed')]])).toEqual({ problems: [], quirks: ['imap-empty-tag-echoed'] });
    expect(grammarOf('imap', [[0, ' LOGOUT', rl('* BYE', ' OK completed')]])).toEqual({ problems: [], quirks: ['imap-empty-tag-echoed'] });
  });

  it('the same reply anywhere else is a grammar failure', () => {
    // The line had a tag: echoing an empty one is a new bug.
    expect(grammarOf('imap', [[0, 'a9 NOOP', rl(' BAD invalid command')]])).toEqual({
      problems: ['reply line " BAD invalid command" has an invalid tag "" (reply to "a9 NOOP")'],
      quirks: [],
    });
    // Another invalid tag echoed for a line that starts with a space.
    expect(grammarOf('imap', [[0, ' a+b NOOP', rl('a+b BAD invalid command')]]).problems).toHaveLength(1);
    // The quirk's line with a bare LF: the quirk is tolerated, the line end is not.
    const lf = grammarProblems(ctxOf('imap'), execution('imap', [[0, ' a9 NOOP', [{ text: ' BAD invalid command', eol: '\n', seq: 0, tls: false }]]]));
    expect(lf.quirks.map((q) => q.id)).toEqual(['imap-empty-tag-echoed']);
    expect(lf.problems).toEqual(['reply line " BAD invalid command" ends with a bare LF instead of CRLF (reply to " a9 NOOP")']);
    // Not IMAP.
    expect(grammarOf('pop3', [[0, ' a9 NOOP', rl(' BAD invalid command')]]).problems).toHaveLength(1);
  });

  it('IMAP AUTHENTICATE LOGIN: an invalid user name line answered "BAD invalid command", unstarred and untagged', () => {
    const challenge: Array<[number, string, ReceivedLine[]]> = [[0, 'a1 AUTHENTICATE LOGIN', rl('+ VXNlcm5hbWU6')]];
    expect(grammarOf('imap', [...challenge, [0, '!!!', rl('BAD invalid command')]])).toEqual({ problems: [], quirks: ['imap-login-username-bad-untagged'] });
    expect(grammarOf('imap', [...challenge, [0, '*', rl('BAD invalid command')]]).quirks).toEqual(['imap-login-username-bad-untagged']);
  });

  it('an unstarred untagged BAD anywhere else is a grammar failure', () => {
    const notImap = (sent: string) => `reply line "BAD invalid command" is not "* ...", "+ ..." or "<tag> OK|NO|BAD ..." (reply to "${sent}")`;
    // AUTHENTICATE PLAIN's continuation, the password step of LOGIN, a plain command, another command's line.
    expect(grammarOf('imap', [[0, 'a1 AUTHENTICATE PLAIN', rl('+ ')], [0, '!!!', rl('BAD invalid command')]]).problems).toEqual([notImap('!!!')]);
    expect(grammarOf('imap', [[0, 'a1 AUTHENTICATE LOGIN', rl('+ VXNlcm5hbWU6')], [0, 'YQ==', rl('+ UGFzc3dvcmQ6')], [0, '!!!', rl('BAD invalid command')]]).problems).toEqual([notImap('!!!')]);
    expect(grammarOf('imap', [[0, 'a1 NOOP', rl('BAD invalid command')]]).problems).toEqual([notImap('a1 NOOP')]);
    expect(grammarOf('imap', [[0, 'a1 AUTHENTICATE LOGIN', rl('+ VXNlcm5hbWU6')], [1, '!!!', rl('BAD invalid command')]]).problems).toEqual([notImap('!!!')]);
    // A different text in the quirk's place.
    expect(grammarOf('imap', [[0, 'a1 AUTHENTICATE LOGIN', rl('+ VXNlcm5hbWU6')], [0, '!!!', rl('BAD invalid, command')]]).problems).toHaveLength(1);
  });

  it('counterexample classes blank quoted values and numbers', () => {
    expect(problemClass('reply line " BAD invalid command" has an invalid tag "" (reply to " a9 NOOP")')).toBe('reply line "…" has an invalid tag "…" (reply to "…")');
    expect(problemClass('the connection is still open 2000 ms after the reply to "QUIT"')).toBe('the connection is still open N ms after the reply to "…"');
    expect(problemClass('reply line "a\\"b" follows a single-line reply')).toBe('reply line "…" follows a single-line reply');
    expect(problemClasses(['no reply to "a1 NOOP"', 'no reply to "a2 NOOP"', 'incomplete reply to "x": "y"'])).toEqual(['incomplete reply to "…": "…"', 'no reply to "…"']);
  });
});

describe('seed', () => {
  it('POSTERN_CONFORMANCE_SEED fixes it, otherwise it is random', () => {
    expect(conformanceSeed({ POSTERN_CONFORMANCE_SEED: '2024' })).toBe(2024);
    expect(() => conformanceSeed({ POSTERN_CONFORMANCE_SEED: 'x' })).toThrow(/not an integer/);
    const seeds = new Set(Array.from({ length: 5 }, () => conformanceSeed({})));
    expect(seeds.size).toBeGreaterThan(1);
    expect(resolveContext({ target: { host: '127.0.0.1', port: 1 }, protocol: 'pop3', tls: 'none', seed: 7 }).seed).toBe(7);
  });
});

describe('report', () => {
  const base: Omit<ConformanceReport, 'results' | 'passed' | 'failed' | 'skipped' | 'incomplete'> = {
    target: { host: '127.0.0.1', port: 1 },
    protocol: 'imap',
    tls: 'none',
    starttlsMode: 'off',
    seed: 1,
    runsPerProperty: 25,
    quirksTolerated: true,
    durationMs: 3,
  };

  it('an incomplete property is neither passed nor failed, and says so', () => {
    const text = formatReport({
      ...base,
      results: [
        { id: 'one-reply-per-command', number: 1, title: 't', status: 'incomplete', incompleteReason: 'stopped by the time budget of 60000 ms after 9 of 25 runs', runs: 9, durationMs: 60_000, interrupted: true },
        { id: 'reply-grammar', number: 2, title: 't', status: 'passed', runs: 25, durationMs: 1 },
      ],
      passed: 1,
      failed: 0,
      skipped: 0,
      incomplete: 1,
    });
    expect(text).toContain('[1] one-reply-per-command        INCOMPLETE (9 runs, 60.0 s: stopped by the time budget of 60000 ms after 9 of 25 runs)');
    expect(text).toMatch(/^1 {2}one-reply-per-command +9 +incomplete$/m);
    expect(text.split('\n').at(-1)).toBe('1 passed, 0 failed, 1 incomplete');
  });

  it('known quirks: on the property line, in their own section with an example, in the table', () => {
    const text = formatReport({
      ...base,
      results: [
        {
          id: 'reply-grammar',
          number: 2,
          title: 't',
          status: 'passed',
          runs: 25,
          durationMs: 1,
          quirks: [{ id: 'imap-empty-tag-echoed', title: 'empty tag', reference: 'nginx src/mail/ngx_mail_imap_module.c: the tag is echoed as parsed', runs: 2, occurrences: 3, example: 'reply line " BAD invalid command" has an invalid tag "" (reply to " a9 NOOP")' }],
        },
      ],
      passed: 1,
      failed: 0,
      skipped: 0,
      incomplete: 0,
    });
    expect(text).toContain('[2] reply-grammar                passed (25 runs, 0.0 s; known nginx quirk: imap-empty-tag-echoed in 2 runs)');
    expect(text).toContain('[2] reply-grammar: imap-empty-tag-echoed, in 2 run(s), 3 reply line(s) (nginx src/mail/ngx_mail_imap_module.c: the tag is echoed as parsed)');
    expect(text).toContain('    e.g. reply line " BAD invalid command" has an invalid tag "" (reply to " a9 NOOP")');
    expect(text).toMatch(/^2 {2}reply-grammar +25 +passed \(known nginx quirks: imap-empty-tag-echoed x2\)$/m);
    expect(text.split('\n').at(-1)).toBe('1 passed, 0 failed');
  });

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
          failure: { message: 'still open', classes: ['still open'], transcript: ['S: +OK', 'C: QUIT', 'S: +OK'], seed: 1, path: '0:1', shrinks: 1 },
        },
      ],
      passed: 1,
      failed: 1,
      skipped: 1,
      incomplete: 0,
      quirksTolerated: true,
      durationMs: 3,
    });
    expect(text).toContain("replay: runConformance({ ...same options, properties: ['quit-closes'], seed: 1, path: '0:1' })");
    expect(text).toContain("or: postern conformance ...same flags --property quit-closes --seed 1 --path '0:1'");
    expect(text).toContain('    class: still open');
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
    for (const protocol of ['pop3', 'imap', 'smtp', 'sieve'] as const) {
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

describe('ManageSieve (RFC 5804): framing and grammar', () => {
  it('a reply ends with its OK/NO/BYE line; a lone string answering AUTHENTICATE is a challenge', () => {
    expect(replyComplete('sieve', null, rl('"IMPLEMENTATION" "x"', '"STARTTLS"'))).toBe(false);
    expect(replyComplete('sieve', null, rl('"IMPLEMENTATION" "x"', 'OK "ready"'))).toBe(true);
    expect(replyComplete('sieve', 'CAPABILITY', rl('"STARTTLS"'))).toBe(false);
    expect(replyComplete('sieve', 'AUTHENTICATE "PLAIN"', rl('""'))).toBe(true);
    expect(replyComplete('sieve', '"dXNlcg=="', rl('"UGFzc3dvcmQ6"'))).toBe(true);
    expect(isPositive('sieve', rl('OK (TAG "t") "Done"'))).toBe(true);
    expect(isPositive('sieve', rl('NO "x"'))).toBe(false);
  });

  it('status lines with response codes and strings, data lines of strings (and atoms)', () => {
    expect(greetingProblems('sieve', rl('"IMPLEMENTATION" "Postern"', '"SASL" ""', '"VERSION" "1.0"', 'OK "ManageSieve ready."'))).toEqual([]);
    expect(greetingProblems('sieve', rl('* OK IMAP4 ready'))).toHaveLength(1);
    expect(replyProblems('sieve', 'NOOP', rl('OK "NOOP Completed"'))).toEqual([]);
    expect(replyProblems('sieve', 'X', rl('BYE (TRYLATER) "Internal server error."'))).toEqual([]);
    expect(replyProblems('sieve', 'AUTHENTICATE "PLAIN"', rl('NO (ENCRYPT-NEEDED) "Plaintext authentication disallowed."'))).toEqual([]);
    expect(replyProblems('sieve', 'LISTSCRIPTS', rl('"s1" ACTIVE', '"s2"', 'OK "Listscripts completed."'))).toEqual([]);
    expect(replyProblems('sieve', 'X', rl('NO Error in command'))).toHaveLength(1);
    expect(replyProblems('sieve', 'X', rl('NO "a"b"'))).toHaveLength(1);
    expect(replyProblems('sieve', 'CAPABILITY', rl('"SASL" "PLAIN"', '"VERSION" "1.0"'))).toHaveLength(1);
    expect(replyProblems('sieve', 'X', rl('-ERR no'))).toHaveLength(1);
  });

  it('server output with literals: their bytes (CR LF included) stay in the line that announces them', () => {
    expect(sieveLines('OK (TAG {4}\r\na\r\nb) "Done"\r\nNO "x"\r\nOK')).toEqual({ lines: ['OK (TAG {4}\r\na\r\nb) "Done"', 'NO "x"'], rest: 'OK' });
    expect(sieveOutputProblem('{3}\r\nabc\r\nOK\r\n')).toBeNull();
    expect(sieveOutputProblem('OK "unterminated\r\n')).toMatch(/is not a ManageSieve response line/);
    expect(sieveOutputProblem('OK "a"')).toMatch(/does not end with CRLF/);
  });
});

/**
 * Property 1's allowance for Dovecot's ManageSieve, which refuses an unknown verb once it has read
 * the verb and a space, before the line's end: one line, sent in three writes (seq 1: the verb's
 * first bytes, seq 2: the rest of the verb and its space, seq 4: the rest and CRLF), answered at
 * `replySeq`. Only that refusal may come early; anything else before the line's end is a reply
 * to an earlier line, or to nothing.
 */
describe('property 1: a reply before the line was sent whole', () => {
  const early = (protocol: Protocol, kind: CommandKind, sent: string, reply: string, replySeq = 3): string[] => {
    const line: ClientLine = { text: sent, eol: '\r\n', awaitsReply: true, mustWait: false };
    const exec: Execution = {
      ...execution(protocol, []),
      exchanges: [{ command: 0, line, sent, startSeq: 1, verbSeq: 2, sentSeq: 4, reply: [{ text: reply, eol: '\r\n', seq: replySeq, tls: false }], complete: true }],
    };
    const script = { commands: [{ kind, lines: [line] }], pipeline: [false], splits: [[]], end: { kind: 'none' as const } };
    return replyAccounting(ctxOf(protocol), script, exec);
  };
  const caught = /arrived before .* was completely sent/;

  it('ManageSieve: an unknown verb refused once its verb and space went out is its reply (Dovecot)', () => {
    expect(early('sieve', 'bad', 'XYZZY "abc"', 'NO "Error in MANAGESIEVE command received by server."')).toEqual([]);
    expect(early('sieve', 'bad', 'fRoB', 'BYE "Too many invalid MANAGESIEVE commands."')).toEqual([]);
  });

  it('ManageSieve: a proxy answering a known command early is caught', () => {
    expect(early('sieve', 'noop', 'NOOP "tag1"', 'OK "NOOP Completed"')).toEqual([expect.stringMatching(caught)]);
    expect(early('sieve', 'capability', 'CAPABILITY', '"IMPLEMENTATION" "x"')).toEqual([expect.stringMatching(caught)]);
    // Even refused, and even where the script calls the line bad: its verb is RFC 5804's.
    expect(early('sieve', 'bad', 'NOOP "a" "b"', 'NO "Error in MANAGESIEVE command received by server."')).toEqual([expect.stringMatching(caught)]);
    expect(early('sieve', 'bad', 'authenticate "X"', 'NO "x"')).toEqual([expect.stringMatching(caught)]);
  });

  it('ManageSieve: an unknown verb accepted early, or answered before its verb was read, is caught', () => {
    expect(early('sieve', 'bad', 'XYZZY "abc"', 'OK "Done"')).toEqual([expect.stringMatching(caught)]);
    expect(early('sieve', 'bad', 'XYZZY "abc"', 'NO "x"', 2)).toEqual([expect.stringMatching(caught)]);
    expect(early('sieve', 'bad', 'XYZZY "abc"', 'NO "x"', 0)).toEqual([expect.stringMatching(caught)]);
  });

  /** A login, then `partial` sent before the client disconnects, and `reply` arriving meanwhile. */
  const partialAfter = (login: boolean, partial: string, reply: string): string[] => {
    const line = (text: string): ClientLine => ({ text, eol: '\r\n', awaitsReply: true, mustWait: false });
    const auth = line('AUTHENTICATE "PLAIN" "AGFsaWNlAHNlY3JldA=="');
    const exec: Execution = {
      ...execution('sieve', []),
      exchanges: [{ command: 0, line: auth, sent: auth.text, startSeq: 1, verbSeq: 1, sentSeq: 1, reply: [{ text: login ? 'OK "Logged in."' : 'NO "Authentication failed."', eol: '\r\n', seq: 2, tls: false }], complete: true }],
      extra: [{ text: reply, eol: '\r\n', seq: 4, tls: false, where: 'before the client disconnected' }],
    };
    const script = { commands: [{ kind: 'auth' as const, lines: [auth] }], pipeline: [false], splits: [[]], end: { kind: 'disconnect' as const, partial, abort: false } };
    return replyAccounting(ctxOf('sieve'), script, exec);
  };
  const surplus = /answer no command \(before the client disconnected\)/;

  it('ManageSieve: a partial line before the disconnect, refused for its verb (AUTHENTICATE after login is unknown to Dovecot)', () => {
    expect(partialAfter(true, 'AUTHENTICATE "PL', 'NO "Error in MANAGESIEVE command AUTHENTICATE: Unknown command."')).toEqual([]);
    expect(partialAfter(true, 'XYZZY "a', 'NO "Error in MANAGESIEVE command received by server."')).toEqual([]);
    // Before login AUTHENTICATE is a command; a verb not yet ended by its space cannot be judged; an OK answers nothing.
    expect(partialAfter(false, 'AUTHENTICATE "PL', 'NO "x"')).toEqual([expect.stringMatching(surplus)]);
    expect(partialAfter(true, 'XYZZY', 'NO "x"')).toEqual([expect.stringMatching(surplus)]);
    expect(partialAfter(true, 'NOOP "a', 'NO "x"')).toEqual([expect.stringMatching(surplus)]);
    expect(partialAfter(true, 'XYZZY "a', 'OK "Done"')).toEqual([expect.stringMatching(surplus)]);
  });

  it('POP3, IMAP, SMTP: no early refusal of an unknown verb; any protocol: a reply after the line is fine', () => {
    expect(early('pop3', 'bad', 'XYZZY abc', '-ERR invalid command')).toEqual([expect.stringMatching(caught)]);
    expect(early('smtp', 'bad', 'XYZZY abc', '500 5.5.1 Invalid command')).toEqual([expect.stringMatching(caught)]);
    expect(early('sieve', 'noop', 'NOOP "tag1"', 'OK "NOOP Completed"', 5)).toEqual([]);
    expect(early('pop3', 'bad', 'XYZZY abc', '-ERR invalid command', 5)).toEqual([]);
  });
});
