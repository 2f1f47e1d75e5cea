/**
 * postern_metrics_listen and postern_access_log (issue 14) on a real Postern: a master and two
 * workers (started as root: the endpoint sums over the workers), and one process (started as
 * nobody). A known set of POP3 sessions, then `/metrics` must show exactly what they did, the
 * access log one line for each, and `/healthz` 200.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LineClient } from '../integration/fixtures.js';
import { expectLine, handToNobody, PASSWORD, relayedPop3, startPostern, until, USER, workbench, writeConfig, type PosternProcess, type Workbench } from './helpers.js';

/** A relayed session's commands after the login, and what the fake backend answers (bytes counted by the relay). */
const AFTER_LOGIN = { sent: 'STAT\r\nQUIT\r\n', received: '-ERR unknown command STAT\r\n+OK quit ok\r\n' };

async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, text: await response.text() };
}

/** The value of one series (`name{labels}`), as Prometheus text writes it. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.each([
  { mode: 'a master and two workers (started as root)', asNobody: false, workers: 2 },
  { mode: 'one process (started as nobody)', asNobody: true, workers: 1 },
])('metrics and the access log: $mode', ({ asNobody, workers }) => {
  let bench: Workbench;
  let postern: PosternProcess;
  let plain: number;
  let ssl: number;
  let metrics: number;
  const accessLog = () => path.join(bench.dir, 'access.log');

  beforeAll(async () => {
    bench = await workbench('metrics', 3);
    [plain, ssl, metrics] = bench.ports as [number, number, number];
    writeConfig(
      bench.conf,
      `pid ${bench.pidFile};
worker_processes ${workers};
postern_metrics_listen 127.0.0.1:${metrics};
mail {
  auth_http 127.0.0.1:${bench.backends.auth.port}/auth;
  ssl_certificate ${bench.live.certificate};
  ssl_certificate_key ${bench.live.key};
  postern_access_log ${accessLog()};
  server { listen 127.0.0.1:${plain}; protocol pop3; }
  server { listen 127.0.0.1:${ssl} ssl; protocol pop3; }
}
`,
    );
    if (asNobody) handToNobody(bench.dir);
    postern = await startPostern(bench.conf, bench.pidFile, { asNobody });
    await until('the metrics endpoint', () => get(metrics, '/healthz').then((r) => r.status === 200, () => false));
  }, 60_000);

  afterAll(async () => {
    await postern?.daemon.stop(5000);
    await bench?.backends.close();
  });

  it('counts a known set of sessions exactly, summed over the workers', async () => {
    // Three relayed sessions on the plain listener and one over implicit TLS.
    for (const tls of [false, false, false, true]) {
      const client = await relayedPop3(tls ? ssl : plain, { tls });
      client.send(AFTER_LOGIN.sent);
      expect(await client.line(5000)).toBe('-ERR unknown command STAT');
      expect(await client.line(5000)).toBe('+OK quit ok');
      expect(await client.line(5000)).toBeNull();
    }
    // Two wrong passwords (the auth service answers with Auth-Wait: 1), then QUIT.
    for (let i = 0; i < 2; i++) {
      const client = await LineClient.connect(plain);
      await expectLine(client, /^\+OK/);
      client.send(`USER ${USER}\r\nPASS not-${PASSWORD}\r\n`);
      await expectLine(client, /^\+OK/);
      await expectLine(client, /^-ERR/);
      client.send('QUIT\r\n');
      await expectLine(client, /^\+OK/);
      expect(await client.line(5000)).toBeNull();
    }
    // Plaintext to the ssl listener: a failed handshake.
    const raw = net.connect(ssl, '127.0.0.1');
    raw.on('error', () => undefined);
    raw.end('USER x\r\n');
    await new Promise((resolve) => raw.once('close', resolve));
    // A client that leaves after the greeting.
    const leaving = await LineClient.connect(plain);
    await expectLine(leaving, /^\+OK/);
    leaving.close();

    const expected: Record<string, number> = {
      [`postern_connections_total{protocol="pop3",server="127.0.0.1:${plain}"}`]: 6,
      [`postern_connections_total{protocol="pop3",server="127.0.0.1:${ssl}"}`]: 2,
      'postern_connections_active{protocol="pop3"}': 0,
      'postern_sessions_total{protocol="pop3",outcome="proxied"}': 4,
      'postern_sessions_total{protocol="pop3",outcome="quit"}': 2,
      'postern_sessions_total{protocol="pop3",outcome="tls_error"}': 1,
      'postern_sessions_total{protocol="pop3",outcome="client_closed"}': 1,
      'postern_auth_requests_total{result="ok"}': 4,
      'postern_auth_requests_total{result="fail"}': 2,
      'postern_auth_requests_total{result="error"}': 0,
      'postern_auth_request_duration_seconds_count': 6,
      'postern_backend_login_duration_seconds_count': 4,
      'postern_tls_handshakes_total{version="TLSv1.3",resumed="false"}': 1,
      'postern_tls_handshake_errors_total': 1,
      'postern_relay_bytes_total{direction="client_to_upstream"}': 4 * AFTER_LOGIN.sent.length,
      'postern_relay_bytes_total{direction="upstream_to_client"}': 4 * AFTER_LOGIN.received.length,
      // Every session over: no backend socket holds a pool buffer for its next read.
      'postern_relay_read_buffers{state="lent"}': 0,
    };
    // The last sessions end just after their clients: poll until the counts settle.
    let text = '';
    await until('the metrics of every session', async () => {
      text = (await get(metrics, '/metrics')).text;
      return Object.entries(expected).every(([series, want]) => value(text, series) === want) || undefined;
    }, 10_000).catch(() => undefined);
    expect(Object.fromEntries(Object.keys(expected).map((series) => [series, value(text, series)]))).toEqual(expected);
    // prom-client's process metrics, event-loop lag included, summed or averaged over the workers.
    expect(value(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(value(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE postern_auth_request_duration_seconds histogram');
    expect(text).toContain('# TYPE postern_relay_read_buffers gauge');
  });

  it('writes one access log line per ended connection', async () => {
    await until('eight access log lines', () => readFileSync(accessLog(), 'utf8').split('\n').length === 9 || undefined);
    const lines = readFileSync(accessLog(), 'utf8').trimEnd().split('\n');
    const outcomes = lines.map((line) => /outcome=(\w+)$/.exec(line)?.[1]).sort();
    expect(outcomes).toEqual(['client_closed', 'proxied', 'proxied', 'proxied', 'proxied', 'quit', 'quit', 'tls_error']);
    const tls = lines.find((line) => line.includes(`server=127.0.0.1:${ssl}`) && line.includes('outcome=proxied'))!;
    expect(tls).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\*\\d+ client=127\\.0\\.0\\.1:\\d+ server=127\\.0\\.0\\.1:${ssl} protocol=pop3 tls=TLSv1\\.3 cipher=TLS_\\w+ resumed=no ` +
          `login="${USER.replace('.', '\\.')}" upstream=127\\.0\\.0\\.1:${bench.backends.backend.port} bytes_in=\\d+ bytes_out=\\d+ relayed_up=12 relayed_down=40 duration=\\d+\\.\\d{3} outcome=proxied$`,
      ),
    );
    expect(lines.find((line) => line.includes('outcome=client_closed'))).toMatch(/ tls=- cipher=- resumed=- login=- upstream=- /);
  });

  it('/healthz answers 200; anything else 404', async () => {
    expect(await get(metrics, '/healthz')).toEqual({ status: 200, text: 'ok\n' });
    expect((await get(metrics, '/nope')).status).toBe(404);
  });
});
