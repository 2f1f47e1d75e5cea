import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoMailbox, type DemoMailbox } from '../../../src/demo/mailbox.js';
import { dotStuff } from '../../../src/demo/pop3.js';
import { demoMessages, toRawMessage } from '../../../src/demo/store.js';
import { Wire } from './wire.js';

const users = [
  { user: 'demo', password: 'demo' },
  { user: 'alice', password: 'wonderland' },
];

describe('demo mailbox: POP3 over a raw socket', () => {
  let mailbox: DemoMailbox;
  const wires: Wire[] = [];
  const connect = async () => {
    const wire = await Wire.connect(mailbox.pop3Port);
    wires.push(wire);
    await wire.until(/^\+OK .*DEMO.*\r\n/);
    return wire;
  };
  const login = async (user = 'demo', password = 'demo') => {
    const wire = await connect();
    expect(await wire.ask(`USER ${user}`, '\r\n')).toMatch(/^\+OK/);
    expect(await wire.ask(`PASS ${password}`, '\r\n')).toMatch(/^\+OK/);
    return wire;
  };

  beforeAll(async () => {
    mailbox = await startDemoMailbox({ host: '127.0.0.1', pop3Port: 0, imapPort: 0, users });
  });
  afterAll(async () => {
    for (const wire of wires) wire.close();
    await mailbox.close();
  });

  it('greets with a DEMO label and answers CAPA', async () => {
    const wire = await connect();
    const capa = await wire.ask('CAPA', '\r\n.\r\n');
    expect(capa).toMatch(/^\+OK/);
    expect(capa).toContain('\r\nUSER\r\n');
    expect(capa).toContain('\r\nUIDL\r\n');
    expect(capa).toContain('\r\nTOP\r\n');
  });

  it('refuses a wrong password and commands before login', async () => {
    const wire = await connect();
    expect(await wire.ask('STAT', '\r\n')).toMatch(/^-ERR/);
    expect(await wire.ask('PASS demo', '\r\n')).toMatch(/^-ERR/);
    await wire.ask('USER demo', '\r\n');
    expect(await wire.ask('PASS wrong', '\r\n')).toBe('-ERR [AUTH] Invalid login or password\r\n');
    // USER has to be sent again.
    expect(await wire.ask('PASS demo', '\r\n')).toMatch(/^-ERR/);
  });

  it('STAT, LIST, LIST n, UIDL, UIDL n', async () => {
    const wire = await login();
    const sizes = demoMessages('demo').map((m) => toRawMessage(m).length);
    expect(await wire.ask('STAT', '\r\n')).toBe(`+OK 3 ${sizes.reduce((a, b) => a + b)}\r\n`);
    expect(await wire.ask('LIST', '\r\n.\r\n')).toBe(`+OK 3 messages\r\n1 ${sizes[0]}\r\n2 ${sizes[1]}\r\n3 ${sizes[2]}\r\n.\r\n`);
    expect(await wire.ask('LIST 2', '\r\n')).toBe(`+OK 2 ${sizes[1]}\r\n`);
    expect(await wire.ask('LIST 9', '\r\n')).toMatch(/^-ERR/);
    expect(await wire.ask('LIST x', '\r\n')).toMatch(/^-ERR/);
    expect(await wire.ask('UIDL', '\r\n.\r\n')).toBe('+OK 3 messages\r\n1 demo-1\r\n2 demo-2\r\n3 demo-3\r\n.\r\n');
    expect(await wire.ask('uidl 3', '\r\n')).toBe('+OK 3 demo-3\r\n');
  });

  it('RETR with dot-stuffing, TOP', async () => {
    const wire = await login();
    const raw = toRawMessage(demoMessages('demo')[2]!);
    const retr = await wire.ask('RETR 3', '\r\n.\r\n');
    expect(retr).toBe(`+OK ${raw.length} octets\r\n${dotStuff(raw)}`);
    expect(retr).toContain('\r\n..\r\n');
    expect(retr).toContain('\r\n..hidden\r\n');
    const top = await wire.ask('TOP 3 1', '\r\n.\r\n');
    expect(top).toMatch(/^\+OK.*\r\nFrom: .*Subject: Dot-stuffing check\r\n.*\r\n\r\nA line with a single dot follows:\r\n\.\r\n$/s);
    expect(await wire.ask('TOP 1 0', '\r\n.\r\n')).toMatch(/\r\n\r\n\.\r\n$/);
    expect(await wire.ask('TOP 1', '\r\n')).toMatch(/^-ERR/);
    expect(await wire.ask('RETR 0', '\r\n')).toMatch(/^-ERR/);
  });

  it('DELE marks for the session, RSET unmarks, QUIT keeps everything', async () => {
    const wire = await login();
    expect(await wire.ask('DELE 1', '\r\n')).toMatch(/^\+OK/);
    expect(await wire.ask('DELE 1', '\r\n')).toMatch(/^-ERR/);
    expect(await wire.ask('RETR 1', '\r\n')).toMatch(/^-ERR/);
    expect(await wire.ask('STAT', '\r\n')).toMatch(/^\+OK 2 /);
    expect(await wire.ask('LIST', '\r\n.\r\n')).toMatch(/^\+OK 2 messages\r\n2 \d+\r\n3 \d+\r\n\.\r\n$/);
    expect(await wire.ask('RSET', '\r\n')).toMatch(/^\+OK/);
    expect(await wire.ask('STAT', '\r\n')).toMatch(/^\+OK 3 /);
    await wire.ask('DELE 2', '\r\n');
    expect(await wire.ask('QUIT', '\r\n')).toMatch(/^\+OK/);
    await wire.waitClosed();
    const again = await login();
    expect(await again.ask('STAT', '\r\n')).toMatch(/^\+OK 3 /);
  });

  it('NOOP, unknown commands, pipelining', async () => {
    const wire = await login('alice', 'wonderland');
    wire.send('NOOP\r\nFROB\r\nSTAT\r\n');
    expect(await wire.until(/\+OK \d+ \d+\r\n/)).toMatch(/^\+OK\r\n-ERR unknown command\r\n\+OK 3 \d+\r\n$/);
  });

  it('a too long line ends the session; garbage does not crash it', async () => {
    const wire = await connect();
    wire.send('\u0000\u00ff\r\n\r\n');
    expect(await wire.until(/-ERR.*\r\n-ERR.*\r\n/)).toBeTruthy();
    wire.send(`${'x'.repeat(5000)}\r\n`);
    expect(await wire.until('-ERR line too long\r\n')).toBeTruthy();
    await wire.waitClosed();
    // The server is still fine.
    await login();
  });

  it('custom messages (LF line ends become CRLF)', async () => {
    const custom = await startDemoMailbox({ host: '127.0.0.1', pop3Port: 0, imapPort: 0, users, messages: ['Subject: hi\n\n.dot\nbody'] });
    try {
      const wire = await Wire.connect(custom.pop3Port);
      wires.push(wire);
      await wire.until('\r\n');
      await wire.ask('USER demo', '\r\n');
      await wire.ask('PASS demo', '\r\n');
      expect(await wire.ask('RETR 1', '\r\n.\r\n')).toBe('+OK 27 octets\r\nSubject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n');
    } finally {
      await custom.close();
    }
  });
});
