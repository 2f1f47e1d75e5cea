/**
 * The demo mailbox with real clients: curl (pop3://, imap://) and imapflow. curl is required:
 * without it the file fails and says what to install (requireBinaries), it is never skipped.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoMailbox, type DemoMailbox } from '../../../src/demo/mailbox.js';
import { demoMessages, toRawMessage } from '../../../src/demo/store.js';
import { requireBinaries } from '../../e2e/harness/require.js';

const run = promisify(execFile);
const { curl: CURL } = requireBinaries(['curl']) as { curl: string };
const curl = async (...args: string[]) => (await run(CURL, ['-sS', '--max-time', '10', ...args], { encoding: 'latin1' })).stdout;

describe('demo mailbox with real clients (no proxy)', () => {
  let mailbox: DemoMailbox;
  const raws = demoMessages('demo').map(toRawMessage);

  beforeAll(async () => {
    mailbox = await startDemoMailbox({ host: '127.0.0.1', pop3Port: 0, imapPort: 0, users: [{ user: 'demo', password: 'demo' }] });
  });
  afterAll(async () => {
    await mailbox.close();
  });

  describe('curl', () => {
    it('pop3:// lists the messages', async () => {
      expect(await curl(`pop3://127.0.0.1:${mailbox.pop3Port}/`, '-u', 'demo:demo')).toBe(raws.map((raw, i) => `${i + 1} ${raw.length}\r\n`).join(''));
    });

    it('pop3://.../N retrieves a message (dot-stuffing undone)', async () => {
      expect(await curl(`pop3://127.0.0.1:${mailbox.pop3Port}/3`, '-u', 'demo:demo')).toBe(raws[2]);
      expect(await curl(`pop3://127.0.0.1:${mailbox.pop3Port}/1`, '-u', 'demo:demo')).toBe(raws[0]);
    });

    it('imap://.../INBOX lists, imap://.../INBOX;UID=N fetches', async () => {
      expect(await curl(`imap://127.0.0.1:${mailbox.imapPort}/INBOX`, '-u', 'demo:demo')).toContain('* LIST (\\HasNoChildren) "/" INBOX');
      expect(await curl(`imap://127.0.0.1:${mailbox.imapPort}/INBOX;UID=1`, '-u', 'demo:demo')).toBe(raws[0]);
      expect(await curl(`imap://127.0.0.1:${mailbox.imapPort}/INBOX;UID=3`, '-u', 'demo:demo')).toBe(raws[2]);
    });

    it('a wrong password is refused', async () => {
      await expect(curl(`imap://127.0.0.1:${mailbox.imapPort}/INBOX;UID=1`, '-u', 'demo:nope')).rejects.toThrow();
      await expect(curl(`pop3://127.0.0.1:${mailbox.pop3Port}/1`, '-u', 'demo:nope')).rejects.toThrow();
    });
  });

  it('imapflow: open INBOX, list envelopes, download a message, search', async () => {
    const client = new ImapFlow({ host: '127.0.0.1', port: mailbox.imapPort, secure: false, auth: { user: 'demo', pass: 'demo' }, logger: false });
    await client.connect();
    try {
      const lock = await client.getMailboxLock('INBOX');
      try {
        const subjects: string[] = [];
        for await (const message of client.fetch('1:*', { envelope: true, uid: true, flags: true, size: true })) {
          subjects.push(message.envelope?.subject ?? '');
        }
        expect(subjects).toEqual(['Welcome to Postern', 'Point Postern at your own servers', 'Dot-stuffing check']);
        const one = await client.fetchOne('2', { source: true }, { uid: true });
        expect(one && one.source?.toString('latin1')).toBe(raws[1]);
        expect(await client.search({ all: true })).toEqual([1, 2, 3]);
      } finally {
        lock.release();
      }
      const list = await client.list();
      expect(list.map((box) => box.path)).toContain('INBOX');
    } finally {
      await client.logout();
    }
  });
});
