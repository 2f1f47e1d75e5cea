/** End-to-end test harness: real daemons on loopback, raw and external clients. */
export * from './auth-server.js';
export * from './clients.js';
export * from './dovecot.js';
export * from './haproxy.js';
export * from './nginx.js';
export * from './normalize.js';
export * from './ports.js';
export { makeTempDir, removeDir, run, spawnDaemon, type Daemon, type RunOptions, type RunResult } from './proc.js';
export * from './require.js';
export * from './scripted-backend.js';
export * from './tls.js';
export * from './postfix.js';
export * from './redis.js';
