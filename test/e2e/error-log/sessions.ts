/**
 * The eight operator sessions of issue 14, as real clients (Python's imaplib, poplib, smtplib
 * and a raw socket) play them. Each is run through nginx 1.22.1 and through Postern reading the
 * same nginx.conf; the error_log lines they cause are compared.
 */
import { python } from '../harness/index.js';

export type ServerKey = 'imap' | 'imapStarttlsOnly' | 'imaps' | 'pop3Starttls' | 'smtp' | 'imapShortTimeout' | 'imapWildcard';

export interface Session {
  name: string;
  server: ServerKey;
  /** Python source; sys.argv[1] is the port. Must print `done` when it went as written. */
  script: string;
}

const PRELUDE = `import sys, ssl, socket, imaplib, poplib, smtplib
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
`;

export const session = (name: string, server: ServerKey, body: string): Session => ({ name, server, script: `${PRELUDE}${body}\nprint('done')\n` });

/** A wrong password over IMAP, then LOGOUT (imaplib). */
const IMAP_WRONG_PASSWORD = `
m = imaplib.IMAP4('127.0.0.1', port)
try:
    m.login('alice', 'wrong')
    raise SystemExit('logged in')
except imaplib.IMAP4.error:
    pass
m.logout()`;

export const SESSIONS: Session[] = [
  session('IMAP login and logout', 'imap', `
m = imaplib.IMAP4('127.0.0.1', port)
m.login('alice', 'secret')
m.logout()`),
  session('IMAP wrong password', 'imap', IMAP_WRONG_PASSWORD),
  session('client leaving after the greeting', 'imap', `
s = socket.create_connection(('127.0.0.1', port))
assert s.recv(1024).startswith(b'* OK')
s.close()`),
  session('POP3 STLS login', 'pop3Starttls', `
p = poplib.POP3('127.0.0.1', port)
p.stls(ctx)
p.user('alice')
p.pass_('secret')
p.stat()
p.quit()`),
  session('IMAPS login', 'imaps', `
m = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
m.login('alice', 'secret')
m.logout()`),
  session('SMTP wrong AUTH', 'smtp', `
s = smtplib.SMTP('127.0.0.1', port)
s.ehlo('client.test')
try:
    s.login('alice', 'wrong')
    raise SystemExit('logged in')
except smtplib.SMTPAuthenticationError:
    pass
s.quit()`),
  session('LOGIN refused by starttls only', 'imapStarttlsOnly', `
m = imaplib.IMAP4('127.0.0.1', port)
try:
    m.login('alice', 'secret')
    raise SystemExit('logged in')
except imaplib.IMAP4.error:
    pass
m.logout()`),
  session('backend refusing the connection', 'imap', `
m = imaplib.IMAP4('127.0.0.1', port)
try:
    m.login('nobackend', 'secret')
    raise SystemExit('logged in')
except imaplib.IMAP4.error:
    pass
try:
    m.logout()
except Exception:
    pass`),
];

/** More events nginx's mail modules log: TLS failures, the preauth timeout, too many errors. */
export const MORE_SESSIONS: Session[] = [
  session('plaintext sent to the IMAPS port', 'imaps', `
s = socket.create_connection(('127.0.0.1', port))
s.sendall(b'a1 LOGIN alice secret\\r\\n')
s.settimeout(5)
while s.recv(1024):
    pass
s.close()`),
  session('client leaving before its TLS handshake', 'imaps', `
s = socket.create_connection(('127.0.0.1', port))
s.close()`),
  session('client silent until the timeout', 'imapShortTimeout', `
s = socket.create_connection(('127.0.0.1', port))
s.settimeout(5)
assert s.recv(1024).startswith(b'* OK')
assert s.recv(1024) == b''
s.close()`),
  session('STARTTLS, then silent until the timeout', 'imapShortTimeout', `
m = imaplib.IMAP4('127.0.0.1', port)
m.starttls(ctx)
m.sock.settimeout(5)
assert m.sock.recv(1024) == b''`),
  session('client leaving during the STARTTLS handshake', 'imapShortTimeout', `
s = socket.create_connection(('127.0.0.1', port))
s.settimeout(5)
f = s.makefile('rb')
f.readline()
s.sendall(b'a1 STARTTLS\\r\\n')
assert f.readline().startswith(b'a1 OK')
s.close()`),
  session('wrong password on a wildcard listen (server: 0.0.0.0:PORT)', 'imapWildcard', IMAP_WRONG_PASSWORD),
  session('too many invalid commands', 'imap', `
s = socket.create_connection(('127.0.0.1', port))
s.settimeout(5)
f = s.makefile('rb')
f.readline()
# One command at a time, each reply read, until the proxy closes.
for i in range(10):
    try:
        s.sendall(b'a%d FOO\\r\\n' % i)
        if not f.readline():
            break
    except (ConnectionResetError, BrokenPipeError):
        break
else:
    raise SystemExit('never closed')
s.close()`),
  session('too long command', 'pop3Starttls', `
s = socket.create_connection(('127.0.0.1', port))
s.settimeout(5)
f = s.makefile('rb')
f.readline()
s.sendall(b'USER ' + b'x' * 300)
try:
    while f.readline():
        pass
except ConnectionResetError:
    pass
s.close()`),
  session('SASL payloads nginx refuses (IMAP)', 'imap', `
s = socket.create_connection(('127.0.0.1', port))
s.settimeout(5)
f = s.makefile('rb')
f.readline()
s.sendall(b'a1 AUTHENTICATE PLAIN\\r\\n')
assert f.readline().startswith(b'+')
s.sendall(b'!!!\\r\\n')
assert f.readline().startswith(b'a1 BAD')
s.sendall(b'a2 AUTHENTICATE PLAIN AGFsaWNl\\r\\n')
assert f.readline().startswith(b'a2 BAD')
s.sendall(b'a3 LOGOUT\\r\\n')
while f.readline():
    pass
s.close()`),
  session('SASL payloads nginx refuses (SMTP)', 'smtp', `
s = socket.create_connection(('127.0.0.1', port))
s.settimeout(5)
f = s.makefile('rb')
f.readline()
s.sendall(b'EHLO client.test\\r\\n')
while not f.readline().startswith(b'250 '):
    pass
s.sendall(b'AUTH LOGIN\\r\\n')
assert f.readline().startswith(b'334')
s.sendall(b'%%%\\r\\n')
assert f.readline().startswith(b'5')
s.sendall(b'AUTH PLAIN YWxpY2U=\\r\\n')
assert f.readline().startswith(b'5')
s.sendall(b'QUIT\\r\\n')
while f.readline():
    pass
s.close()`),
];

/** Runs one session against `port`; throws with the client's output when it did not go as written. */
export async function playSession(s: Session, port: number): Promise<void> {
  const result = await python(s.script, [String(port)]);
  if (!result.stdout.includes('done')) throw new Error(`${s.name}: the client failed\n${result.stdout}\n${result.stderr}`);
}
