/**
 * `worker_connections`, counted as nginx counts its per-worker connection pool: every listening
 * socket, the channel to the master (worker processes only), every client connection, every
 * auth_http request and every upstream connection takes one. When none is left nginx logs
 * `N worker_connections are not enough` at `alert` and closes the new socket (a client sees the
 * connection closed without a greeting; a session that needed an upstream or auth connection
 * gets its internal-error reply). Sessions in progress keep what they hold.
 */
export class ConnectionBudget {
  #used: number;

  /** `limit` changes with a reload; `reserved`: listening sockets and the master channel, which nginx also counts. */
  constructor(
    public limit: number,
    reserved = 0,
  ) {
    this.#used = reserved;
  }

  get used(): number {
    return this.#used;
  }

  /** nginx's alert when the pool is empty. */
  get exhaustedMessage(): string {
    return `${this.limit} worker_connections are not enough`;
  }

  /** Takes one connection; `false` when the pool is empty. */
  take(): boolean {
    if (this.#used >= this.limit) return false;
    this.#used++;
    return true;
  }

  release(): void {
    this.#used--;
  }

  /** A reload changed the number of listening sockets. */
  reserve(delta: number): void {
    this.#used += delta;
  }
}

/** No limit: tests and tools that start a proxy without one. */
export const unlimitedBudget = (): ConnectionBudget => new ConnectionBudget(Number.POSITIVE_INFINITY);

/**
 * `postern_limit_conn_per_ip N` (Postern extension): concurrent connections of one client address
 * to one `server { }`, counted in this process. Entries go when their count drops to zero, so the
 * table holds only addresses connected now.
 */
export class PerAddressLimit {
  readonly #open = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** Counts a connection from `address`; `false` (and nothing counted) when it already has `limit`. */
  take(address: string): boolean {
    const open = this.#open.get(address) ?? 0;
    if (open >= this.limit) return false;
    this.#open.set(address, open + 1);
    return true;
  }

  release(address: string): void {
    const open = this.#open.get(address) ?? 0;
    if (open <= 1) this.#open.delete(address);
    else this.#open.set(address, open - 1);
  }

  /** Addresses with a connection open now (tests, metrics). */
  get addresses(): number {
    return this.#open.size;
  }
}
