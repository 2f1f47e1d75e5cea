/**
 * What `postern -t` (and a start or a reload) checks beyond what the parser checks, as nginx -t
 * does: auth_http host names resolve, certificates and keys load, log files can be opened.
 */
import { closeSync, openSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { authHttpWhere, ConfigError, formatWhere } from '../config/index.js';
import type { MailConfig } from '../config/types.js';
import { checkSsl } from '../net/tls-contexts.js';
import { tlsFiles } from '../net/tls-files.js';
import { errnoText } from '../process/errno.js';

/**
 * nginx resolves an auth_http host name while it reads the configuration (ngx_parse_url with
 * gethostbyname): one that does not resolve fails the configuration, `host not found in
 * auth_http "..."` at the directive. Postern resolves again at each request; this is the check.
 */
export async function checkAuthHttpHosts(config: MailConfig): Promise<void> {
  const seen = new Set<string>();
  for (const server of config.servers) {
    const { host, url } = server.authHttp;
    if (host === undefined || isIP(host.replace(/^\[(.*)\]$/, '$1')) !== 0 || seen.has(host)) continue;
    seen.add(host);
    try {
      await lookup(host);
    } catch {
      const where = authHttpWhere(server.authHttp) ?? server.where;
      const reason = `host not found in auth_http "${url.replace(/^http:\/\//, '')}"`;
      throw new ConfigError(`${reason} in ${formatWhere(where)}`, where.file, where.line, reason);
    }
  }
}

/**
 * What nginx -t checks for every server that uses TLS: certificates, keys, passphrases, ciphers,
 * curves, DH parameters, CAs, CRLs, ticket keys and ssl_conf_command, each error at its
 * directive's FILE:LINE (thrown). Returns the warnings (expired certificates...), printed as nginx's are.
 */
export function checkTls(config: MailConfig): string[] {
  const warnings: string[] = [];
  const files = tlsFiles();
  for (const server of config.servers) {
    const usesTls = server.sslOn || server.starttls !== 'off' || server.listens.some((l) => l.ssl);
    if (usesTls) warnings.push(...checkSsl(server, files));
  }
  return warnings;
}

/** The log files of a configuration: the top-level error_logs and each server's (files only). */
const logFiles = (config: MailConfig): string[] => [
  ...new Set(
    [config.errorLogs ?? [], ...config.servers.map((s) => s.errorLogs ?? [])]
      .flat()
      .filter((log) => log.target !== 'stderr' && log.syslog === undefined)
      .map((log) => log.target),
  ),
];

/**
 * nginx opens its log files after "syntax is ok" and fails the test when one cannot be opened
 * (`open() "FILE" failed (2: No such file or directory)`); like nginx, it creates a missing file
 * but not a missing directory. Returns the errors.
 */
export function checkLogFiles(config: MailConfig): string[] {
  const errors: string[] = [];
  for (const file of logFiles(config)) {
    try {
      closeSync(openSync(file, 'a', 0o644));
    } catch (error) {
      errors.push(`open() "${file}" failed ${errnoText(error as NodeJS.ErrnoException)}`);
    }
  }
  return errors;
}
