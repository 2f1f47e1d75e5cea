/**
 * The loop the overhead phases share (`journal`, `observability`): full POP3 login sessions over
 * loopback (greeting, USER, PASS, auth service, backend login, relay, QUIT) against two proxies
 * in alternating rounds, after a warm-up round on each (JIT, file system).
 */
import { LineClient } from '../test/integration/fixtures.js';

/** Medians over the rounds, µs per session: wall clock, and CPU of this process (client, proxy and backend all run here). */
export interface SessionCost {
  wall: number;
  cpu: number;
}

async function session(port: number): Promise<void> {
  const client = await LineClient.connect(port);
  await client.line();
  client.send('USER someone\r\nPASS Pa55-w0rd\r\n');
  await client.lines(2);
  client.send('QUIT\r\n');
  await client.lines(2);
  client.close();
}

async function round(port: number, sessions: number): Promise<SessionCost> {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < sessions; i++) await session(port);
  const used = process.cpuUsage(cpu);
  return { wall: Number(process.hrtime.bigint() - started) / 1e3 / sessions, cpu: (used.user + used.system) / sessions };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const medianOf = (rounds: SessionCost[]): SessionCost => ({ wall: median(rounds.map((r) => r.wall)), cpu: median(rounds.map((r) => r.cpu)) });

/** The per-session cost on the proxy at `basePort` and on the one at `variantPort`. */
export async function compareSessionCost(basePort: number, variantPort: number, sessions: number, rounds: number): Promise<{ base: SessionCost; variant: SessionCost }> {
  await round(basePort, sessions);
  await round(variantPort, sessions);
  const base: SessionCost[] = [];
  const variant: SessionCost[] = [];
  for (let r = 0; r < rounds; r++) {
    base.push(await round(basePort, sessions));
    variant.push(await round(variantPort, sessions));
  }
  return { base: medianOf(base), variant: medianOf(variant) };
}
