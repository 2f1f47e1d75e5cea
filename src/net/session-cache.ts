/**
 * TLS session stores behind `ssl_session_cache`. Sessions are kept as Node hands them to
 * `newSession` (DER), keyed by session id, each with its own expiry (the `ssl_session_timeout` of
 * the server that stored it, as nginx takes SSL_SESSION_get_timeout). A full store evicts the
 * oldest stored session first; expired ones are swept from the oldest end, as nginx's
 * ngx_ssl_expire_sessions does. Nothing is reordered on a hit: "oldest" means oldest stored.
 *
 * - `builtin[:size]`: one bounded store per server{} (per process), `size` sessions.
 * - `shared:name:size`: one store per name for every server naming it, `size` bytes.
 * - both: the builtin store is asked first, then the shared one (OpenSSL's internal cache,
 *   then nginx's get-session callback).
 */
import type { ServerConfig, SessionStoreUrl } from '../config/types.js';
import { loadTicketKeyFiles, RandomTicketKeys, type TicketKey } from './ticket-keys.js';

/** `ssl_session_cache`, `ssl_session_timeout` and ticket keys of one server{}. */
export interface EndpointSessions {
  /** `builtin`, `shared` or both; null for `off` and `none`: no session is stored. */
  store: SessionStore | null;
  /** `ssl_session_timeout`: how long a stored session lives. */
  timeoutMs: number;
  /** The first encrypts tickets, all decrypt; empty keeps Node's own random key. */
  ticketKeys: readonly TicketKey[];
}

/** What a TLS endpoint needs from a session cache; every call may cross a process boundary. */
export interface SessionStore {
  /**
   * The answer at once, when this process holds it (builtin and single-process `shared:`
   * stores): the session, or null when there is none. Undefined when only `get` can tell (the
   * primary's store, Redis): the handshake then waits for it.
   */
  lookupNow?(id: Buffer): Buffer | null | undefined;
  get(id: Buffer): Promise<Buffer | undefined>;
  set(id: Buffer, session: Buffer, timeoutMs: number): Promise<void>;
  delete(id: Buffer): Promise<void>;
}

/** nginx: "one megabyte can store about 4000 sessions"; one session is charged this much. */
export const SHARED_BYTES_PER_SESSION = Math.floor((1024 * 1024) / 4000);
/**
 * What a stored session costs besides its DER bytes, so that a typical session (about 130 bytes
 * of DER, 32 of id) is charged SHARED_BYTES_PER_SESSION. Bigger sessions (with a client
 * certificate) cost more, as in nginx's slab.
 */
const ENTRY_OVERHEAD = SHARED_BYTES_PER_SESSION - 130 - 32;
/** nginx's NGX_SSL_MAX_SESSION_SIZE: a bigger session is not put in a shared cache. */
export const SHARED_MAX_SESSION_BYTES = 4096;

export interface MemoryStoreLimits {
  /** At most this many sessions (`builtin:N`). */
  maxSessions?: number;
  /** At most this many bytes, charged per session (`shared:name:size`). */
  maxBytes?: number;
  /** Sessions bigger than this are not stored. */
  maxSessionBytes?: number;
  /** The clock (tests pass their own). */
  now?: () => number;
}

interface Entry {
  session: Buffer;
  expiresAt: number;
  cost: number;
}

/** A bounded in-process store (a Map keeps insertion order: its first entry is the oldest). */
export class MemorySessionStore implements SessionStore {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly now: () => number;

  constructor(private readonly limits: MemoryStoreLimits) {
    this.now = limits.now ?? Date.now;
  }

  /** Sessions held now (expired ones not yet swept included). */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes charged now. */
  get chargedBytes(): number {
    return this.bytes;
  }

  getSync(id: Buffer): Buffer | undefined {
    const key = id.toString('hex');
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.remove(key, entry);
      return undefined;
    }
    return entry.session;
  }

  setSync(id: Buffer, session: Buffer, timeoutMs: number): void {
    if (this.limits.maxSessionBytes !== undefined && session.length > this.limits.maxSessionBytes) return;
    const key = id.toString('hex');
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, old);
    const cost = session.length + id.length + ENTRY_OVERHEAD;
    if (this.limits.maxBytes !== undefined && cost > this.limits.maxBytes) return;
    this.sweepExpired();
    while (this.isFullFor(cost)) this.evictOldest();
    this.entries.set(key, { session, expiresAt: this.now() + timeoutMs, cost });
    this.bytes += cost;
  }

  deleteSync(id: Buffer): void {
    const key = id.toString('hex');
    const entry = this.entries.get(key);
    if (entry !== undefined) this.remove(key, entry);
  }

  lookupNow(id: Buffer): Buffer | null {
    return this.getSync(id) ?? null;
  }

  get(id: Buffer): Promise<Buffer | undefined> {
    return Promise.resolve(this.getSync(id));
  }

  set(id: Buffer, session: Buffer, timeoutMs: number): Promise<void> {
    this.setSync(id, session, timeoutMs);
    return Promise.resolve();
  }

  delete(id: Buffer): Promise<void> {
    this.deleteSync(id);
    return Promise.resolve();
  }

  private isFullFor(cost: number): boolean {
    if (this.entries.size === 0) return false;
    if (this.limits.maxSessions !== undefined && this.entries.size >= this.limits.maxSessions) return true;
    return this.limits.maxBytes !== undefined && this.bytes + cost > this.limits.maxBytes;
  }

  /** From the oldest, while expired (stops at the first live one, as nginx does). */
  private sweepExpired(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) return;
      this.remove(key, entry);
    }
  }

  private evictOldest(): void {
    const first = this.entries.entries().next();
    if (!first.done) this.remove(first.value[0], first.value[1]);
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.cost;
  }
}

/** `builtin[:size]`: a per-server store of `sessions` sessions. */
export function builtinStore(sessions: number, now?: () => number): MemorySessionStore {
  return new MemorySessionStore({ maxSessions: Math.max(1, sessions), ...(now ? { now } : {}) });
}

/** `shared:name:size`, held in this process: `sizeBytes` bytes (~4000 sessions per MB). */
export function sharedStore(sizeBytes: number, now?: () => number): MemorySessionStore {
  return new MemorySessionStore({ maxBytes: sizeBytes, maxSessionBytes: SHARED_MAX_SESSION_BYTES, ...(now ? { now } : {}) });
}

/** `builtin shared:...`: the builtin store first, then the shared one; both get every change. */
export class TieredSessionStore implements SessionStore {
  constructor(
    private readonly first: SessionStore,
    private readonly second: SessionStore,
  ) {}

  /** At once when the first tier has it, or both tiers can answer at once. */
  lookupNow(id: Buffer): Buffer | null | undefined {
    const first = this.first.lookupNow?.(id);
    if (first !== undefined && first !== null) return first;
    const second = this.second.lookupNow?.(id);
    return first === null ? second : undefined;
  }

  async get(id: Buffer): Promise<Buffer | undefined> {
    return (await this.first.get(id)) ?? (await this.second.get(id));
  }

  async set(id: Buffer, session: Buffer, timeoutMs: number): Promise<void> {
    await Promise.all([this.first.set(id, session, timeoutMs), this.second.set(id, session, timeoutMs)]);
  }

  async delete(id: Buffer): Promise<void> {
    await Promise.all([this.first.delete(id), this.second.delete(id)]);
  }
}

/** Where a process gets `shared:` stores and random ticket keys: its own, or the primary's. */
export interface SessionServices {
  /** The one store of `shared:name:size` (the same object for every server naming it). */
  sharedStore(name: string, sizeBytes: number): SessionStore;
  /** The random ticket key of a server{} without `ssl_session_ticket_key`. */
  randomTicketKey(serverId: string): TicketKey;
}

/** A single process: shared stores in memory here, random keys from a secret drawn here. */
export function localSessionServices(keys = new RandomTicketKeys()): SessionServices {
  const stores = new Map<string, SessionStore>();
  return {
    sharedStore(name, sizeBytes) {
      let store = stores.get(name);
      if (store === undefined) {
        store = sharedStore(sizeBytes);
        stores.set(name, store);
      }
      return store;
    },
    randomTicketKey: (serverId) => keys.keyFor(serverId),
  };
}

/** How a server{} is known to the random key derivation: where it is written. */
export const serverIdOf = (server: ServerConfig): string => `${server.where.file}:${server.where.line}`;

/**
 * A server{}'s session settings for its TLS endpoint: `off` and `none` store nothing (Node's
 * cache mode already answers like `none`; see docs/nginx-migration.md for `off`), `builtin` gets
 * a store of its own, `shared:` the named one, `postern_ssl_session_store` the one `externalStore`
 * gives (unless `off`). Ticket keys: those serverTls read from the files (read here only when
 * not given, errors at the directive's line); without files the server gets its random key.
 */
export function endpointSessions(
  server: ServerConfig,
  services: SessionServices,
  externalStore?: (url: SessionStoreUrl) => SessionStore,
  /** The ticket key files' keys when the caller read them already (serverTls): not read twice. */
  loadedTicketKeys?: readonly TicketKey[],
): EndpointSessions {
  const { ssl } = server;
  const cache = ssl.sessionCache;
  const builtin = cache.builtinSessions === undefined ? undefined : builtinStore(cache.builtinSessions);
  const shared = cache.shared === undefined ? undefined : services.sharedStore(cache.shared.name, cache.shared.sizeBytes);
  // `postern_ssl_session_store` (extension): the store of every instance, asked after this process's own.
  const external = server.sessionStore === undefined || externalStore === undefined ? undefined : externalStore(server.sessionStore);
  const stores = [builtin, shared, external].filter((s): s is SessionStore => s !== undefined);
  const store = cache.off ? null : (stores.reduceRight<SessionStore | null>((next, s) => (next === null ? s : new TieredSessionStore(s, next)), null));
  const where = ssl.where['ssl_session_ticket_key'] ?? server.where;
  const fileKeys = ssl.sessionTicketKeys.length === 0 ? [] : (loadedTicketKeys ?? loadTicketKeyFiles(ssl.sessionTicketKeys, where));
  const ticketKeys = fileKeys.length > 0 ? [...fileKeys] : [services.randomTicketKey(serverIdOf(server))];
  return { store, timeoutMs: ssl.sessionTimeoutMs, ticketKeys };
}
