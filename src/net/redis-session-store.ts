/**
 * `postern_ssl_session_store redis://HOST:PORT[/DB]` (extension): TLS sessions by id kept in
 * Redis, so that a session made on one instance resumes on any other (nginx's `shared:` cache
 * ends at the host). Each session is stored with `ssl_session_timeout` as its expiry (SET PX).
 *
 * Redis is never in the way of a handshake: commands fail at once while it is unreachable
 * (no offline queue) and within COMMAND_TIMEOUT_MS when it stalls; a failed lookup is a cache
 * miss, so the handshake completes without resumption. The client reconnects on its own; an
 * outage is logged once when it starts and once when it ends.
 */
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { SessionStoreUrl } from '../config/types.js';
import type { Logger } from '../log.js';
import type { SessionStore } from './session-cache.js';

/** How long a handshake may wait for Redis before it goes on without. */
export const COMMAND_TIMEOUT_MS = 500;
/** Reconnection attempts back off up to this. */
const MAX_RECONNECT_DELAY_MS = 2_000;
const KEY_PREFIX = 'postern:tls-session:';

const require = createRequire(import.meta.url);
/** The client library, loaded with the first store: a configuration without one never loads it. */
const redisClass = (): typeof Redis => (require('ioredis') as typeof import('ioredis')).Redis;

export class RedisSessionStore implements SessionStore {
  private readonly client: Redis;
  private down = false;

  constructor(
    private readonly url: SessionStoreUrl,
    private readonly logger: Logger,
  ) {
    const RedisClient = redisClass();
    this.client = new RedisClient({
      host: url.host,
      port: url.port,
      db: url.db,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: COMMAND_TIMEOUT_MS * 4,
      retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    });
    // Connection errors come here on every attempt; the outage is reported by `failed`.
    this.client.on('error', (error: Error) => this.failed(error));
    this.client.on('ready', () => this.recovered());
  }

  async get(id: Buffer): Promise<Buffer | undefined> {
    try {
      const session = await this.client.getBuffer(KEY_PREFIX + id.toString('hex'));
      this.recovered();
      return session ?? undefined;
    } catch (error) {
      this.failed(error as Error);
      return undefined;
    }
  }

  async set(id: Buffer, session: Buffer, timeoutMs: number): Promise<void> {
    try {
      await this.client.set(KEY_PREFIX + id.toString('hex'), session, 'PX', Math.max(1, timeoutMs));
      this.recovered();
    } catch (error) {
      this.failed(error as Error);
    }
  }

  async delete(id: Buffer): Promise<void> {
    try {
      await this.client.del(KEY_PREFIX + id.toString('hex'));
    } catch (error) {
      this.failed(error as Error);
    }
  }

  close(): void {
    this.client.disconnect();
  }

  private failed(error: Error): void {
    if (this.down) return;
    this.down = true;
    this.logger.warn({ err: error.message }, `TLS session store ${this.url.text} unavailable: handshakes go on without resuming its sessions`);
  }

  private recovered(): void {
    if (!this.down) return;
    this.down = false;
    this.logger.info(`TLS session store ${this.url.text} available again`);
  }
}

/** One client per store URL for one running proxy, shared by every server naming it and kept across reloads. */
export class RedisSessionStores {
  private readonly stores = new Map<string, RedisSessionStore>();

  constructor(private readonly logger: Logger) {}

  for(url: SessionStoreUrl): RedisSessionStore {
    let store = this.stores.get(url.text);
    if (store === undefined) {
      store = new RedisSessionStore(url, this.logger);
      this.stores.set(url.text, store);
    }
    return store;
  }

  /** Disconnects every store (the proxy is closing). */
  close(): void {
    for (const store of this.stores.values()) store.close();
    this.stores.clear();
  }
}
