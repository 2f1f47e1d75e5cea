/**
 * A real Redis (Debian's `redis-server`) on loopback, on its own port, without persistence and
 * with its files in a temp dir: never the system instance. `stop()` and `start()` make an
 * outage on the same port.
 */
import { waitForListen } from './ports.js';
import { makeTempDir, removeDir, spawnDaemon, type Daemon } from './proc.js';
import { requireBinaries } from './require.js';

export interface RedisHandle {
  port: number;
  /** Stops the server (an outage); `start()` brings it back on the same port, empty. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startRedis(port: number): Promise<RedisHandle> {
  const { 'redis-server': redisServer } = requireBinaries(['redis-server']) as { 'redis-server': string };
  const dir = await makeTempDir('redis');
  let daemon: Daemon | undefined;
  const start = async () => {
    daemon = spawnDaemon(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no']);
    const running = daemon;
    try {
      await waitForListen(port, 10_000, () => running.alive());
    } catch (error) {
      await running.stop();
      throw new Error(`redis-server did not start: ${(error as Error).message}\n${running.output()}`);
    }
  };
  await start();
  return {
    port,
    start,
    stop: async () => {
      await daemon?.stop();
    },
    async close() {
      await daemon?.stop();
      await removeDir(dir);
    },
  };
}
