/**
 * The test auth_http server (test/e2e/harness) in its own process, so that its work does not
 * share an event loop with the load generator. Started by bench/run.ts with an IPC channel:
 *   -> { type: 'ready', port }
 * argv[2]: JSON { users, backends }. The recorded requests are dropped every second (the
 * harness keeps them all; a benchmark sends tens of thousands).
 */
import { startAuthServer } from '../test/e2e/harness/auth-server.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as { users: Record<string, string>; backends: Record<string, number> };
const auth = await startAuthServer({ users: opts.users, backends: opts.backends });
setInterval(() => auth.clear(), 1000);
const shutdown = () => void auth.close().finally(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('disconnect', shutdown);
process.send?.({ type: 'ready', port: auth.port });
