import { createRequire } from 'node:module';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SessionEnd, SessionEvents } from '../log/session-events.js';
import { readBuffers } from '../proxy/relay-reads.js';

let loaded: typeof import('prom-client') | undefined;
/**
 * prom-client, loaded with the first registry: a process without `postern_metrics_listen` never
 * loads it (~12 MB of resident memory once loaded).
 */
export const promClient = (): typeof import('prom-client') => (loaded ??= createRequire(import.meta.url)('prom-client') as typeof import('prom-client'));

/** Seconds buckets for the auth_http request and the backend login (local services: mostly milliseconds). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * This process's Prometheus metrics (prom-client), fed by the sessions' events: a few counter
 * increments per session, none per byte (relay bytes are added once, when a session ends).
 */
export class ProxyMetrics implements SessionEvents {
  readonly registry: Registry;
  readonly #active: Gauge;
  readonly #connections: Counter;
  readonly #sessions: Counter;
  readonly #auth: Counter;
  readonly #authDuration: Histogram;
  readonly #backendDuration: Histogram;
  readonly #handshakes: Counter;
  readonly #handshakeErrors: Counter;
  readonly #relayBytes: Counter;

  constructor() {
    const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = promClient();
    const registers = [(this.registry = new Registry())];
    this.#active = new Gauge({ name: 'postern_connections_active', help: 'Client connections open now.', labelNames: ['protocol'], registers });
    this.#connections = new Counter({
      name: 'postern_connections_total',
      help: 'Client connections accepted, by protocol and listening address.',
      labelNames: ['protocol', 'server'],
      registers,
    });
    this.#sessions = new Counter({ name: 'postern_sessions_total', help: 'Client connections ended, by how they ended.', labelNames: ['protocol', 'outcome'], registers });
    this.#auth = new Counter({ name: 'postern_auth_requests_total', help: 'auth_http answers: ok (a backend, or Auth-Wait to ask again), fail, error.', labelNames: ['result'], registers });
    this.#authDuration = new Histogram({ name: 'postern_auth_request_duration_seconds', help: 'Time from an auth_http request to its answer.', buckets: DURATION_BUCKETS, registers });
    this.#backendDuration = new Histogram({ name: 'postern_backend_login_duration_seconds', help: 'Time from connecting to the backend to its login reply.', buckets: DURATION_BUCKETS, registers });
    this.#handshakes = new Counter({ name: 'postern_tls_handshakes_total', help: 'Client TLS handshakes completed, by protocol version and resumption.', labelNames: ['version', 'resumed'], registers });
    this.#handshakeErrors = new Counter({ name: 'postern_tls_handshake_errors_total', help: 'Client TLS handshakes that failed.', registers });
    this.#relayBytes = new Counter({ name: 'postern_relay_bytes_total', help: 'Bytes relayed after the login, counted when a session ends.', labelNames: ['direction'], registers });
    // Read when scraped: the pool relayed sockets read bulk data into (src/proxy/relay-reads.ts).
    new Gauge({
      name: 'postern_relay_read_buffers',
      help: "64 KB buffers of the relay's read pool: lent (chosen for a relayed socket's next read), spare (kept for reuse).",
      labelNames: ['state'],
      registers,
      collect() {
        const { lent, spare } = readBuffers();
        this.set({ state: 'lent' }, lent);
        this.set({ state: 'spare' }, spare);
      },
    });
    // Node's process metrics, event-loop lag included.
    collectDefaultMetrics({ register: this.registry });
    // Series a dashboard expects before the first session: at zero.
    for (const result of ['ok', 'fail', 'error']) this.#auth.inc({ result }, 0);
    for (const direction of ['client_to_upstream', 'upstream_to_client']) this.#relayBytes.inc({ direction }, 0);
    this.#handshakeErrors.inc(0);
  }

  opened(protocol: string, server: string): void {
    this.#active.inc({ protocol });
    this.#connections.inc({ protocol, server });
  }

  tlsEstablished(version: string, resumed: boolean): void {
    this.#handshakes.inc({ version, resumed: resumed ? 'true' : 'false' });
  }

  tlsFailed(): void {
    this.#handshakeErrors.inc();
  }

  authAnswered(result: 'ok' | 'fail' | 'error', seconds: number): void {
    this.#auth.inc({ result });
    this.#authDuration.observe(seconds);
  }

  backendLoggedIn(seconds: number): void {
    this.#backendDuration.observe(seconds);
  }

  ended(end: SessionEnd): void {
    this.#active.dec({ protocol: end.protocol });
    this.#sessions.inc({ protocol: end.protocol, outcome: end.outcome });
    if (end.relayedToUpstream > 0) this.#relayBytes.inc({ direction: 'client_to_upstream' }, end.relayedToUpstream);
    if (end.relayedToClient > 0) this.#relayBytes.inc({ direction: 'upstream_to_client' }, end.relayedToClient);
  }
}

let instance: ProxyMetrics | undefined;

/** The one registry of this process (made on first use: a process without `postern_metrics_listen` never makes it). */
export const processMetrics = (): ProxyMetrics => (instance ??= new ProxyMetrics());
