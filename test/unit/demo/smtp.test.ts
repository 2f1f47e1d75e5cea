/**
 * The demo SMTP backend of the embedded default: what a proxy and a client send it, and that a
 * delivered message is in the recipient's INBOX over IMAP and POP3 (curl, the real client).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoMailbox, type DemoMailbox } from '../../../src/demo/mailbox.js';
import { MAX_MESSAGE, SMTP_GREETING } from '../../../src/demo/smtp.js';
import { requireBinaries } from '../../e2e/harness/require.js';
import { Wire } from './wire.js';

const run = promisify(execFile);
const { curl: CURL } = requireBinaries(['curl']) as { curl: string };
const curl = async (...args: string[]) => (await run(CURL, ['-sS', '--max-time', '10', ...args], { encoding: 'latin1' })).stdout;

let mailbox: DemoMailbox;
beforeAll(async () => {
  mailbox = await startDemoMailbox({
    host: '127.0.0.1',
    pop3Port: 0,
    imapPort: 0,
    smtpPort: 0,
    users: [
      { user: 'demo', password: 'demo' },
      { user: 'alice', password: 'wonderland' },
    ],
  });
});
afterAll(async () => {
  await mailbox.close();
});

const session = async (): Promise<Wire> => {
  const wire = await Wire.connect(mailbox.smtpPort!);
  await wire.until(`${SMTP_GREETING}\r\n`);
  return wire;
};

describe('demo SMTP backend', () => {
  it('the proxy\'s dialogue: EHLO, XCLIENT (a new greeting), EHLO again, then the client\'s transaction', async () => {
    const wire = await session();
    expect(await wire.ask('EHLO localhost', /250 SIZE \d+\r\n/)).toMatch(/^250-localhost Postern DEMO\r\n250-XCLIENT ADDR LOGIN NAME HELO\r\n/);
    expect(await wire.ask('XCLIENT ADDR=127.0.0.1 LOGIN=demo NAME=[UNAVAILABLE]', '\r\n')).toBe(`${SMTP_GREETING}\r\n`);
    expect(await wire.ask('MAIL FROM:<a@example.org>', '\r\n')).toBe('503 5.5.1 EHLO or HELO first\r\n');
    await wire.ask('EHLO client.example', /250 SIZE \d+\r\n/);
    expect(await wire.ask('MAIL FROM:<a@example.org> SIZE=100', '\r\n')).toBe('250 2.1.0 Ok\r\n');
    expect(await wire.ask('RCPT TO:<nobody@postern.invalid>', '\r\n')).toBe('550 5.1.1 <nobody@postern.invalid>: no such DEMO user\r\n');
    expect(await wire.ask('DATA', '\r\n')).toBe('503 5.5.1 RCPT first\r\n');
    expect(await wire.ask('RCPT TO:<alice@postern.invalid>', '\r\n')).toBe('250 2.1.5 Ok\r\n');
    expect(await wire.ask('DATA', '\r\n')).toBe('354 End data with <CR><LF>.<CR><LF>\r\n');
    wire.send('Subject: dots\r\n\r\n..leading dot\r\nlast line\r\n.\r\n');
    expect(await wire.until('\r\n')).toBe('250 2.0.0 Ok: delivered to the DEMO INBOX of alice\r\n');
    expect(await wire.ask('QUIT', '\r\n')).toBe('221 2.0.0 Postern DEMO mailbox closing\r\n');
    await wire.waitClosed();
    // Dot-stuffing undone, as POP3 and IMAP then serve it.
    expect(await curl(`pop3://127.0.0.1:${mailbox.pop3Port}/4`, '-u', 'alice:wonderland')).toBe('Subject: dots\r\n\r\n.leading dot\r\nlast line\r\n');
  });

  it('curl smtp:// delivers; curl imap:// reads it as the next UID of the INBOX', async () => {
    const message = 'From: Me <me@example.org>\r\nTo: demo@postern.invalid\r\nSubject: Hello\r\n\r\nBody.\r\n';
    const uploaded = new Promise<string>((resolve, reject) => {
      const child = execFile(CURL, ['-sS', '--max-time', '10', `smtp://127.0.0.1:${mailbox.smtpPort}`, '--mail-from', 'me@example.org', '--mail-rcpt', 'demo@postern.invalid', '-T', '-'], (error, stdout) => (error ? reject(error) : resolve(stdout)));
      child.stdin!.end(message);
    });
    await uploaded;
    expect(await curl(`imap://127.0.0.1:${mailbox.imapPort}/INBOX;UID=4`, '-u', 'demo:demo')).toBe(message);
  });

  it('bounded: a message over the limit is refused with 552 (nothing delivered), an overlong line closes', async () => {
    const wire = await session();
    await wire.ask('HELO x', '\r\n');
    await wire.ask('MAIL FROM:<>', '250 2.1.0 Ok\r\n');
    await wire.ask('RCPT TO:<demo@x>', '250 2.1.5 Ok\r\n');
    await wire.ask('DATA', '354 End data with <CR><LF>.<CR><LF>\r\n');
    const line = `${'x'.repeat(998)}\r\n`;
    wire.send(line.repeat(Math.ceil(MAX_MESSAGE / line.length) + 1));
    wire.send('.\r\n');
    expect(await wire.until('\r\n', 10_000)).toBe(`552 5.3.4 message bigger than ${MAX_MESSAGE} bytes\r\n`);
    const listing = await curl(`pop3://127.0.0.1:${mailbox.pop3Port}/`, '-u', 'demo:demo');
    expect(listing.split('\r\n').filter(Boolean).every((l) => Number(l.split(' ')[1]) < MAX_MESSAGE)).toBe(true);
    wire.send(`${'y'.repeat(5000)}\r\n`);
    expect(await wire.until('\r\n')).toBe('500 5.5.2 line too long\r\n');
    await wire.waitClosed();
  });
});
