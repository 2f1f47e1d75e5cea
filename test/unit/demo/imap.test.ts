import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAP_CAPABILITIES, sequenceSet, tokenize } from '../../../src/demo/imap.js';
import { startDemoMailbox, type DemoMailbox } from '../../../src/demo/mailbox.js';
import { demoMessages, headerOf, toRawMessage } from '../../../src/demo/store.js';
import { Wire } from './wire.js';

const users = [
  { user: 'demo', password: 'demo' },
  { user: 'alice', password: 'wonder "land"' },
];

describe('demo mailbox: IMAP helpers', () => {
  it('tokenize: atoms, quoted strings, literals, lists, bracketed sections', () => {
    expect(tokenize(['LOGIN "a \\"b\\" \\\\c" ', 'lit', ''])).toEqual(['LOGIN', 'a "b" \\c', 'lit']);
    expect(tokenize(['FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> FLAGS)'])).toEqual([
      'FETCH',
      '1:*',
      ['UID', 'BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>', 'FLAGS'],
    ]);
    expect(() => tokenize(['"open'])).toThrow();
    expect(() => tokenize(['(a'])).toThrow();
    expect(() => tokenize(['a)'])).toThrow();
  });

  it('sequenceSet', () => {
    expect(sequenceSet('1:3,5', 9)).toEqual([1, 2, 3, 5]);
    expect(sequenceSet('2:*', 4)).toEqual([2, 3, 4]);
    expect(sequenceSet('*', 4)).toEqual([4]);
    expect(sequenceSet('3:1', 4)).toEqual([1, 2, 3]);
    expect(sequenceSet('7:*', 4)).toEqual([4]);
    expect(sequenceSet('1:4294967295', 2)).toEqual([1, 2]);
    expect(sequenceSet('*', 0)).toEqual([]);
    expect(sequenceSet('0', 4)).toBeUndefined();
    expect(sequenceSet('a', 4)).toBeUndefined();
    expect(sequenceSet('1,', 4)).toBeUndefined();
  });
});

describe('demo mailbox: IMAP over a raw socket', () => {
  let mailbox: DemoMailbox;
  const wires: Wire[] = [];
  const connect = async () => {
    const wire = await Wire.connect(mailbox.imapPort);
    wires.push(wire);
    expect(await wire.until('\r\n')).toMatch(/^\* OK \[CAPABILITY [^\]]+\] .*DEMO.*\r\n$/);
    return wire;
  };
  const selected = async (user = 'demo', password = 'demo', select = 'SELECT INBOX') => {
    const wire = await connect();
    expect(await wire.ask(`a LOGIN ${user} "${password.replace(/"/g, '\\"')}"`, /^a .*\r\n/m)).toMatch(/a OK/);
    expect(await wire.ask(`b ${select}`, /^b .*\r\n/m)).toMatch(/b OK/);
    return wire;
  };

  beforeAll(async () => {
    mailbox = await startDemoMailbox({ host: '127.0.0.1', pop3Port: 0, imapPort: 0, users });
  });
  afterAll(async () => {
    for (const wire of wires) wire.close();
    await mailbox.close();
  });

  it('CAPABILITY, NOOP, ID, commands before LOGIN', async () => {
    const wire = await connect();
    expect(await wire.ask('c1 CAPABILITY', 'c1 OK CAPABILITY completed\r\n')).toBe(`* CAPABILITY ${IMAP_CAPABILITIES}\r\nc1 OK CAPABILITY completed\r\n`);
    expect(await wire.ask('c2 NOOP', '\r\n')).toBe('c2 OK NOOP completed\r\n');
    expect(await wire.ask('c3 ID NIL', 'c3 OK ID completed\r\n')).toMatch(/^\* ID \(/);
    expect(await wire.ask('c4 SELECT INBOX', '\r\n')).toMatch(/^c4 BAD/);
    expect(await wire.ask('c5 FROB', '\r\n')).toMatch(/^c5 BAD/);
  });

  it('LOGIN: atoms, quoted strings, a wrong password', async () => {
    const wire = await connect();
    expect(await wire.ask('a1 LOGIN demo wrong', '\r\n')).toBe('a1 NO [AUTHENTICATIONFAILED] Invalid login or password\r\n');
    expect(await wire.ask('a2 LOGIN alice "wonder \\"land\\""', '\r\n')).toMatch(/^a2 OK \[CAPABILITY /);
    expect(await wire.ask('a3 LOGIN alice x', '\r\n')).toMatch(/^a3 BAD/);
  });

  it('LOGIN with synchronising literals, as Postern/nginx log in to a backend', async () => {
    const wire = await connect();
    wire.send('t1 LOGIN {4}\r\n');
    expect(await wire.until('\r\n')).toMatch(/^\+ /);
    wire.send('demo {4}\r\n');
    expect(await wire.until('\r\n')).toMatch(/^\+ /);
    wire.send('demo\r\n');
    expect(await wire.until('\r\n')).toMatch(/^t1 OK /);
  });

  it('LOGIN with non-synchronising literals (LITERAL+): no continuation', async () => {
    const wire = await connect();
    wire.send('t2 LOGIN {5+}\r\nalice {13+}\r\nwonder "land"\r\n');
    expect(await wire.until('\r\n')).toMatch(/^t2 OK /);
  });

  it('SELECT and EXAMINE', async () => {
    const wire = await connect();
    await wire.ask('a LOGIN demo demo', '\r\n');
    const select = await wire.ask('s1 SELECT inbox', /^s1 .*\r\n/m);
    expect(select).toContain('* 3 EXISTS\r\n');
    expect(select).toContain('* 0 RECENT\r\n');
    expect(select).toContain('* FLAGS (');
    expect(select).toContain('* OK [UIDVALIDITY 1]');
    expect(select).toContain('* OK [UIDNEXT 4]');
    expect(select).toContain('s1 OK [READ-WRITE] SELECT completed\r\n');
    expect(await wire.ask('s2 EXAMINE INBOX', /^s2 .*\r\n/m)).toContain('s2 OK [READ-ONLY]');
    expect(await wire.ask('s3 SELECT Trash', '\r\n')).toMatch(/^s3 NO/);
    expect(await wire.ask('s4 FETCH 1 FLAGS', '\r\n')).toMatch(/^s4 BAD/);
  });

  it('LIST, LSUB, STATUS, NAMESPACE, ENABLE', async () => {
    const wire = await connect();
    await wire.ask('a LOGIN demo demo', '\r\n');
    expect(await wire.ask('l1 LIST "" "*"', /^l1 .*\r\n/m)).toBe('* LIST (\\HasNoChildren) "/" INBOX\r\nl1 OK LIST completed\r\n');
    expect(await wire.ask('l2 LIST "" ""', /^l2 .*\r\n/m)).toBe('* LIST (\\Noselect) "/" ""\r\nl2 OK LIST completed\r\n');
    // curl's listing of imap://host/INBOX
    expect(await wire.ask('l3 LIST "INBOX" *', /^l3 .*\r\n/m)).toContain('* LIST (\\HasNoChildren) "/" INBOX\r\n');
    expect(await wire.ask('l4 LIST "" "Other%"', /^l4 .*\r\n/m)).toBe('l4 OK LIST completed\r\n');
    expect(await wire.ask('l5 LSUB "" *', /^l5 .*\r\n/m)).toContain('* LSUB () "/" INBOX\r\n');
    expect(await wire.ask('l6 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)', /^l6 .*\r\n/m)).toBe(
      '* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1)\r\nl6 OK STATUS completed\r\n',
    );
    expect(await wire.ask('l7 NAMESPACE', /^l7 .*\r\n/m)).toContain('* NAMESPACE');
    expect(await wire.ask('l8 ENABLE CONDSTORE', /^l8 .*\r\n/m)).toBe('* ENABLED\r\nl8 OK ENABLE completed\r\n');
  });

  it('FETCH: flags, sizes, bodies, header fields, partial, envelope, structure', async () => {
    const wire = await selected('demo', 'demo', 'EXAMINE INBOX');
    const raws = demoMessages('demo').map(toRawMessage);
    expect(await wire.ask('f1 FETCH 1:* (UID FLAGS RFC822.SIZE)', /^f1 .*\r\n/m)).toBe(
      raws.map((raw, i) => `* ${i + 1} FETCH (UID ${i + 1} FLAGS () RFC822.SIZE ${raw.length})\r\n`).join('') + 'f1 OK FETCH completed\r\n',
    );
    expect(await wire.ask('f2 UID FETCH 2 BODY.PEEK[]', /^f2 .*\r\n/m)).toBe(
      `* 2 FETCH (UID 2 BODY[] {${raws[1]!.length}}\r\n${raws[1]})\r\nf2 OK UID FETCH completed\r\n`,
    );
    const fields = await wire.ask('f3 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])', /^f3 .*\r\n/m);
    const expected = 'From: Postern Demo <demo@postern.invalid>\r\nSubject: Welcome to Postern\r\n\r\n';
    expect(fields).toBe(`* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {${expected.length}}\r\n${expected})\r\nf3 OK FETCH completed\r\n`);
    const header = headerOf(raws[0]!);
    expect(await wire.ask('f4 FETCH 1 BODY.PEEK[HEADER]', /^f4 .*\r\n/m)).toContain(`BODY[HEADER] {${header.length}}\r\n${header})`);
    expect(await wire.ask('f5 FETCH 1 BODY.PEEK[]<0.4>', /^f5 .*\r\n/m)).toContain('BODY[]<0> {4}\r\nFrom)');
    const envelope = await wire.ask('f6 FETCH 1 (ENVELOPE BODYSTRUCTURE INTERNALDATE)', /^f6 .*\r\n/m);
    expect(envelope).toContain(
      'ENVELOPE ("Mon, 2 Nov 2026 10:01:00 +0000" "Welcome to Postern" (("Postern Demo" NIL "demo" "postern.invalid")) ' +
        '(("Postern Demo" NIL "demo" "postern.invalid")) (("Postern Demo" NIL "demo" "postern.invalid")) ' +
        '(("demo" NIL "demo" "postern.invalid")) NIL NIL NIL "<demo-1.demo@postern.invalid>")',
    );
    expect(envelope).toMatch(/BODYSTRUCTURE \("TEXT" "PLAIN" \("CHARSET" "us-ascii"\) NIL NIL "7BIT" \d+ 3\)/);
    expect(await wire.ask('f7 FETCH 1 FAST', /^f7 .*\r\n/m)).toMatch(/^\* 1 FETCH \(FLAGS \(\) INTERNALDATE "[^"]+" RFC822.SIZE \d+\)\r\n/);
    expect(await wire.ask('f8 FETCH 1 (FLAGS BODY[MIME.X])', '\r\n')).toMatch(/^f8 BAD/);
    expect(await wire.ask('f9 FETCH x FLAGS', '\r\n')).toMatch(/^f9 BAD/);
    // EXAMINE is read-only: BODY[] does not set \Seen.
    await wire.ask('f10 FETCH 1 BODY[]', /^f10 .*\r\n/m);
    expect(await wire.ask('f11 FETCH 1 FLAGS', /^f11 .*\r\n/m)).toContain('FLAGS ()');
  });

  it('BODY[] and RFC822 set \\Seen in a read-write mailbox; SEARCH and STORE', async () => {
    const wire = await selected('alice', 'wonder "land"');
    expect(await wire.ask('x1 SEARCH ALL', /^x1 .*\r\n/m)).toBe('* SEARCH 1 2 3\r\nx1 OK SEARCH completed\r\n');
    await wire.ask('x2 FETCH 2 BODY[TEXT]', /^x2 .*\r\n/m);
    expect(await wire.ask('x3 FETCH 2 FLAGS', /^x3 .*\r\n/m)).toContain('FLAGS (\\Seen)');
    expect(await wire.ask('x4 SEARCH UNSEEN', /^x4 .*\r\n/m)).toBe('* SEARCH 1 3\r\nx4 OK SEARCH completed\r\n');
    expect(await wire.ask('x5 UID SEARCH SEEN', /^x5 .*\r\n/m)).toBe('* SEARCH 2\r\nx5 OK UID SEARCH completed\r\n');
    expect(await wire.ask('x6 STORE 1 +FLAGS (\\Flagged)', /^x6 .*\r\n/m)).toBe('* 1 FETCH (FLAGS (\\Flagged))\r\nx6 OK STORE completed\r\n');
    expect(await wire.ask('x7 UID STORE 1 -FLAGS.SILENT (\\Flagged)', /^x7 .*\r\n/m)).toBe('x7 OK UID STORE completed\r\n');
    expect(await wire.ask('x8 UID SEARCH UID 2:*', /^x8 .*\r\n/m)).toBe('* SEARCH 2 3\r\nx8 OK UID SEARCH completed\r\n');
    expect(await wire.ask('x9 SEARCH FROM bob', '\r\n')).toMatch(/^x9 BAD/);
    expect(await wire.ask('x10 EXPUNGE', '\r\n')).toMatch(/^x10 OK/);
    expect(await wire.ask('x11 CLOSE', '\r\n')).toMatch(/^x11 OK/);
    expect(await wire.ask('x12 FETCH 1 FLAGS', '\r\n')).toMatch(/^x12 BAD/);
  });

  it('bad input: invalid tags, syntax errors, empty lines; the session goes on', async () => {
    const wire = await connect();
    expect(await wire.ask('', '\r\n')).toMatch(/^\* BAD/);
    expect(await wire.ask('a+b NOOP', '\r\n')).toBe('* BAD invalid tag\r\n');
    expect(await wire.ask('q LOGIN "unterminated', '\r\n')).toBe('q BAD syntax error\r\n');
    expect(await wire.ask('q2 LOGIN (a b', '\r\n')).toBe('q2 BAD syntax error\r\n');
    wire.send('\u0000\u00ff\u0080 x\r\n');
    expect(await wire.until('\r\n')).toMatch(/BAD/);
    expect(await wire.ask('q3 NOOP', '\r\n')).toBe('q3 OK NOOP completed\r\n');
  });

  it('too long lines and literals end the session', async () => {
    const long = await connect();
    long.send(`a ${'x'.repeat(10000)}\r\n`);
    expect(await long.until('\r\n')).toMatch(/^\* BYE/);
    await long.waitClosed();
    const big = await connect();
    big.send('a LOGIN {1000000}\r\n');
    expect(await big.until('\r\n')).toMatch(/^\* BYE/);
    await big.waitClosed();
  });

  it('LOGOUT', async () => {
    const wire = await connect();
    expect(await wire.ask('z LOGOUT', 'z OK LOGOUT completed\r\n')).toMatch(/^\* BYE/);
    await wire.waitClosed();
  });
});
