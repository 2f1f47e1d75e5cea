/**
 * TLS session resumption across worker processes (`worker_processes` N > 1, node:cluster).
 * nginx keeps `shared:` caches in shared memory and makes its random ticket keys before forking,
 * so any worker resumes any session. Here the primary process holds the named shared stores and
 * the secret random ticket keys are derived from; workers ask it over the cluster IPC channel.
 * `builtin` caches stay in each worker, as nginx's do.
 *
 * Primary (src/process/master.ts), once, then for every worker forked (restarts included):
 *
 *   const sessions = createPrimarySessionService();
 *   const worker = cluster.fork();
 *   sessions.serve(worker);
 *
 * Worker (src/process/worker.ts), before starting the proxy:
 *
 *   const sessions = await workerSessionServices();
 *   const proxy = await startProxy(config, { logger, sessions });
 *
 * Messages carry `posternSessions` (other messages on the channel are ignored) and only base64
 * strings and numbers, so they pass with either serialization. The ticket secret crosses the
 * channel once per worker and is never logged.
 */
import { MemorySessionStore, sharedStore, type SessionServices, type SessionStore } from './session-cache.js';
import { RandomTicketKeys } from './ticket-keys.js';

/** Both ends of the channel: a cluster Worker or ChildProcess on the primary, `process` in a worker. */
export interface IpcPeer {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

type Request =
  | { posternSessions: 'hello'; seq: number }
  | { posternSessions: 'get'; seq: number; name: string; sizeBytes: number; id: string }
  | { posternSessions: 'set'; seq: number; name: string; sizeBytes: number; id: string; session: string; timeoutMs: number }
  | { posternSessions: 'delete'; seq: number; name: string; sizeBytes: number; id: string };

/** A request before its sequence number is given (Omit over each member of the union). */
type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, 'seq'> : never) : never;

interface Reply {
  posternSessions: 'reply';
  seq: number;
  session?: string;
  secret?: string;
}

/** A worker waits this long for the primary; then a lookup misses (a handshake never hangs on it). */
const REPLY_TIMEOUT_MS = 2000;

const isRequest = (message: unknown): message is Request =>
  typeof message === 'object' && message !== null && typeof (message as { posternSessions?: unknown }).posternSessions === 'string' && (message as { posternSessions: string }).posternSessions !== 'reply';

const isReply = (message: unknown): message is Reply =>
  typeof message === 'object' && message !== null && (message as { posternSessions?: unknown }).posternSessions === 'reply';

export interface PrimarySessionService {
  /** Answers `peer`'s requests until it goes away; returns a function that stops answering. */
  serve(peer: IpcPeer): () => void;
  /** The named stores held here (for tests and diagnostics). */
  readonly stores: ReadonlyMap<string, MemorySessionStore>;
}

/** The primary side: named `shared:` stores (created at their first use) and the ticket secret. */
export function createPrimarySessionService(keys = new RandomTicketKeys()): PrimarySessionService {
  const stores = new Map<string, MemorySessionStore>();
  const storeFor = (name: string, sizeBytes: number): MemorySessionStore => {
    let store = stores.get(name);
    if (store === undefined) {
      store = sharedStore(sizeBytes);
      stores.set(name, store);
    }
    return store;
  };
  const answer = (request: Request): Reply => {
    const reply: Reply = { posternSessions: 'reply', seq: request.seq };
    switch (request.posternSessions) {
      case 'hello':
        reply.secret = keys.sharedSecret.toString('base64');
        break;
      case 'get': {
        const session = storeFor(request.name, request.sizeBytes).getSync(Buffer.from(request.id, 'base64'));
        if (session !== undefined) reply.session = session.toString('base64');
        break;
      }
      case 'set':
        storeFor(request.name, request.sizeBytes).setSync(Buffer.from(request.id, 'base64'), Buffer.from(request.session, 'base64'), request.timeoutMs);
        break;
      case 'delete':
        storeFor(request.name, request.sizeBytes).deleteSync(Buffer.from(request.id, 'base64'));
        break;
    }
    return reply;
  };
  return {
    stores,
    serve(peer) {
      const listener = (message: unknown) => {
        if (!isRequest(message)) return;
        try {
          peer.send(answer(message));
        } catch {
          // The worker is gone; its requests die with it.
        }
      };
      peer.on('message', listener);
      return () => peer.off('message', listener);
    },
  };
}

/** A worker's end of the channel: requests with sequence numbers, replies matched to them. */
class PrimaryChannel {
  private seq = 0;
  private readonly pending = new Map<number, (reply: Reply | undefined) => void>();

  constructor(private readonly peer: IpcPeer) {
    peer.on('message', (message) => {
      if (!isReply(message)) return;
      this.pending.get(message.seq)?.(message);
    });
  }

  request(body: RequestBody, timeoutMs = REPLY_TIMEOUT_MS): Promise<Reply | undefined> {
    return new Promise((resolve) => {
      const seq = ++this.seq;
      const timer = setTimeout(() => settle(undefined), timeoutMs);
      timer.unref();
      const settle = (reply: Reply | undefined) => {
        clearTimeout(timer);
        this.pending.delete(seq);
        resolve(reply);
      };
      this.pending.set(seq, settle);
      try {
        this.peer.send({ ...body, seq });
      } catch {
        settle(undefined);
      }
    });
  }
}

/** A named shared store whose sessions live in the primary. */
class RemoteSessionStore implements SessionStore {
  constructor(
    private readonly channel: PrimaryChannel,
    private readonly name: string,
    private readonly sizeBytes: number,
  ) {}

  async get(id: Buffer): Promise<Buffer | undefined> {
    const reply = await this.channel.request({ posternSessions: 'get', name: this.name, sizeBytes: this.sizeBytes, id: id.toString('base64') });
    return reply?.session === undefined ? undefined : Buffer.from(reply.session, 'base64');
  }

  async set(id: Buffer, session: Buffer, timeoutMs: number): Promise<void> {
    await this.channel.request({
      posternSessions: 'set', name: this.name, sizeBytes: this.sizeBytes, id: id.toString('base64'), session: session.toString('base64'), timeoutMs,
    });
  }

  async delete(id: Buffer): Promise<void> {
    await this.channel.request({ posternSessions: 'delete', name: this.name, sizeBytes: this.sizeBytes, id: id.toString('base64') });
  }
}

export class SessionServiceUnavailable extends Error {}

/**
 * The worker side: asks the primary for the ticket secret (so every worker derives the same
 * random ticket keys) and returns services whose `shared:` stores live in the primary.
 * `peer` defaults to this process's IPC channel; the primary has `helloTimeoutMs` to answer.
 */
export async function workerSessionServices(peer?: IpcPeer, helloTimeoutMs = 10_000): Promise<SessionServices> {
  const channelPeer = peer ?? processPeer();
  const channel = new PrimaryChannel(channelPeer);
  const hello = await channel.request({ posternSessions: 'hello' }, helloTimeoutMs);
  if (hello?.secret === undefined) throw new SessionServiceUnavailable('the primary process did not answer for TLS session keys');
  const keys = new RandomTicketKeys(Buffer.from(hello.secret, 'base64'));
  const stores = new Map<string, SessionStore>();
  return {
    sharedStore(name, sizeBytes) {
      let store = stores.get(name);
      if (store === undefined) {
        store = new RemoteSessionStore(channel, name, sizeBytes);
        stores.set(name, store);
      }
      return store;
    },
    randomTicketKey: (serverId) => keys.keyFor(serverId),
  };
}

function processPeer(): IpcPeer {
  if (typeof process.send !== 'function') throw new SessionServiceUnavailable('not a worker process (no IPC channel)');
  return {
    send: (message) => (process.connected ? process.send!(message) : false),
    on: (event, listener) => process.on(event, listener),
    off: (event, listener) => process.off(event, listener),
  };
}
