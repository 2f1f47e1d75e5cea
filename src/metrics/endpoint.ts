import http from 'node:http';
import { errnoText } from '../process/errno.js';

export interface MetricsSource {
  /** The Prometheus text and its content type. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** Whether the listeners accept now (`/healthz`). */
  healthy(): boolean;
}

export interface MetricsEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `postern_metrics_listen`: `GET /metrics` (Prometheus text) and `GET /healthz` (200 `ok` while
 * the listeners accept, else 503). Anything else is 404; only GET and HEAD are answered.
 */
export async function startMetricsEndpoint(address: { host: string; port: number; text: string }, source: MetricsSource): Promise<MetricsEndpoint> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      const healthy = source.healthy();
      response.writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain' }).end(healthy ? 'ok\n' : 'not accepting\n');
      return;
    }
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    source.metrics().then(
      ({ contentType, text }) => response.writeHead(200, { 'content-type': contentType }).end(text),
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
  // A scraper is small and short-lived: a slow one must not hold a socket for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new Error(`bind() to ${address.text} failed ${errnoText(error)}`)));
    server.listen({ host: address.host, port: address.port }, () => resolve());
  });
  const bound = server.address();
  return {
    port: typeof bound === 'object' && bound !== null ? bound.port : address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
