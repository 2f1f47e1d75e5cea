/**
 * A real HAProxy (Debian's `haproxy`) in TCP mode on loopback, with a private configuration in a
 * temp dir and its own ports: never the system instance. Each frontend balances its servers
 * round-robin and speaks the PROXY protocol to them (`send-proxy-v2` by default).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { waitForListen } from './ports.js';
import { makeTempDir, removeDir, spawnDaemon } from './proc.js';
import { requireBinaries } from './require.js';

export interface HaproxyFrontend {
  name: string;
  port: number;
  servers: Array<{ name: string; port: number }>;
  /** What each server line adds; default `send-proxy-v2`. */
  serverOptions?: string;
}

export interface HaproxyHandle {
  dir: string;
  configPath: string;
  /** stdout/stderr of haproxy (its warnings and alerts). */
  output(): string;
  close(): Promise<void>;
}

export function haproxyConfig(frontends: HaproxyFrontend[]): string {
  const blocks = frontends.map(
    (f) => `frontend ${f.name}
    bind 127.0.0.1:${f.port}
    default_backend ${f.name}_servers

backend ${f.name}_servers
    balance roundrobin
${f.servers.map((s) => `    server ${s.name} 127.0.0.1:${s.port} ${f.serverOptions ?? 'send-proxy-v2'}`).join('\n')}
`,
  );
  return `global
    maxconn 256

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

${blocks.join('\n')}`;
}

export async function startHaproxy(frontends: HaproxyFrontend[]): Promise<HaproxyHandle> {
  const { haproxy } = requireBinaries(['haproxy']) as { haproxy: string };
  const dir = await makeTempDir('haproxy');
  const configPath = path.join(dir, 'haproxy.cfg');
  await writeFile(configPath, haproxyConfig(frontends));
  // -db: foreground, no daemon; the process dies with the test worker (spawnDaemon).
  const daemon = spawnDaemon(haproxy, ['-db', '-f', configPath]);
  try {
    for (const f of frontends) await waitForListen(f.port, 10_000, () => daemon.alive());
  } catch (error) {
    await daemon.stop();
    throw new Error(`haproxy did not start: ${(error as Error).message}\n${daemon.output()}`);
  }
  return {
    dir,
    configPath,
    output: () => daemon.output(),
    async close() {
      await daemon.stop();
      await removeDir(dir);
    },
  };
}
