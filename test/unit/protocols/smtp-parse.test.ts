import { describe, expect, it } from 'vitest';
import { cmd, frame, one, sasl } from './helpers.js';

const s = (line: string): ReturnType<typeof one> => one('smtp', line);
const invalid = cmd({ kind: 'invalid' });
const badArg = cmd({ kind: 'refused', reply: 'invalidArgument' });
const badCmd = cmd({ kind: 'refused', reply: 'invalidCommand' });

describe('SMTP verbs (§6.3)', () => {
  it('recognises the parser verbs case-insensitively', () => {
    expect(s('helo client.example\r\n')).toEqual(cmd({ kind: 'helo', esmtp: false, domain: 'client.example' }));
    expect(s('EHLO client.example\r\n')).toEqual(cmd({ kind: 'helo', esmtp: true, domain: 'client.example' }));
    expect(s('QUIT\r\n')).toEqual(cmd({ kind: 'quit' }));
    expect(s('noop\r\n')).toEqual(cmd({ kind: 'noop' }));
    expect(s('RsEt\r\n')).toEqual(cmd({ kind: 'rset' }));
    expect(s('starttls\r\n')).toEqual(cmd({ kind: 'starttls' }));
    expect(s('AUTH PLAIN\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'PLAIN' }));
  });

  it('DATA, BDAT, ETRN, XCLIENT, ... → counted invalid', () => {
    for (const verb of ['DATA', 'BDAT 1', 'ETRN x', 'XCLIENT ADDR=1', 'TURN', 'HELLO x', 'STARTTLSX', 'STARTTL', 'EHL0 x']) {
      expect(s(`${verb}\r\n`), verb).toEqual(invalid);
    }
  });

  it('VRFY/EXPN/HELP → refused with 500 (not counted)', () => {
    expect(s('VRFY x\r\n')).toEqual(badCmd);
    expect(s('expn\r\n')).toEqual(badCmd);
    expect(s('HELP\r\n')).toEqual(badCmd);
  });

  it('HELO/EHLO need exactly one argument (501)', () => {
    expect(s('EHLO\r\n')).toEqual(badArg);
    expect(s('HELO a b\r\n')).toEqual(badArg);
    expect(s('EHLO   x   \r\n')).toEqual(cmd({ kind: 'helo', esmtp: true, domain: 'x' }));
  });

  it('AUTH without arguments → 501; bad argument counts → 500', () => {
    expect(s('AUTH\r\n')).toEqual(badArg);
    expect(s('AUTH LOGIN a b\r\n')).toEqual(badCmd);
    expect(s('AUTH CRAM-MD5 x\r\n')).toEqual(badCmd);
    expect(s('AUTH login bm93YWl0\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'LOGIN', initialResponse: 'secret:bm93YWl0' }));
  });

  it('MAIL/RCPT keep the text from the verb to the end of the last argument', () => {
    expect(s('MAIL FROM:<a@b> SIZE=10\r\n')).toEqual(cmd({ kind: 'mail', line: 'MAIL FROM:<a@b> SIZE=10' }));
    expect(s('mail   FROM:<a@b>    SIZE=10   \r\n')).toEqual(cmd({ kind: 'mail', line: 'mail   FROM:<a@b>    SIZE=10' }));
    expect(s('RCPT TO:\r\n')).toEqual(cmd({ kind: 'rcpt', line: 'RCPT TO:' }));
  });

  it('MAIL/RCPT without arguments are passed on with just the verb (machine decides 530/503/501)', () => {
    expect(s('MAIL\r\n')).toEqual(cmd({ kind: 'mail', line: 'MAIL' }));
    expect(s('rcpt   \r\n')).toEqual(cmd({ kind: 'rcpt', line: 'rcpt' }));
  });

  it('≤ 11 arguments; 12 → counted invalid (live: MAIL FROM:<a@b> 1 … 11)', () => {
    const ten = Array.from({ length: 10 }, (_, k) => String(k + 1)).join(' ');
    expect(s(`MAIL FROM:<a@b> ${ten}\r\n`)).toEqual(cmd({ kind: 'mail', line: `MAIL FROM:<a@b> ${ten}` }));
    expect(s(`MAIL FROM:<a@b> ${ten} 11\r\n`)).toEqual(invalid);
  });

  it('empty line, leading space, CR not before LF → invalid', () => {
    expect(s('\r\n')).toEqual(invalid);
    expect(s(' NOOP\r\n')).toEqual(invalid);
    expect(s('NOOP\rx\r\n')).toEqual(invalid);
  });
});

describe('SMTP SASL continuation and transcripts', () => {
  it('SASL lines: first word; "=" is just a response', () => {
    expect(one('smtp', 'Y29kZTE=\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:Y29kZTE=' }));
    expect(one('smtp', '=\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:=' }));
    expect(one('smtp', '*\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:*' }));
  });

  it('§6.3 live transcript', () => {
    expect(
      frame(
        'smtp',
        'EHLO client.example\r\nHELO client.example\r\nEHLO\r\nHELP\r\nDATA\r\nRCPT TO:<a@b>\r\nMAIL\r\nMAIL FROM:<a@b> SIZE=10\r\nMAIL FROM:<c@d>\r\nRCPT TO:\r\n',
      ),
    ).toEqual([
      cmd({ kind: 'helo', esmtp: true, domain: 'client.example' }),
      cmd({ kind: 'helo', esmtp: false, domain: 'client.example' }),
      badArg,
      badCmd,
      invalid,
      cmd({ kind: 'rcpt', line: 'RCPT TO:<a@b>' }),
      cmd({ kind: 'mail', line: 'MAIL' }),
      cmd({ kind: 'mail', line: 'MAIL FROM:<a@b> SIZE=10' }),
      cmd({ kind: 'mail', line: 'MAIL FROM:<c@d>' }),
      cmd({ kind: 'rcpt', line: 'RCPT TO:' }),
    ]);
  });

  it('pipelined AUTH PLAIN then MAIL (§3.4): MAIL stays framable / takeable', () => {
    expect(frame('smtp', 'AUTH PLAIN AHRlc3QAc2VjcmV0\r\nMAIL FROM:<a@b>\r\n')).toEqual([
      cmd({ kind: 'authenticate', mechanism: 'PLAIN', initialResponse: 'secret:AHRlc3QAc2VjcmV0' }),
      cmd({ kind: 'mail', line: 'MAIL FROM:<a@b>' }),
    ]);
  });
});
