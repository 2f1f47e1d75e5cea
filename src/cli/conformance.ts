import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  conformanceSeed,
  formatReport,
  isConformanceProtocol,
  runConformance,
  SEED_ENV,
  selectProperties,
  type ConformanceOptions,
  type ConformanceReport,
  type Credentials,
  type PropertyId,
} from '../conformance/index.js';
import { DEMO_USERS, startEmbeddedDefault } from '../embedded/start.js';
import { silentLogger } from '../log.js';
import { startProxy } from '../server.js';
import { parseCommandArgs, usageError } from './args.js';

const USAGE = `Usage: postern conformance --target HOST:PORT --protocol pop3|imap|smtp|sieve --tls none|starttls|implicit
                 [--starttls-mode on|off|only] [--users FILE] [--runs N] [--seed S] [--path P]
                 [--property ID|N]... [--strict] [--budget-ms MS]
       postern conformance [--runs N] [--seed S] [--property ID|N]... [--strict] [--budget-ms MS]

Property-based conformance suite (fast-check) against any POP3/IMAP/SMTP proxy, nginx's
included; without --target, against every listener of Postern's embedded default on free ports
(as \`npm run conformance\`). Exits 1 when a property fails or is incomplete. See docs/conformance.md.

Options:
      --target HOST:PORT      the proxy to test
      --protocol P            pop3, imap, smtp or sieve (ManageSieve)
      --tls MODE              none, starttls or implicit (default none)
      --starttls-mode MODE    on, off or only: the proxy's starttls setting
      --users FILE            user:password lines (# comments), or a JSON array of {user, password}
      --runs N                generated scripts per property
      --seed S                replay a run (default: POSTERN_CONFORMANCE_SEED, else random)
      --path P                replay one counterexample's path (with --seed)
      --property ID|N         only these properties (repeatable)
      --strict                known nginx quirks count as failures
      --budget-ms MS          time budget per property
  -h, --help                  this text
`;

const OPTIONS = {
  target: { type: 'string' },
  protocol: { type: 'string' },
  tls: { type: 'string' },
  'starttls-mode': { type: 'string' },
  users: { type: 'string' },
  runs: { type: 'string' },
  seed: { type: 'string' },
  path: { type: 'string' },
  property: { type: 'string', multiple: true },
  strict: { type: 'boolean' },
  'budget-ms': { type: 'string' },
} as const;

interface ConformanceArgs {
  target?: string;
  protocol?: string;
  tls?: string;
  'starttls-mode'?: string;
  users?: string;
  runs?: string;
  seed?: string;
  path?: string;
  property?: string[];
  strict?: boolean;
  'budget-ms'?: string;
}

/** The protocols the conformance suite knows how to drive. */
const CONFORMANCE_PROTOCOLS = ['pop3', 'imap', 'smtp', 'sieve'] as const;

const say = (line: string) => process.stderr.write(`postern: ${line}\n`);

/** Auth-Wait (seconds) of the demo auth service's failures during `postern conformance` without --target. */
export const CONFORMANCE_AUTH_WAIT = 1;

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

async function runOne(options: ConformanceOptions): Promise<ConformanceReport> {
  const report = await runConformance(options);
  process.stdout.write(`${formatReport(report)}\n`);
  return report;
}

/** One line over every report: the counts, the known quirks tolerated, the seed that replays it. */
function overall(reports: ConformanceReport[], seed: number): string {
  const sum = (k: 'passed' | 'failed' | 'incomplete' | 'skipped') => reports.reduce((n, r) => n + r[k], 0);
  const quirks = new Map<string, number>();
  for (const r of reports) for (const p of r.results) for (const q of p.quirks ?? []) quirks.set(q.id, (quirks.get(q.id) ?? 0) + q.runs);
  const known = quirks.size === 0 ? '' : `; known nginx quirks tolerated: ${[...quirks].map(([id, runs]) => `${id} in ${runs} run(s)`).join(', ')}`;
  return `${reports.length} listener(s): ${sum('passed')} passed, ${sum('failed')} failed, ${sum('incomplete')} incomplete, ${sum('skipped')} skipped${known}; seed ${seed}`;
}

const verdict = (reports: ConformanceReport[]): number => (reports.every((r) => r.failed === 0 && r.incomplete === 0) ? 0 : 1);

/**
 * `postern conformance --target HOST:PORT --protocol pop3|imap|smtp|sieve --tls none|starttls|implicit
 * [--starttls-mode on|off|only] [--users FILE] [--runs N] [--seed S] [--path P] [--property ID]...
 * [--strict] [--budget-ms MS]`: exit 1 when a property fails or is incomplete (stopped by its
 * time budget). Without `--target` (`npm run conformance`): every listener of the embedded
 * default, on free ports, with its demo users. The seed is `--seed`, else POSTERN_CONFORMANCE_SEED,
 * else random; it is printed and replays the run.
 */
export async function conformanceCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(argv, OPTIONS, USAGE);
  if ('exit' in parsed) return parsed.exit;
  if (parsed.positionals.length > 0) return usageError(`unexpected argument "${parsed.positionals[0]}"`, USAGE);
  return runConformanceCommand(parsed.values as ConformanceArgs);
}

async function runConformanceCommand(args: ConformanceArgs): Promise<number> {
  let common: Pick<ConformanceOptions, 'runs' | 'seed' | 'path' | 'properties' | 'strict' | 'propertyBudgetMs'>;
  let seed: number;
  try {
    const runs = integer('--runs', args.runs);
    seed = integer('--seed', args.seed) ?? conformanceSeed();
    const budget = integer('--budget-ms', args['budget-ms']);
    if (runs !== undefined && runs < 1) throw new Error(`invalid --runs "${args.runs}" (at least 1)`);
    if (budget !== undefined && budget < 1) throw new Error(`invalid --budget-ms "${args['budget-ms']}"`);
    const properties: PropertyId[] | undefined = args.property && args.property.length > 0 ? [...selectProperties(args.property.map((p) => (/^\d+$/.test(p) ? Number(p) : (p as PropertyId))))] : undefined;
    common = {
      seed,
      ...(runs === undefined ? {} : { runs }),
      ...(args.path === undefined ? {} : { path: args.path }),
      ...(properties === undefined ? {} : { properties }),
      ...(args.strict ? { strict: true } : {}),
      ...(budget === undefined ? {} : { propertyBudgetMs: budget }),
    };
  } catch (error) {
    say((error as Error).message);
    return 2;
  }
  say(`seed ${seed} (replay with --seed ${seed} or ${SEED_ENV}=${seed})`);

  if (args.target !== undefined) {
    const match = /^(.+):(\d+)$/.exec(args.target);
    const tls = args.tls ?? 'none';
    const mode = args['starttls-mode'];
    if (!match) return (say(`invalid --target "${args.target}" (HOST:PORT)`), 2);
    const protocol = CONFORMANCE_PROTOCOLS.find((known) => known === args.protocol);
    if (protocol === undefined) return (say('--protocol must be pop3, imap, smtp or sieve'), 2);
    if (tls !== 'none' && tls !== 'starttls' && tls !== 'implicit') return (say('--tls must be none, starttls or implicit'), 2);
    if (mode !== undefined && mode !== 'on' && mode !== 'off' && mode !== 'only') return (say('--starttls-mode must be on, off or only'), 2);
    let users: Credentials[] = [];
    try {
      if (args.users !== undefined) users = readUsers(args.users);
    } catch (error) {
      return (say((error as Error).message), 2);
    }
    const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
    const report = await runOne({ target: { host, port: Number(match[2]) }, protocol, tls, ...(mode === undefined ? {} : { starttlsMode: mode }), users, ...common });
    say(overall([report], seed));
    return verdict([report]);
  }

  if (args.protocol !== undefined || args.tls !== undefined || args['starttls-mode'] !== undefined || args.users !== undefined) {
    say('--protocol, --tls, --starttls-mode and --users need --target');
    return 2;
  }
  // The project's own set-up: the embedded default (demo mailbox, demo auth service) on free ports.
  // Its auth service asks for Auth-Wait 1 instead of 3 on a failed login: sessions still go on
  // after a failure (the proxy's wait path is exercised), but each of the many generated bad
  // logins costs 1 s, not 3 (a run takes about a third of the time).
  say(`embedded default on free ports; the demo auth service answers failed logins with Auth-Wait: ${CONFORMANCE_AUTH_WAIT}`);
  const stateDir = mkdtempSync(join(tmpdir(), 'postern-conformance-'));
  const embedded = await startEmbeddedDefault(stateDir, { authFailureWaitSeconds: CONFORMANCE_AUTH_WAIT });
  for (const server of embedded.config.servers) for (const listen of server.listens) listen.port = 0;
  const proxy = await startProxy(embedded.config, { logger: silentLogger() });
  const reports: ConformanceReport[] = [];
  try {
    for (const { server, listen, port } of proxy.listeners) {
      const protocol = server.protocol;
      if (!isConformanceProtocol(protocol)) continue;
      const tls = listen.ssl ? 'implicit' : server.starttls === 'off' ? 'none' : 'starttls';
      reports.push(
        await runOne({
          target: { host: '127.0.0.1', port, servername: 'localhost' },
          protocol,
          tls,
          starttlsMode: listen.ssl ? 'off' : server.starttls,
          users: DEMO_USERS,
          maxErrors: server.maxErrors,
          ...common,
        }),
      );
    }
  } finally {
    await proxy.close();
    await embedded.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
  say(`embedded default, ${overall(reports, seed)}`);
  return verdict(reports);
}
