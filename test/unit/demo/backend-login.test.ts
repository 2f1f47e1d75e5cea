import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginToBackend } from '../../../src/proxy/backend-login.js';
import { startDemoMailbox, type DemoMailbox } from '../../../src/demo/mailbox.js';
import { Secret } from '../../../src/secret.js';

/** The proxy's own backend login dialogue (USER/PASS, LOGIN with literals) against the demo mailbox. */
describe('demo mailbox as the backend of the proxy', () => {
  let mailbox: DemoMailbox;
  beforeAll(async () => {
    mailbox = await startDemoMailbox({ host: '127.0.0.1', pop3Port: 0, imapPort: 0, users: [{ user: 'demo', password: 'pa ss{3}' }] });
  });
  afterAll(async () => {
    await mailbox.close();
  });

  it('POP3: USER/PASS; the PASS reply is what the client sees first', async () => {
    const session = await loginToBackend(
      'pop3',
      { server: '127.0.0.1', port: mailbox.pop3Port, user: 'demo', password: new Secret('pa ss{3}') },
      { bufferSize: 4096, signal: new AbortController().signal },
    );
    expect(session.firstReply.toString()).toMatch(/^\+OK /);
    session.socket.destroy();
  });

  it('IMAP: LOGIN with synchronising literals and the client tag', async () => {
    const session = await loginToBackend(
      'imap',
      { server: '127.0.0.1', port: mailbox.imapPort, user: 'demo', password: new Secret('pa ss{3}'), tag: 'a1' },
      { bufferSize: 4096, signal: new AbortController().signal },
    );
    expect(session.firstReply.toString()).toMatch(/^a1 OK /);
    session.socket.destroy();
  });
});
