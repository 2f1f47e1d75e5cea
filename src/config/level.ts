/**
 * What the parser collects for one `mail { }` or `server { }` block before merging: every
 * directive's parsed value with where it was written, plus the server-only facts (listens,
 * protocol) that nginx keeps outside the ordinary inherited settings.
 */
import type { ErrorLogConfig, ListenConfig, Protocol, Where } from './types.js';

export interface Setting {
  value: unknown;
  where: Where;
}

export interface Level {
  context: 'main' | 'events' | 'mail' | 'server';
  /** Where the block was opened (the line of its `{`), used by "... for server in FILE:LINE". */
  where: Where;
  settings: Map<string, Setting>;
  listens: ListenConfig[];
  protocol?: Protocol;
  hasListenSsl: boolean;
  /** nginx's TLS "file:line": the last `listen ... ssl`, else the first `ssl`/`starttls` here. */
  sslWhere?: Where;
}

export const newLevel = (context: Level['context'], where: Where): Level => ({
  context,
  where,
  settings: new Map(),
  listens: [],
  hasListenSsl: false,
});

/** A file path as written and as resolved against the configuration directory. */
export interface PathValue {
  written: string;
  path: string;
}

/** State shared by all levels of one parse. */
export interface ParseState {
  baseDir: string;
  /** `-p PREFIX`: where relative `pid` and `error_log` paths point (else baseDir). */
  prefix?: string;
  notices: string[];
  warnings: string[];
  /** Canonical `addr:port` of every listen in the mail block (duplicates are an error). */
  listenKeys: Set<string>;
  /** The top-level `error_log`s, in order. */
  mainErrorLogs: ErrorLogConfig[];
  /** `ssl_session_cache shared:NAME:SIZE` zones declared so far: one size per name, like nginx's shared memory. */
  sharedZones: Map<string, number>;
  /** Top-level `worker_processes` and `pid`, once each. */
  workerProcesses?: number;
  pidFile?: string;
}
