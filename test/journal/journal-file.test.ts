import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import { main } from '../../src/cli/main.js';
import { parseConfigText } from '../../src/config/index.js';
import { decodeJournalLine } from '../../src/journal/codec.js';
import { fileJournal } from '../../src/journal/file-sink.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import { replayJournal } from '../../src/journal/replay.js';
import { silentLogger } from '../../src/log.js';
import { Secret } from '../../src/secret.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { fakeBackend, LineClient } from '../integration/fixtures.js';

const PASSWORD = 'Zq7-unmistakable-Pa55word';
const SASL_PLAIN = Buffer.from(`\0nowait\0${PASSWORD}`).toString('base64');

const readJournal = (file: string): JournalEntry[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => decodeJournalLine(line) as JournalEntry);

/** Wait until `count` journals in `dir` end with the machine's final state. */
async function finishedJournals(dir: string, count: number): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    // The sink creates the directory with its first write, at the end of a session.
    const files = (existsSync(dir) ? readdirSync(dir) : [])
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => join(dir, f));
    const done = files.filter((f) => readFileSync(f, 'utf8').endsWith('"state":"closed"}\n'));
    if (done.length >= count) return done.sort();
    if (Date.now() > deadline) throw new Error(`only ${done.length} of ${count} journals finished in ${dir}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Run the CLI in-process, capturing what it prints. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('postern_journal: a real session writes a journal that replays', () => {
  let backend: Awaited<ReturnType<typeof fakeBackend>>;
  let proxy: RunningProxy;
  let dir: string;
  let files: string[];

  beforeAll(async () => {
    backend = await fakeBackend('pop3');
    // A directory that does not exist yet: the sink creates it.
    dir = join(mkdtempSync(join(tmpdir(), 'postern-journal-')), 'journals', 'pop3');
    const config = parseConfigText(
      `mail {\n  auth_http 127.0.0.1:1/auth;\n  postern_journal ${dir};\n  server { listen 127.0.0.1:1110; protocol pop3; }\n}\n`,
      '/etc/postern/test.conf',
    );
    expect(config.servers[0]!.journalDir).toBe(dir);
    config.servers[0]!.listens[0]!.port = 0;
    const auth = {
      request: async (request: AuthRequest): Promise<AuthOutcome> =>
        request.user === 'nowait'
          ? { status: 'fail', text: 'Invalid login or password' }
          : { status: 'ok', server: '127.0.0.1', port: backend.port, user: 'test@example.com', password: new Secret('secret') },
    };
    proxy = await startProxy(config, { logger: silentLogger(), authFor: () => auth });
    const port = proxy.listeners[0]!.port;

    const good = await LineClient.connect(port);
    expect(await good.line()).toBe('+OK POP3 ready');
    good.send(`USER someone\r\nPASS ${PASSWORD}\r\n`);
    expect(await good.lines(2)).toEqual(['+OK', '+OK pass ok']);
    good.send('QUIT\r\n');
    expect(await good.lines(2)).toEqual(['+OK quit ok', null]);

    const bad = await LineClient.connect(port);
    await bad.line();
    bad.send(`AUTH PLAIN ${SASL_PLAIN}\r\n`);
    expect(await bad.lines(2)).toEqual(['-ERR Invalid login or password', null]);

    files = await finishedJournals(dir, 2);
  });
  afterAll(async () => {
    await proxy.close();
    await backend.close();
  });

  it('names each journal <ISO-time>-<pid>-<counter>.jsonl in the configured directory', () => {
    expect(files).toHaveLength(2);
    for (const file of files) expect(file.slice(dir.length + 1)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z-\d+-\d{6}\.jsonl$/);
  });

  it('records input, events, effects and states, and never a password or SASL payload', () => {
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(SASL_PLAIN);
      expect(text).not.toContain('"secret"');
      const kinds = new Set(readJournal(file).map((e) => e.kind));
      expect([...kinds].sort()).toEqual(['effect', 'event', 'input', 'state']);
    }
    const good = readFileSync(files[0]!, 'utf8');
    expect(good).toContain('"type":"cmd.pass","password":{"$secret":"redacted"}');
    expect(readJournal(files[0]!).filter((e) => e.kind === 'state').map((e) => (e as { state: string }).state)).toEqual([
      'preauth.transport.plaintext,preauth.dialogue.idle',
      'preauth.transport.plaintext,preauth.dialogue.user',
      'authenticating',
      'backend',
      'relaying',
      'closed',
    ]);
  });

  it('replayJournal reproduces every recorded state and effect', () => {
    for (const file of files) {
      const result = replayJournal(readJournal(file));
      expect(result.divergence, `${file}: ${result.expected} vs ${result.actual}`).toBe(-1);
      expect(result.produced.length).toBeGreaterThan(4);
    }
  });

  it('`postern replay FILE` prints the states and exits 0', async () => {
    const { code, stdout, stderr } = await cli(['replay', files[0]!]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/state\s+relaying/);
    expect(stderr).toContain('replay matches the journal');
  });

  it('`postern replay FILE` exits 1 with the first difference when the journal was tampered with', async () => {
    const tampered = join(dir, '..', 'tampered.jsonl');
    writeFileSync(tampered, readFileSync(files[0]!, 'utf8').replace('"type":"cmd.user"', '"type":"cmd.noop"'));
    const { code, stderr } = await cli(['replay', tampered]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/replay diverges from the journal at recorded entry \d+/);
    // NOOP answers "+OK" like USER did, but stays in idle: the first difference is the state.
    expect(stderr).toContain('recorded: {"kind":"state","state":"preauth.transport.plaintext,preauth.dialogue.user"}');
    expect(stderr).toContain('replayed: {"kind":"effect","effect":{"type":"reply","text":"-ERR invalid command\\r\\n"}}');
  });

  it('`postern replay` refuses a file that is not a journal', async () => {
    const junk = join(dir, '..', 'junk.jsonl');
    writeFileSync(junk, 'not json\n');
    const { code, stderr } = await cli(['replay', junk]);
    expect(code).toBe(1);
    expect(stderr).toContain('line 1 is not JSON');
  });
});

describe('the file sink', () => {
  it('logs an unwritable directory once and never throws into the session', async () => {
    const errors: string[] = [];
    const logger = { ...silentLogger(), error: (_obj: unknown, msg: string) => errors.push(msg) } as unknown as ReturnType<typeof silentLogger>;
    const blocker = join(mkdtempSync(join(tmpdir(), 'postern-journal-')), 'file');
    writeFileSync(blocker, 'a file where the directory should be');
    const factory = fileJournal(join(blocker, 'sub'), logger);
    for (let i = 0; i < 3; i++) {
      const sink = factory();
      sink.write({ kind: 'state', t: 0, state: 'preauth.transport.plaintext,preauth.dialogue.idle' });
      sink.close();
    }
    await factory.drain();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('postern_journal');
  });
});
