import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { DEFAULT_INSPECT_PORT } from './port.js';

/**
 * Postern's own relay between the app-side `createWebSocketInspector` and the Stately inspector
 * page in a browser. It replaces `createInspectorServer` from `@statelyai/inspect/server`, which
 * listens on every interface, lets any WebSocket client publish and read, and serves its page to
 * any Host. This one:
 * - listens on 127.0.0.1 only (SSH-tunnel it to look from another machine);
 * - takes inspection events only from `/app?token=...`, with a random token that never leaves the
 *   process, and from clients that send no `Origin` (browsers always do);
 * - sends them only to viewers on `/viewer` whose `Origin` is this relay's own page, and serves
 *   that page only for a loopback `Host` (no DNS rebinding);
 * - keeps the last `bufferSize` messages for viewers that connect late.
 */
export interface InspectorRelayOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port?: number;
  /** The inspector UI the bridge page frames. */
  inspectorUrl?: string;
  bufferSize?: number;
}

export interface InspectorRelay {
  /** The bound address: always 127.0.0.1. */
  address(): AddressInfo;
  /** The page to open in a browser on this machine. */
  readonly viewerUrl: string;
  /** Where `createWebSocketInspector` publishes (carries the token). */
  readonly appUrl: string;
  /** How many viewers are connected now. */
  viewers(): number;
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';

export function bridgePage(inspectorUrl: string): string {
  const frame = JSON.stringify(inspectorUrl);
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>Postern – Stately Inspector</title>
  <style>
    * { margin: 0; padding: 0; }
    html, body { height: 100%; }
    iframe { width: 100%; height: 100%; border: none; }
  </style>
</head>
<body>
  <iframe id="inspector"></iframe>
  <script>
    const iframe = document.getElementById('inspector');
    iframe.src = ${frame};
    const buffer = [];
    let connected = false;
    window.addEventListener('message', (e) => {
      if (e.source === iframe.contentWindow && e.data && e.data.type === '@statelyai.connected') {
        connected = true;
        for (const event of buffer) iframe.contentWindow.postMessage(event, '*');
        buffer.length = 0;
      }
    });
    const ws = new WebSocket('ws://' + location.host + '/viewer');
    ws.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (connected) iframe.contentWindow.postMessage(data, '*');
      else buffer.push(data);
    };
  </script>
</body>
</html>
`;
}

export async function startInspectorRelay(options: InspectorRelayOptions = {}): Promise<InspectorRelay> {
  const inspectorUrl = options.inspectorUrl ?? 'https://stately.ai/inspect';
  const bufferSize = options.bufferSize ?? 500;
  const token = randomBytes(18).toString('base64url');
  const buffer: string[] = [];
  const viewers = new Set<WebSocket>();
  let port = 0;

  const loopbackHost = (host: string | undefined): boolean =>
    host === `${LOOPBACK}:${port}` || host === `localhost:${port}`;
  const ownOrigin = (origin: string | undefined): boolean =>
    origin === `http://${LOOPBACK}:${port}` || origin === `http://localhost:${port}`;

  const server = http.createServer((req, res) => {
    if (!loopbackHost(req.headers.host)) {
      res.writeHead(403, { 'Content-Type': 'text/plain' }).end('forbidden\n');
      return;
    }
    if (req.method !== 'GET' || (req.url !== '/' && req.url !== '/index.html')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(bridgePage(inspectorUrl));
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', `http://${LOOPBACK}`);
    const origin = req.headers.origin;
    let role: 'app' | 'viewer' | null = null;
    if (url.pathname === '/app' && url.searchParams.get('token') === token && origin === undefined) role = 'app';
    else if (url.pathname === '/viewer' && loopbackHost(req.headers.host) && ownOrigin(origin)) role = 'viewer';
    if (role === null) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => undefined);
      if (role === 'viewer') {
        viewers.add(ws);
        ws.on('close', () => viewers.delete(ws));
        for (const message of buffer) ws.send(message);
        // Viewers only listen.
        return;
      }
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const message = data.toString();
        buffer.push(message);
        if (buffer.length > bufferSize) buffer.shift();
        for (const viewer of viewers) if (viewer.readyState === WebSocket.OPEN) viewer.send(message);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port: options.port ?? DEFAULT_INSPECT_PORT }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;

  return {
    address: () => server.address() as AddressInfo,
    viewerUrl: `http://${LOOPBACK}:${port}/`,
    appUrl: `ws://${LOOPBACK}:${port}/app?token=${token}`,
    viewers: () => viewers.size,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
