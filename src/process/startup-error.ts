/**
 * Postern could not start (or a worker could not): a bind() that failed, a worker that exited
 * while starting, a user it could not switch to. Reported as nginx's `[emerg]` line, exit 1.
 * Its own module so that the master process, which never serves, need not load the proxy.
 */
export class StartupError extends Error {}
