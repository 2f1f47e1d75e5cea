/**
 * The SMTP dialect of the connection machine, against nginx's replies
 * (nginx 1.22.1's mail module, src/mail/).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { ConnectionEvent, ConnectionInput } from '../../machines/types.js';
import { Harness, fail, ok, pw, reply, requests, settings, TLS } from './helpers.js';

const CRLF = '\r\n';

function smtp(overrides: Partial<ConnectionInput> = {}): Harness {
  return new Harness({
    ...settings('pop3'),
    protocol: 'smtp',
    authMethods: ['plain', 'login', 'cram-md5', 'external', 'none'],
    capabilities: [],
    xclient: true,
    ...overrides,
  });
}

const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');

describe('SMTP greeting, HELO/EHLO and the envelope before authentication', () => {
  it('greets with the server name and answers the §6.3 live transcript', () => {
    const h = smtp();
    expect(h.take()).toEqual([reply(`220 mx.test ESMTP ready${CRLF}`)]);
    expect(h.send({ type: 'cmd.helo', esmtp: true, domain: 'client.example' })).toEqual([
      reply(`250-mx.test${CRLF}250 AUTH PLAIN LOGIN CRAM-MD5 EXTERNAL${CRLF}`),
    ]);
    expect(h.send({ type: 'cmd.helo', esmtp: false, domain: 'client.example' })).toEqual([reply(`250 mx.test${CRLF}`)]);
    expect(h.send({ type: 'cmd.refused', reply: 'invalidArgument' })).toEqual([reply(`501 5.5.4 Invalid argument${CRLF}`)]);
    expect(h.send({ type: 'cmd.refused', reply: 'invalidCommand' })).toEqual([reply(`500 5.5.1 Invalid command${CRLF}`)]);
    expect(h.send({ type: 'cmd.invalid' })).toEqual([reply(`500 5.5.1 Invalid command${CRLF}`)]);
    expect(h.send({ type: 'cmd.rcpt', line: 'RCPT TO:<a@b>' })).toEqual([reply(`503 5.5.1 Bad sequence of commands${CRLF}`)]);
    expect(h.send({ type: 'cmd.mail', line: 'MAIL' })).toEqual([reply(`501 5.5.4 Invalid argument${CRLF}`)]);
    expect(h.send({ type: 'cmd.mail', line: 'MAIL FROM:<a@b> SIZE=10' })).toEqual([reply(`250 2.0.0 OK${CRLF}`)]);
    expect(h.send({ type: 'cmd.mail', line: 'MAIL FROM:<c@d>' })).toEqual([reply(`503 5.5.1 Bad sequence of commands${CRLF}`)]);
    const effects = h.send({ type: 'cmd.rcpt', line: 'RCPT TO:' });
    expect(requests(effects)).toEqual([
      {
        method: 'none',
        user: '',
        password: pw(''),
        protocol: 'smtp',
        attempt: 1,
        clientIp: '192.0.2.7',
        clientHost: '[UNAVAILABLE]',
        smtp: { helo: 'client.example', from: 'MAIL FROM:<a@b> SIZE=10', to: 'RCPT TO:' },
      },
    ]);
  });

  it('refuses MAIL with 530 when smtp_auth has no `none`', () => {
    const h = smtp({ authMethods: ['plain', 'login'] });
    h.take();
    expect(h.send({ type: 'cmd.mail', line: 'MAIL FROM:<a@b>' })).toEqual([reply(`530 5.7.1 Authentication required${CRLF}`)]);
  });

  it('EHLO lists capabilities, AUTH and STARTTLS per starttls mode and TLS state (§6.4)', () => {
    const caps = { capabilities: ['SIZE 1000', 'PIPELINING', '8BITMIME'], authMethods: ['plain', 'login'] };
    const on = smtp({ ...caps, starttls: 'on' });
    on.take();
    expect(on.send({ type: 'cmd.helo', esmtp: true, domain: 'x' })).toEqual([
      reply(`250-mx.test${CRLF}250-SIZE 1000${CRLF}250-PIPELINING${CRLF}250-8BITMIME${CRLF}250-AUTH PLAIN LOGIN${CRLF}250 STARTTLS${CRLF}`),
    ]);
    expect(on.send({ type: 'cmd.starttls' })).toEqual([reply(`220 2.0.0 Start TLS${CRLF}`), { type: 'startTls' }]);
    on.send({ type: 'tls.established', tls: TLS });
    expect(on.send({ type: 'cmd.helo', esmtp: true, domain: 'x' })).toEqual([
      reply(`250-mx.test${CRLF}250-SIZE 1000${CRLF}250-PIPELINING${CRLF}250-8BITMIME${CRLF}250 AUTH PLAIN LOGIN${CRLF}`),
    ]);
    const only = smtp({ authMethods: ['plain', 'login'], starttls: 'only' });
    only.take();
    expect(only.send({ type: 'cmd.helo', esmtp: true, domain: 'x' })).toEqual([reply(`250-mx.test${CRLF}250 STARTTLS${CRLF}`)]);
    expect(only.send({ type: 'cmd.authenticate', mechanism: 'PLAIN' })).toEqual([reply(`500 5.5.1 Invalid command${CRLF}`)]);
    const noneOnly = smtp({ authMethods: ['none'] });
    noneOnly.take();
    expect(noneOnly.send({ type: 'cmd.helo', esmtp: true, domain: 'x' })).toEqual([reply(`250 mx.test${CRLF}`)]);
  });

  it('STARTTLS forgets HELO and the envelope (RFC 3207)', () => {
    const h = smtp({ starttls: 'on' });
    h.take();
    h.send({ type: 'cmd.helo', esmtp: true, domain: 'before.tls' });
    h.send({ type: 'cmd.mail', line: 'MAIL FROM:<a@b>' });
    h.send({ type: 'cmd.starttls' });
    h.send({ type: 'tls.established', tls: TLS });
    expect(h.send({ type: 'cmd.rcpt', line: 'RCPT TO:<c@d>' })).toEqual([reply(`503 5.5.1 Bad sequence of commands${CRLF}`)]);
    h.send({ type: 'cmd.mail', line: 'MAIL FROM:<a@b>' });
    const [request] = requests(h.send({ type: 'cmd.rcpt', line: 'RCPT TO:<c@d>' }));
    expect(request?.smtp?.helo).toBe('');
    expect(request?.tls).toEqual(TLS);
  });
});

describe('SMTP authentication and the backend dialogue', () => {
  it('AUTH PLAIN: 235 comes from the proxy once the backend dialogue is done', () => {
    const h = smtp();
    h.take();
    h.send({ type: 'cmd.helo', esmtp: true, domain: 'client.example' });
    const effects = h.send({
      type: 'cmd.authenticate',
      mechanism: 'PLAIN',
      initial: { valid: true, user: 'test@example.com', password: pw('secret') },
    });
    expect(requests(effects)[0]).toMatchObject({ method: 'plain', user: 'test@example.com', clientHost: '[UNAVAILABLE]' });
    const connect = h.send(ok());
    expect(connect).toEqual([
      {
        type: 'connectBackend',
        target: {
          server: '127.0.0.1',
          port: 8110,
          user: 'test@example.com',
          password: pw('secret'),
          smtp: {
            serverName: 'mx.test',
            helo: 'client.example',
            esmtp: true,
            xclient: true,
            proxySmtpAuth: false,
            clientIp: '192.0.2.7',
            clientHost: '[UNAVAILABLE]',
          },
        },
      },
    ]);
    expect(h.send({ type: 'backend.ready' })).toEqual([reply(`235 2.0.0 OK${CRLF}`), { type: 'startRelay' }, expect.objectContaining({ type: 'log' })]);
  });

  it('smtp_auth none: the backend replays the envelope and the client gets the RCPT reply, not 235', () => {
    const h = smtp();
    h.take();
    h.send({ type: 'cmd.mail', line: 'MAIL FROM:<a@example.com>' });
    h.send({ type: 'cmd.rcpt', line: 'RCPT TO:<b@example.com>' });
    const [connect] = h.send(ok());
    expect(connect).toMatchObject({
      type: 'connectBackend',
      target: { smtp: { envelope: { mail: 'MAIL FROM:<a@example.com>', rcpt: 'RCPT TO:<b@example.com>' } } },
    });
    expect(h.send({ type: 'backend.ready' }).filter((e) => e.type === 'reply')).toEqual([]);
  });

  it('smtp_auth none: a refused RCPT (Auth-Wait) keeps the MAIL FROM, as nginx 1.22.1 does: MAIL again is 503, RCPT asks again with the first MAIL', () => {
    // Live nginx 1.22.1: EHLO, MAIL FROM:<a@example.com>, RCPT TO:<b@example.com> -> (1 s) 535;
    // MAIL FROM:<c@example.com> -> 503 5.5.1; RCPT TO:<d@example.com> -> a second auth request
    // whose Auth-SMTP-From is still MAIL FROM:<a@example.com> (ngx_mail_auth_sleep_handler keeps s->smtp_from).
    const h = smtp();
    h.take();
    h.send({ type: 'cmd.helo', esmtp: true, domain: 'c.test' });
    h.send({ type: 'cmd.mail', line: 'MAIL FROM:<a@example.com>' });
    h.send({ type: 'cmd.rcpt', line: 'RCPT TO:<b@example.com>' });
    h.send(fail('Invalid login or password', 1));
    expect(h.tick(1000)).toEqual([reply(`535 5.7.0 Invalid login or password${CRLF}`)]);
    expect(h.send({ type: 'cmd.mail', line: 'MAIL FROM:<c@example.com>' })).toEqual([reply(`503 5.5.1 Bad sequence of commands${CRLF}`)]);
    const effects = h.send({ type: 'cmd.rcpt', line: 'RCPT TO:<d@example.com>' });
    expect(requests(effects)).toEqual([
      expect.objectContaining({ method: 'none', attempt: 2, smtp: { helo: 'c.test', from: 'MAIL FROM:<a@example.com>', to: 'RCPT TO:<d@example.com>' } }),
    ]);
    // RSET still ends the transaction.
    h.send(fail('Invalid login or password', 1));
    h.tick(1000);
    expect(h.send({ type: 'cmd.rset' })).toEqual([reply(`250 2.0.0 OK${CRLF}`)]);
    expect(h.send({ type: 'cmd.mail', line: 'MAIL FROM:<e@example.com>' })).toEqual([reply(`250 2.0.0 OK${CRLF}`)]);
  });

  it('AUTH LOGIN challenges use 334 and a failure uses Auth-Error-Code', () => {
    const h = smtp();
    h.take();
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'LOGIN' })).toEqual([reply(`334 VXNlcm5hbWU6${CRLF}`)]);
    expect(h.send({ type: 'sasl.response', user: 'code1' })).toEqual([reply(`334 UGFzc3dvcmQ6${CRLF}`)]);
    h.send({ type: 'sasl.response', password: pw('x') });
    h.send({ type: 'auth.result', outcome: { status: 'fail', text: 'Temporary server problem, try again later', waitSeconds: 1, errorCode: '451 4.3.0' } });
    expect(h.tick(1000)).toEqual([reply(`451 4.3.0 Temporary server problem, try again later${CRLF}`)]);
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'CRAM-MD5' })).toEqual([reply(`334 ${b64('<1857971247.1795908603@mx.test>')}${CRLF}`)]);
    h.send({ type: 'sasl.invalid' });
    h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user: 'nowait', password: pw('x') } });
    expect(h.send(fail('Invalid login or password'))).toEqual([
      reply(`535 5.7.0 Invalid login or password${CRLF}`),
      expect.objectContaining({ type: 'close' }),
    ]);
  });

  it('smtp_greeting_delay: a client that talks first gets 503 and a close; a patient one the greeting', () => {
    const eager = smtp({ greetingDelayMs: 1000 });
    expect(eager.take()).toEqual([]);
    expect(eager.readsInput).toBe(true);
    expect(eager.send({ type: 'cmd.helo', esmtp: false, domain: 'early' })).toEqual([
      reply(`503 5.5.0 Improper use of SMTP command pipelining${CRLF}`),
      expect.objectContaining({ type: 'close' }),
    ]);
    const patient = smtp({ greetingDelayMs: 1000 });
    expect(patient.tick(999)).toEqual([]);
    expect(patient.tick(1)).toEqual([reply(`220 mx.test ESMTP ready${CRLF}`)]);
    expect(patient.state).toBe('preauth.plaintext.idle');
  });

  it('POP3 and IMAP never answer SMTP commands with SMTP replies', () => {
    const h = new Harness(settings('pop3'));
    h.take();
    expect(h.send({ type: 'cmd.helo', esmtp: true, domain: 'x' })).toEqual([reply(`-ERR invalid command${CRLF}`)]);
    expect(h.send({ type: 'cmd.mail', line: 'MAIL FROM:<a@b>' })).toEqual([reply(`-ERR invalid command${CRLF}`)]);
    const imap = new Harness(settings('imap'));
    imap.take();
    expect(imap.send({ type: 'cmd.refused', tag: 'a', reply: 'invalidArgument' })).toEqual([reply(`a BAD invalid command${CRLF}`)]);
    expect(imap.send({ type: 'cmd.user', user: 'x' })).toEqual([reply(`* BAD invalid command${CRLF}`)]);
  });
});

describe('SMTP reply grammar (property)', () => {
  const events = fc.oneof(
    fc.constantFrom<ConnectionEvent>(
      { type: 'cmd.noop' },
      { type: 'cmd.rset' },
      { type: 'cmd.quit' },
      { type: 'cmd.starttls' },
      { type: 'cmd.invalid' },
      { type: 'cmd.refused', reply: 'invalidArgument' },
      { type: 'cmd.refused', reply: 'invalidCommand' },
      { type: 'cmd.helo', esmtp: true, domain: 'client.example' },
      { type: 'cmd.helo', esmtp: false, domain: 'client.example' },
      { type: 'cmd.mail', line: 'MAIL FROM:<a@b>' },
      { type: 'cmd.mail', line: 'MAIL' },
      { type: 'cmd.rcpt', line: 'RCPT TO:<c@d>' },
      { type: 'cmd.authenticate', mechanism: 'PLAIN' },
      { type: 'cmd.authenticate', mechanism: 'LOGIN' },
      { type: 'cmd.authenticate', mechanism: 'CRAM-MD5' },
      { type: 'cmd.authenticate', mechanism: 'XUNKNOWN' },
      { type: 'sasl.invalid' },
      { type: 'sasl.response', user: 'u' },
      { type: 'input.tooLong' },
      { type: 'tls.established', tls: TLS },
      { type: 'backend.ready' },
      { type: 'backend.failed', reason: 'upstream sent invalid response', passthrough: '554 no\r\n' },
    ),
    fc.constantFrom(ok(), fail('Invalid login or password'), fail('Try later', 1)),
  );

  test.prop([fc.array(events, { maxLength: 30 }), fc.constantFrom('off', 'on', 'only'), fc.boolean()], { numRuns: 200 })(
    'every line the machine sends an SMTP client is `ddd text` or `ddd-text`, CRLF-terminated',
    (sequence, starttls, proxyPassErrorMessage) => {
      const h = smtp({ starttls: starttls as 'off' | 'on' | 'only', proxyPassErrorMessage });
      for (const event of sequence) {
        if (h.done) break;
        h.send(event);
        h.tick(1000);
      }
      for (const effect of h.effects) {
        if (effect.type !== 'reply') continue;
        expect(effect.text.endsWith('\r\n')).toBe(true);
        for (const line of effect.text.slice(0, -2).split('\r\n')) expect(line).toMatch(/^\d{3}([ -].*)?$/);
      }
    },
  );
});
