import { describe, expect, it } from 'vitest';
import { endLine, sslHandshakeFailure } from '../../../src/log/session-lines.js';
import { upstreamActionAfter } from '../../../src/log/upstream-action.js';

describe('a session\'s end in nginx\'s words', () => {
  it('what nginx logs at info, with strerror for timeouts', () => {
    expect(endLine('client timed out')).toEqual({ level: 'info', message: 'client timed out (110: Connection timed out)' });
    expect(endLine('client timed out while proxying')).toEqual({ level: 'info', message: 'client timed out (110: Connection timed out)', action: 'proxying' });
    expect(endLine('upstream timed out')).toEqual({ level: 'info', message: 'upstream timed out (110: Connection timed out)' });
    expect(endLine('proxied session done (upstream closed connection)')).toEqual({ level: 'info', message: 'proxied session done', action: null });
    expect(endLine('client sent too many invalid commands')).toEqual({ level: 'info', message: 'client sent too many invalid commands' });
  });

  it('what nginx does not log at info: a client that closed or quit, a failed login (logged when answered)', () => {
    for (const reason of ['client closed connection', 'client quit', 'client login failed', 'internal error']) expect(endLine(reason)).toBeNull();
  });

  it('a client gone during its handshake', () => {
    expect(endLine('SSL handshake failed: Client network socket disconnected before secure TLS connection was established')).toEqual({
      level: 'info',
      message: 'peer closed connection in SSL handshake',
    });
  });

  it('OpenSSL\'s error as nginx prints it, a socket error with its errno', () => {
    const node = 'C0F7A1B2C3D40000:error:0A00010B:SSL routines:ssl_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:354:\n';
    expect(sslHandshakeFailure(node)).toBe('SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number)');
    expect(sslHandshakeFailure('read ECONNRESET')).toBe('SSL_do_handshake() failed (104: Connection reset by peer)');
  });
});

describe('the backend login\'s action, as nginx sets it per line sent', () => {
  const after = (...lines: string[]) => lines.reduce<string | undefined>((previous, line) => upstreamActionAfter(line, previous), undefined);

  it('POP3, IMAP (with literals) and SMTP', () => {
    expect(after('USER alice\r\n')).toBe('sending user name to upstream');
    expect(after('USER alice\r\n', 'PASS x\r\n')).toBe('sending password to upstream');
    expect(after('1 LOGIN {5}\r\n')).toBe('sending LOGIN command to upstream');
    expect(after('1 LOGIN {5}\r\n', 'alice {1}\r\n')).toBe('sending user name to upstream');
    expect(after('1 LOGIN {5}\r\n', 'alice {1}\r\n', 'x\r\n')).toBe('sending password to upstream');
    expect(after('EHLO mx.test\r\n')).toBe('sending HELO/EHLO to upstream');
    expect(after('EHLO mx.test\r\n', 'XCLIENT ADDR=192.0.2.1\r\n')).toBe('sending XCLIENT to upstream');
    expect(after('EHLO mx.test\r\n', 'XCLIENT ADDR=192.0.2.1\r\n', 'EHLO client\r\n')).toBe('sending client HELO/EHLO to upstream');
    expect(after('AUTH PLAIN AGFsaWNlAHg=\r\n')).toBe('sending AUTH to upstream');
    expect(after('MAIL FROM:<a@b>\r\n')).toBe('sending MAIL FROM to upstream');
    expect(after('RCPT TO:<c@d>\r\n')).toBe('sending RCPT TO to upstream');
  });
});
