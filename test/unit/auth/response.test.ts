import { describe, expect, it } from 'vitest';
import { AUTH_RESPONSE_LIMIT, parseAuthResponse, parseServerAddress, scanAuthResponse } from '../../../src/auth/response.js';
import { Secret } from '../../../src/secret.js';

const PEER = '127.0.0.1:9000';
const parse = (text: string, protocol: 'pop3' | 'imap' | 'smtp' = 'pop3') => parseAuthResponse(Buffer.from(text, 'latin1'), protocol, PEER);
const OK = 'Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 8110\r\n';
const invalidHeader = { status: 'error', reason: `auth http server ${PEER} sent invalid header in response` };
const noServer = { status: 'error', reason: `auth http server ${PEER} did not send server or port` };

describe('parseAuthResponse: nginx §8.2', () => {
  it('OK with server and port', () => {
    expect(parse(`HTTP/1.0 200 OK\r\n${OK}\r\n`)).toEqual({ status: 'ok', server: '127.0.0.1', port: 8110 });
  });

  it('the status line is skipped without looking at the code', () => {
    expect(parse(`HTTP/1.0 500 Oops\r\n${OK}\r\n`)).toMatchObject({ status: 'ok' });
    expect(parse(`HTTP/1.1 403 Forbidden\n${OK}\n`)).toMatchObject({ status: 'ok' });
  });

  it('no status line at all: the whole response is headers (HTTP/0.9-like)', () => {
    expect(parse(`${OK}\r\n`)).toMatchObject({ status: 'ok', port: 8110 });
    // Something that merely starts like HTTP/ is a header line.
    expect(parse(`HTTP: x\r\n${OK}\r\n`)).toMatchObject({ status: 'ok' });
    // "http/" in lower case is not a status line: '/' is not a header-name character.
    expect(parse(`http/1.0 200 OK\r\n${OK}\r\n`)).toEqual(invalidHeader);
  });

  it('a CR not followed by LF in the status line is an invalid response', () => {
    expect(parse(`HTTP/1.0 200 OK\rX\r\n${OK}\r\n`)).toEqual({ status: 'error', reason: `auth http server ${PEER} sent invalid response` });
  });

  it('header names: letters, digits and - only, starting with a letter or digit', () => {
    expect(parse(`X_Bad: 1\r\n${OK}\r\n`)).toEqual(invalidHeader);
    expect(parse(`-X: 1\r\n${OK}\r\n`)).toEqual(invalidHeader);
    expect(parse(`Auth-Status : OK\r\n\r\n`)).toEqual(invalidHeader);
    expect(parse(` Auth-Status: OK\r\n\r\n`)).toEqual(invalidHeader);
    expect(parse(`9X-1: y\r\n${OK}\r\n`)).toMatchObject({ status: 'ok' });
  });

  it('a name without a colon is an empty header', () => {
    expect(parse(`X-Empty\r\n${OK}\r\n`)).toMatchObject({ status: 'ok' });
    // An empty Auth-Status without colon: POP3 failure with empty text.
    expect(parse(`Auth-Status\r\n${OK}\r\n`)).toEqual({ status: 'fail', text: '' });
  });

  it('a CR inside a header line that is not followed by LF is an invalid header', () => {
    expect(parse(`Auth-Status: Bad\rnews\r\n\r\n`)).toEqual(invalidHeader);
    expect(parse(`${OK}\rX`)).toEqual(invalidHeader);
  });

  it('values: leading and trailing spaces trimmed, inner spaces kept, LF or CRLF', () => {
    expect(parse('Auth-Status:    Go  away   \nAuth-Wait: 0\n\n')).toEqual({ status: 'fail', text: 'Go  away', waitSeconds: 0 });
    // Only spaces are trimmed: a tab belongs to the value.
    expect(parse('Auth-Status: \tNo\t \r\n\r\n')).toEqual({ status: 'fail', text: '\tNo\t' });
  });

  it('header names are case-insensitive, values case-sensitive', () => {
    expect(parse('auth-status: OK\r\nAUTH-SERVER: 10.0.0.1\r\nauth-PORT: 143\r\n\r\n')).toEqual({ status: 'ok', server: '10.0.0.1', port: 143 });
    expect(parse(`Auth-Status: ok\r\n${OK.slice(17)}\r\n`)).toEqual({ status: 'fail', text: 'ok' });
  });

  it('the body after the empty line is ignored; unknown headers are ignored', () => {
    expect(parse(`HTTP/1.0 200 OK\r\nX-Foo: bar\r\n${OK}\r\nX_Bad garbage\r\n`)).toMatchObject({ status: 'ok' });
  });

  it('Auth-User and Auth-Pass replace the login and password (raw, not unescaped)', () => {
    const outcome = parse(`${OK}Auth-User: back end%20user\r\nAuth-Pass: p%41ss word\r\n\r\n`);
    expect(outcome).toMatchObject({ status: 'ok', user: 'back end%20user' });
    expect(outcome.status === 'ok' && outcome.password instanceof Secret && outcome.password.reveal()).toBe('p%41ss word');
    // An empty Auth-Pass still counts as sent.
    const empty = parse(`${OK}Auth-Pass:\r\n\r\n`);
    expect(empty.status === 'ok' && empty.password?.reveal()).toBe('');
  });

  it('missing Auth-Status with server and port is a success (quirk §16.11)', () => {
    expect(parse('Auth-Server: 127.0.0.1\r\nAuth-Port: 110\r\n\r\n')).toEqual({ status: 'ok', server: '127.0.0.1', port: 110 });
  });

  it('success without server or port is an error', () => {
    expect(parse('Auth-Status: OK\r\n\r\n')).toEqual(noServer);
    expect(parse('Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\n\r\n')).toEqual(noServer);
    expect(parse('Auth-Status: OK\r\nAuth-Server:\r\nAuth-Port: 110\r\n\r\n')).toEqual(noServer);
    expect(parse('HTTP/1.0 200 OK\r\n\r\n')).toEqual(noServer);
  });

  it('Auth-Server must be an IP literal', () => {
    expect(parse('Auth-Server: localhost\r\nAuth-Port: 110\r\n\r\n')).toEqual({
      status: 'error',
      reason: `auth http server ${PEER} sent invalid server address:"localhost"`,
    });
    expect(parse('Auth-Server: [::1]\r\nAuth-Port: 110\r\n\r\n')).toMatchObject({ status: 'error' });
    expect(parse('Auth-Server: 256.1.1.1\r\nAuth-Port: 110\r\n\r\n')).toMatchObject({ status: 'error' });
    expect(parse('Auth-Server: ::1\r\nAuth-Port: 110\r\n\r\n')).toEqual({ status: 'ok', server: '::1', port: 110 });
    expect(parse('Auth-Server: 2001:db8::ffff:10.0.0.1\r\nAuth-Port: 110\r\n\r\n')).toMatchObject({ status: 'ok', server: '2001:db8::ffff:10.0.0.1' });
  });

  it('IP literals as nginx reads them (ngx_parse_addr)', () => {
    expect(parseServerAddress('10.0.0.1')).toBe('10.0.0.1');
    expect(parseServerAddress('010.0.0.01')).toBe('10.0.0.1');
    expect(parseServerAddress('10..0.1')).toBe('10.0.0.1');
    expect(parseServerAddress('255.255.255.255')).toBeUndefined();
    expect(parseServerAddress('1.2.3')).toBeUndefined();
    expect(parseServerAddress('1.2.3.4.5')).toBeUndefined();
    expect(parseServerAddress('')).toBeUndefined();
    expect(parseServerAddress('::')).toBe('::');
    expect(parseServerAddress('fe80::1%eth0')).toBeUndefined();
    expect(parseServerAddress(':1:2:3:4:5:6:7:8')).toBe('1:2:3:4:5:6:7:8');
    expect(parseServerAddress('1:2:3:4:5:6:7:8:9')).toBeUndefined();
    expect(parseServerAddress('1::2:3:4:5:6:7:8')).toBeUndefined();
    expect(parseServerAddress('1:2')).toBeUndefined();
    expect(parseServerAddress(':::')).toBeUndefined();
    expect(parseServerAddress('12345::')).toBeUndefined();
    expect(parseServerAddress('::ffff:1.2.3.4')).toBe('::ffff:1.2.3.4');
    expect(parseServerAddress('example.com')).toBeUndefined();
  });

  it('Auth-Port: 1..65535, decimal digits', () => {
    const port = (p: string) => parse(`Auth-Server: 127.0.0.1\r\nAuth-Port: ${p}\r\n\r\n`);
    const invalid = (p: string) => ({ status: 'error', reason: `auth http server ${PEER} sent invalid server port:"${p}"` });
    expect(port('0')).toEqual(invalid('0'));
    expect(port('65536')).toEqual(invalid('65536'));
    expect(port('-1')).toEqual(invalid('-1'));
    expect(port('1 1')).toEqual(invalid('1 1'));
    expect(port('99999999999999999999999')).toEqual(invalid('99999999999999999999999'));
    expect(port('1')).toMatchObject({ status: 'ok', port: 1 });
    expect(port('65535')).toMatchObject({ status: 'ok', port: 65535 });
    expect(port('00110')).toMatchObject({ status: 'ok', port: 110 });
  });

  it('failure: the Auth-Status text, Auth-Wait seconds', () => {
    expect(parse('Auth-Status: Invalid login or password\r\nAuth-Wait: 3\r\n\r\n')).toEqual({
      status: 'fail',
      text: 'Invalid login or password',
      waitSeconds: 3,
    });
    expect(parse('Auth-Status: Bad\r\n\r\n')).toEqual({ status: 'fail', text: 'Bad' });
  });

  it('Auth-Wait must be an integer: anything else is ignored', () => {
    for (const wait of ['soon', '-1', '1.5', '', ' ', '3s', '99999999999999999999999']) {
      expect(parse(`Auth-Status: Bad\r\nAuth-Wait: ${wait}\r\n\r\n`)).toEqual({ status: 'fail', text: 'Bad' });
    }
    expect(parse('Auth-Status: Bad\r\nAuth-Wait: 5\r\nAuth-Wait: x\r\n\r\n')).toEqual({ status: 'fail', text: 'Bad', waitSeconds: 5 });
  });

  it('WAIT: re-query after Auth-Wait seconds (0 when absent or invalid)', () => {
    expect(parse('Auth-Status: WAIT\r\nAuth-Wait: 2\r\n\r\n')).toEqual({ status: 'wait', waitSeconds: 2 });
    expect(parse('Auth-Status: WAIT\r\n\r\n')).toEqual({ status: 'wait', waitSeconds: 0 });
    expect(parse('Auth-Status: WAIT\r\nAuth-Wait: x\r\n\r\n')).toEqual({ status: 'wait', waitSeconds: 0 });
    // A failure text wins over WAIT, whatever the order.
    expect(parse('Auth-Status: WAIT\r\nAuth-Status: Bad\r\n\r\n')).toEqual({ status: 'fail', text: 'Bad' });
    expect(parse('Auth-Status: Bad\r\nAuth-Status: WAIT\r\n\r\n')).toEqual({ status: 'fail', text: 'Bad' });
  });

  it('a later Auth-Status: OK does not undo a failure; the last failure text wins', () => {
    expect(parse(`Auth-Status: Bad\r\n${OK}\r\n`)).toEqual({ status: 'fail', text: 'Bad' });
    expect(parse('Auth-Status: One\r\nAuth-Status: Two\r\n\r\n')).toEqual({ status: 'fail', text: 'Two' });
  });

  it('empty Auth-Status: failure with empty text for POP3/IMAP, not a failure for SMTP (quirk)', () => {
    expect(parse(`Auth-Status:\r\n${OK.slice(17)}\r\n`, 'pop3')).toEqual({ status: 'fail', text: '' });
    expect(parse(`Auth-Status: \r\n${OK.slice(17)}\r\n`, 'imap')).toEqual({ status: 'fail', text: '' });
    expect(parse(`Auth-Status:\r\n${OK.slice(17)}\r\n`, 'smtp')).toEqual({ status: 'ok', server: '127.0.0.1', port: 8110 });
    expect(parse('Auth-Status:\r\n\r\n', 'smtp')).toEqual(noServer);
    // SMTP: an empty status after a failure clears it (nginx keeps only the last text).
    expect(parse(`Auth-Status: Bad\r\nAuth-Status:\r\n${OK.slice(17)}\r\n`, 'smtp')).toMatchObject({ status: 'ok' });
    expect(parse(`Auth-Status: Bad\r\nAuth-Status:\r\n${OK.slice(17)}\r\n`, 'pop3')).toEqual({ status: 'fail', text: '' });
  });

  it('Auth-Error-Code: SMTP only, empty means the default', () => {
    const text = 'Auth-Status: Bad\r\nAuth-Error-Code: 451 4.3.0\r\n\r\n';
    expect(parse(text, 'smtp')).toEqual({ status: 'fail', text: 'Bad', errorCode: '451 4.3.0' });
    expect(parse(text, 'pop3')).toEqual({ status: 'fail', text: 'Bad' });
    expect(parse('Auth-Status: Bad\r\nAuth-Error-Code:\r\n\r\n', 'smtp')).toEqual({ status: 'fail', text: 'Bad' });
  });

  it('1024-byte limit: the header block must end within the first 1024 bytes', () => {
    const head = `HTTP/1.0 200 OK\r\n${OK}X-Pad: `;
    const exact = `${head}${'a'.repeat(AUTH_RESPONSE_LIMIT - head.length - 4)}\r\n\r\n`;
    expect(exact.length).toBe(1024);
    expect(parse(exact)).toMatchObject({ status: 'ok' });
    // ... and whatever follows the empty line does not matter.
    expect(parse(`${exact}trailing body`)).toMatchObject({ status: 'ok' });
    const over = `${head}${'a'.repeat(AUTH_RESPONSE_LIMIT - head.length - 3)}\r\n\r\n`;
    expect(over.length).toBe(1025);
    expect(parse(over)).toEqual({ status: 'error', reason: `auth http server ${PEER} sent too big response` });
  });

  it('an answer that ends before the empty line is an error', () => {
    expect(parse(`HTTP/1.0 200 OK\r\n${OK}`)).toEqual({ status: 'error', reason: `auth http server ${PEER} prematurely closed connection` });
    expect(parse('')).toMatchObject({ status: 'error' });
    expect(parse('HTTP/1.0 200')).toMatchObject({ status: 'error' });
  });

  it('incremental scan: more until the empty line, errors as soon as they are seen', () => {
    const full = Buffer.from(`HTTP/1.0 200 OK\r\n${OK}\r\n`);
    for (let i = 0; i < full.length; i++) expect(scanAuthResponse(full.subarray(0, i), 'pop3').state).toBe('more');
    expect(scanAuthResponse(full, 'pop3')).toMatchObject({ state: 'done', outcome: { status: 'ok' } });
    expect(scanAuthResponse(Buffer.from('HTTP/1.0 200 OK\r\nX_'), 'pop3')).toMatchObject({ state: 'done', outcome: { status: 'error' } });
    expect(scanAuthResponse(Buffer.from('HT'), 'pop3')).toEqual({ state: 'more' });
  });

  it('reasons name the auth server and never contain raw control bytes', () => {
    const outcome = parse('Auth-Server: 1\u0000\u00012\r\nAuth-Port: 1\r\n\r\n');
    expect(outcome).toEqual({ status: 'error', reason: `auth http server ${PEER} sent invalid server address:"1\\x00\\x012"` });
    expect(parseAuthResponse(Buffer.from('X_'), 'pop3')).toEqual({ status: 'error', reason: 'auth http server sent invalid header in response' });
  });
});
