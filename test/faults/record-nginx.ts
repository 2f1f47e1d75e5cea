/**
 * Runs the fault matrix (cases.ts) and the client-reset sweep (resets.ts) against the real nginx
 * 1.22.1, with the fake auth service, fake backends and clients of the fault suite, and checks
 * that nginx still does what the suite records of it: the reply bytes, the session's log lines,
 * the close, the next client served, and for client resets nothing logged above `info`.
 *
 *   npx tsx test/faults/record-nginx.ts              # everything
 *   npx tsx test/faults/record-nginx.ts matrix       # the fault matrix only
 *   npx tsx test/faults/record-nginx.ts resets       # the reset sweep only (slow: ~15,000 connections)
 *
 * Not a vitest file: the fault suite itself never starts nginx. Exit status 1 on any difference.
 */
import { freePorts } from '../e2e/harness/ports.js';
import { startNginx, type NginxHandle } from '../e2e/harness/nginx.js';
import { expectedVictim, FAULTS, NEXT, victimSession, type FaultCase, type NginxLevel } from './cases.js';
import { FakeAuth, fullSession, LOGGED_IN, mailBlock, PROTOCOLS, QUIT, RELAYED, sleep, startBackend, TRANSPORTS, type AuthAnswer, type Backend, type Protocol, type Transport } from './harness.js';
import { RESET_TARGETS, sweep, type SweepTarget } from './resets.js';

const what = process.argv[2] ?? 'all';
let failures = 0;
const fail = (text: string) => {
  failures++;
  console.log(`  DIFFERENT: ${text}`);
};

/** nginx's lines since `mark`, as [level, text before ", client: "], without the "connected to" line. */
function nginxLines(ng: NginxHandle, mark: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of ng.errorLog().slice(mark).split('\n')) {
    const match = /^\S+ \S+ \[(\w+)\] \d+#\d+: \*\d+ (.*)$/.exec(line);
    if (!match) continue;
    const text = match[2]!.replace(/, client: .*$/, '');
    if (/^client \S+ connected to \S+$/.test(text)) continue;
    out.push([match[1]!, text]);
  }
  return out;
}

async function withNginx<T>(auth: FakeAuth, extra: string, run: (ng: NginxHandle, port: (p: Protocol, t: Transport) => number) => Promise<T>): Promise<T> {
  const list = await freePorts(6);
  const ports = Object.fromEntries(PROTOCOLS.map((protocol, i) => [protocol, [list[2 * i]!, list[2 * i + 1]!]])) as Record<Protocol, [number, number]>;
  const ng = await startNginx({ mailBlock: mailBlock({ authPort: auth.port, ports, extra }) });
  try {
    return await run(ng, (protocol, transport) => ports[protocol][transport === 'implicit' ? 1 : 0]);
  } finally {
    await ng.close();
  }
}

async function matrix(): Promise<void> {
  const good = new Map<Protocol, Backend>();
  for (const protocol of PROTOCOLS) good.set(protocol, await startBackend(protocol, 'good'));
  let victimAnswer: AuthAnswer = { hang: true };
  const auth = await FakeAuth.start(({ user, protocol }) => (user === NEXT ? { ok: good.get(protocol as Protocol)!.port } : victimAnswer));
  try {
    for (const kase of FAULTS) {
      console.log(`${kase.id}: ${kase.title}`);
      await withNginx(auth, kase.extra ?? '', async (ng, port) => {
        for (const protocol of PROTOCOLS) {
          const backend = await startBackend(protocol, kase.backend ?? 'good');
          const auth127 = `127.0.0.1:${auth.port}`;
          const peers = { auth: auth127, upstream: `127.0.0.1:${backend.port}` };
          victimAnswer = kase.auth === undefined || kase.auth === 'down' ? { ok: backend.port } : withPort(kase.auth, backend.port);
          for (const transport of TRANSPORTS) {
            await oneCase(ng, kase, protocol, transport, port(protocol, transport), peers, auth);
          }
          await backend.close();
        }
      });
    }
  } finally {
    await auth.stop();
    for (const backend of good.values()) await backend.close();
  }
}

/** An auth answer whose OK points at this case's backend. */
function withPort(answer: AuthAnswer, port: number): AuthAnswer {
  if ('ok' in answer) return { ok: port };
  if ('afterMs' in answer) return { afterMs: answer.afterMs, then: withPort(answer.then, port) };
  return answer;
}

async function oneCase(ng: NginxHandle, kase: FaultCase, protocol: Protocol, transport: Transport, port: number, peers: { auth: string; upstream: string }, auth: FakeAuth): Promise<void> {
  const label = `  ${protocol}/${transport}`;
  const mark = ng.errorLogMark();
  if (kase.auth === 'down') await auth.stop();
  let got: { reply: string; login?: string };
  try {
    got = await victimSession(port, protocol, transport, kase);
  } finally {
    if (kase.auth === 'down') await auth.listen();
  }
  // nginx writes the session's last line as it closes; give the file a moment.
  await sleep(150);
  const expected = expectedVictim(protocol, kase);
  if (JSON.stringify(got) !== JSON.stringify(expected)) fail(`${label}: client got ${JSON.stringify(got)}, recorded ${JSON.stringify(expected)}`);
  const lines = nginxLines(ng, mark);
  const recorded = kase.nginx(protocol, peers);
  if (JSON.stringify(lines) !== JSON.stringify(recorded)) fail(`${label}: nginx logged ${JSON.stringify(lines)}, recorded ${JSON.stringify(recorded)}`);
  const next = await fullSession(port, protocol, transport, NEXT);
  const expectedNext = LOGGED_IN[protocol] + RELAYED[protocol].reply + QUIT[protocol].reply;
  if (next !== expectedNext) fail(`${label}: the next client got ${JSON.stringify(next)}`);
  console.log(`${label}: ${JSON.stringify(got.reply)} ${JSON.stringify(lines)}`);
}

/** The reset sweep against nginx: every cut ends with nothing above [info] in nginx's log. */
async function resets(): Promise<void> {
  const backends = new Map<Protocol, Backend>();
  for (const protocol of PROTOCOLS) backends.set(protocol, await startBackend(protocol, 'good'));
  const auth = await FakeAuth.start(({ protocol }) => ({ ok: backends.get(protocol as Protocol)!.port }));
  try {
    await withNginx(auth, '', async (ng, port) => {
      for (const target of RESET_TARGETS) {
        const mark = ng.errorLogMark();
        const result = await sweep(port(target.protocol, target.transport), target as SweepTarget, { after: async () => undefined });
        await sleep(150);
        const levels = new Map<NginxLevel | string, number>();
        for (const [level] of nginxLines(ng, mark)) levels.set(level, (levels.get(level) ?? 0) + 1);
        const above = [...levels.keys()].filter((level) => level !== 'info');
        if (above.length > 0) fail(`${target.protocol}/${target.transport}: nginx logged ${JSON.stringify(Object.fromEntries(levels))}`);
        console.log(`${target.protocol}/${target.transport}: ${result.cuts} cuts over ${result.total} bytes, nginx's lines by level ${JSON.stringify(Object.fromEntries(levels))}`);
        console.log(`  ${JSON.stringify(nginxLines(ng, mark).map(([, text]) => text).filter((t, i, all) => all.indexOf(t) === i))}`);
        const next = await fullSession(port(target.protocol, target.transport), target.protocol, target.transport, NEXT);
        if (!next.startsWith(LOGGED_IN[target.protocol])) fail(`${target.protocol}/${target.transport}: the next client got ${JSON.stringify(next)}`);
      }
    });
  } finally {
    await auth.stop();
    for (const backend of backends.values()) await backend.close();
  }
}

if (what === 'all' || what === 'matrix') await matrix();
if (what === 'all' || what === 'resets') await resets();
console.log(failures === 0 ? 'nginx 1.22.1 does what the fault suite records.' : `${failures} difference(s).`);
process.exit(failures === 0 ? 0 : 1);
