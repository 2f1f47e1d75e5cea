import tls from 'node:tls';

/** One `postern_ssl_sni_certificate` entry: a server name pattern and the context it selects. */
export interface SniEntry {
  /** `mail.example.com`, `*.example.com` (one label) or `.example.com` (the name and all below). */
  pattern: string;
  context: tls.SecureContext;
}

/** The client's server name, as matched: lower case, no trailing dot; null if unusable. */
export function normaliseServerName(name: string): string | null {
  const lower = name.toLowerCase().replace(/\.$/, '');
  // Host names only (RFC 1123 labels); anything else selects the default certificate.
  if (lower.length === 0 || lower.length > 253 || !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(lower)) return null;
  return lower;
}

/** Whether `name` (normalised) matches `pattern`, with nginx's server_name wildcard forms. */
export function matchesServerName(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  if (p.startsWith('*.')) {
    const suffix = p.slice(1);
    return name.endsWith(suffix) && !name.slice(0, -suffix.length).includes('.') && name.length > suffix.length;
  }
  if (p.startsWith('.')) return name === p.slice(1) || name.endsWith(p);
  return name === p;
}

/**
 * Picks the context for a server name: an exact name first, then the longest matching
 * wildcard (as nginx orders server names); null for the server's default certificate.
 */
export function selectContext(entries: readonly SniEntry[], serverName: string): tls.SecureContext | null {
  const name = normaliseServerName(serverName);
  if (name === null) return null;
  const exact = entries.find((entry) => !entry.pattern.startsWith('*') && !entry.pattern.startsWith('.') && entry.pattern.toLowerCase() === name);
  if (exact) return exact.context;
  let best: SniEntry | null = null;
  for (const entry of entries) {
    if (!matchesServerName(entry.pattern, name)) continue;
    if (best === null || entry.pattern.length > best.pattern.length) best = entry;
  }
  return best?.context ?? null;
}

/** Node's `SNICallback` over the entries; no match (or no usable name) keeps the default context. */
export function sniCallback(entries: readonly SniEntry[]): (serverName: string, done: (error: Error | null, context?: tls.SecureContext) => void) => void {
  return (serverName, done) => {
    const context = selectContext(entries, serverName);
    if (context === null) done(null);
    else done(null, context);
  };
}
