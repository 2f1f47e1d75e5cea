import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatReport, runConformance, type ConformanceOptions, type Credentials } from '../conformance/index.js';
import { DEMO_USERS, startEmbeddedDefault } from '../embedded/start.js';
import { silentLogger } from '../log.js';
import { startProxy } from '../server.js';

export interface ConformanceArgs {
  target?: string;
  protocol?: string;
  tls?: string;
  'starttls-mode'?: string;
  users?: string;
  runs?: string;
  seed?: string;
  path?: string;
}

const say = (line: string) => process.stderr.write(`postern: ${line}\n`);

/** `--users FILE`: one `user:password` per line (`#` comments), or a JSON array of `{user, password}`. */
export function readUsers(file: string): Credentials[] {
  const text = readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('[')) return JSON.parse(text) as Credentials[];
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`${file}: expected user:password, got "${line}"`);
      return { user: line.slice(0, colon), password: line.slice(colon + 1) };
    });
}

function integer(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text)) throw new Error(`invalid ${name} "${text}"`);
  return Number(text);
}

async function runOne(options: ConformanceOptions): Promise<boolean> {
  const report = await runConformance(options);
  process.stdout.write(`${formatReport(report)}\n`);
  return report.failed === 0;
}

/**
 * `postern conformance --target HOST:PORT --protocol pop3|imap|smtp --tls none|starttls|implicit
 * [--starttls-mode on|off|only] [--users FILE] [--runs N] [--seed S] [--path P]`: exit 1 when a
 * property fails. Without `--target` (`npm run conformance`): every listener of the embedded
 * default, on free ports, with its demo users.
 */
export async function conformanceCommand(args: ConformanceArgs): Promise<number> {
  let common: Pick<ConformanceOptions, 'runs' | 'seed' | 'path'>;
  try {
    const runs = integer('--runs', args.runs);
    const seed = integer('--seed', args.seed);
    common = { ...(runs === undefined ? {} : { runs }), ...(seed === undefined ? {} : { seed }), ...(args.path === undefined ? {} : { path: args.path }) };
  } catch (error) {
    say((error as Error).message);
    return 2;
  }

  if (args.target !== undefined) {
    const match = /^(.+):(\d+)$/.exec(args.target);
    const protocol = args.protocol;
    const tls = args.tls ?? 'none';
    const mode = args['starttls-mode'];
    if (!match) return (say(`invalid --target "${args.target}" (HOST:PORT)`), 2);
    if (protocol !== 'pop3' && protocol !== 'imap' && protocol !== 'smtp') return (say('--protocol must be pop3, imap or smtp'), 2);
    if (tls !== 'none' && tls !== 'starttls' && tls !== 'implicit') return (say('--tls must be none, starttls or implicit'), 2);
    if (mode !== undefined && mode !== 'on' && mode !== 'off' && mode !== 'only') return (say('--starttls-mode must be on, off or only'), 2);
    let users: Credentials[] = [];
    try {
      if (args.users !== undefined) users = readUsers(args.users);
    } catch (error) {
      return (say((error as Error).message), 2);
    }
    const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
    const ok = await runOne({ target: { host, port: Number(match[2]) }, protocol, tls, ...(mode === undefined ? {} : { starttlsMode: mode }), users, ...common });
    return ok ? 0 : 1;
  }

  if (args.protocol !== undefined || args.tls !== undefined || args['starttls-mode'] !== undefined || args.users !== undefined) {
    say('--protocol, --tls, --starttls-mode and --users need --target');
    return 2;
  }
  // The project's own set-up: the embedded default (demo mailbox, demo auth service) on free ports.
  const stateDir = mkdtempSync(join(tmpdir(), 'postern-conformance-'));
  const embedded = await startEmbeddedDefault(stateDir);
  for (const server of embedded.config.servers) for (const listen of server.listens) listen.port = 0;
  const proxy = await startProxy(embedded.config, { logger: silentLogger() });
  let ok = true;
  try {
    for (const { server, listen, port } of proxy.listeners) {
      const tls = listen.ssl ? 'implicit' : server.starttls === 'off' ? 'none' : 'starttls';
      const passed = await runOne({
        target: { host: '127.0.0.1', port, servername: 'localhost' },
        protocol: server.protocol,
        tls,
        starttlsMode: listen.ssl ? 'off' : server.starttls,
        users: DEMO_USERS,
        maxErrors: server.maxErrors,
        ...common,
      });
      ok &&= passed;
    }
  } finally {
    await proxy.close();
    await embedded.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
  return ok ? 0 : 1;
}
