import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthRequest } from '../../../machines/types.js';
import { AuthHttpClient } from '../../../src/auth/client.js';
import { checkCredentials, startEmbeddedAuthService, unescapeAuthValue, type EmbeddedAuthService } from '../../../src/auth/embedded-service.js';
import { Secret } from '../../../src/secret.js';

const users = [
  { user: 'demo', password: 'demo' },
  { user: 'spa ce%', password: 'p w%d' },
];
const SALT = '<1896.697170952@postern.invalid>';
const apop = (password: string) => createHash('md5').update(SALT + password).digest('hex');
const cram = (password: string) => createHmac('md5', password).update(SALT).digest('hex');

describe('embedded auth_http service', () => {
  let service: EmbeddedAuthService;
  let client: AuthHttpClient;
  const ask = (over: Partial<AuthRequest>) =>
    client.request(
      { method: 'plain', user: 'demo', password: new Secret('demo'), protocol: 'pop3', attempt: 1, clientIp: '127.0.0.1', ...over },
      new AbortController().signal,
    );

  beforeAll(async () => {
    service = await startEmbeddedAuthService({
      host: '127.0.0.1',
      port: 0,
      users,
      backend: { pop3: { host: '127.0.0.1', port: 1110 }, imap: { host: '127.0.0.1', port: 1143 } },
    });
    client = new AuthHttpClient({ url: service.url, host: '127.0.0.1', port: service.port, uri: '/auth', hostHeader: '127.0.0.1' }, [], 5000);
  });
  afterAll(async () => {
    await service.close();
  });

  it('listens on an ephemeral port and reports its URL', () => {
    expect(service.port).toBeGreaterThan(0);
    expect(service.url).toBe(`http://127.0.0.1:${service.port}/auth`);
  });

  it('plain: good password -> OK with the backend of Auth-Protocol', async () => {
    expect(await ask({})).toEqual({ status: 'ok', server: '127.0.0.1', port: 1110 });
    expect(await ask({ protocol: 'imap' })).toEqual({ status: 'ok', server: '127.0.0.1', port: 1143 });
  });

  it('plain: escaped logins and passwords are unescaped', async () => {
    expect(await ask({ user: 'spa ce%', password: new Secret('p w%d') })).toMatchObject({ status: 'ok' });
    expect(unescapeAuthValue('te%20st%25%0D@x')).toBe('te st%\r@x');
  });

  it('plain: bad password or unknown user -> failure with Auth-Wait 3', async () => {
    const failure = { status: 'fail', text: 'Invalid login or password', waitSeconds: 3 };
    expect(await ask({ password: new Secret('nope') })).toEqual(failure);
    expect(await ask({ user: 'nobody' })).toEqual(failure);
    expect(await ask({ password: new Secret('') })).toEqual(failure);
  });

  it('the failure wait can be set (postern conformance uses 1 s)', async () => {
    const quick = await startEmbeddedAuthService({ host: '127.0.0.1', port: 0, users, backend: { pop3: { host: '127.0.0.1', port: 1110 }, imap: { host: '127.0.0.1', port: 1143 } }, failureWaitSeconds: 1 });
    try {
      const c = new AuthHttpClient({ url: quick.url, host: '127.0.0.1', port: quick.port, uri: '/auth', hostHeader: '127.0.0.1' }, [], 5000);
      const request: AuthRequest = { method: 'plain', user: 'demo', password: new Secret('nope'), protocol: 'imap', attempt: 1, clientIp: '127.0.0.1' };
      expect(await c.request(request, new AbortController().signal)).toEqual({ status: 'fail', text: 'Invalid login or password', waitSeconds: 1 });
      expect(await c.request({ ...request, attempt: 10 }, new AbortController().signal)).toEqual({ status: 'fail', text: 'Invalid login or password' });
    } finally {
      await quick.close();
    }
  });

  it('stops asking the proxy to wait after 10 attempts', async () => {
    expect(await ask({ password: new Secret('nope'), attempt: 10 })).toEqual({ status: 'fail', text: 'Invalid login or password' });
  });

  it('APOP: md5(salt + password) -> OK with the clear password', async () => {
    const outcome = await ask({ method: 'apop', password: new Secret(apop('demo')), salt: SALT });
    expect(outcome).toMatchObject({ status: 'ok', port: 1110 });
    expect(outcome.status === 'ok' && outcome.password?.reveal()).toBe('demo');
    expect(await ask({ method: 'apop', password: new Secret(apop('demo').toUpperCase()), salt: SALT })).toMatchObject({ status: 'ok' });
  });

  it('APOP: wrong digest, or a digest for another salt -> failure', async () => {
    expect(await ask({ method: 'apop', password: new Secret(apop('wrong')), salt: SALT })).toMatchObject({ status: 'fail' });
    expect(await ask({ method: 'apop', password: new Secret(apop('demo')), salt: '<1.2@other>' })).toMatchObject({ status: 'fail' });
  });

  it('CRAM-MD5: HMAC-MD5(password, salt) -> OK with the clear password', async () => {
    const outcome = await ask({ method: 'cram-md5', protocol: 'imap', password: new Secret(cram('demo')), salt: SALT });
    expect(outcome).toMatchObject({ status: 'ok', port: 1143 });
    expect(outcome.status === 'ok' && outcome.password?.reveal()).toBe('demo');
    expect(await ask({ method: 'cram-md5', password: new Secret(cram('wrong')), salt: SALT })).toMatchObject({ status: 'fail' });
  });

  it('external and none are refused; a protocol without a backend is a temporary failure', async () => {
    expect(await ask({ method: 'external', password: new Secret('') })).toMatchObject({ status: 'fail' });
    expect(await ask({ method: 'none', protocol: 'smtp', user: '', password: new Secret('') })).toEqual({
      status: 'fail',
      text: 'Temporary server problem, try again later',
      errorCode: '451 4.3.0',
    });
  });

  it('checkCredentials works without HTTP too', () => {
    expect(checkCredentials(users, 'plain', 'demo', 'demo', '')).toMatchObject({ ok: true, returnPassword: false });
    expect(checkCredentials(users, 'apop', 'demo', apop('demo'), SALT)).toMatchObject({ ok: true, returnPassword: true });
    expect(checkCredentials(users, 'apop', 'demo', apop('demo'), '')).toEqual({ ok: false });
    expect(checkCredentials(users, 'plain', 'ghost', '\u0000no such user', '')).toEqual({ ok: false });
  });
});
