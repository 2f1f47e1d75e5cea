/**
 * docs/configuration.md, generated from the directive table. test/unit/config/reference.test.ts
 * fails when the committed file differs; regenerate with `npm run docs`.
 */
import { directives, NON_MAIL_MAIN_DIRECTIVES, type DirectiveSpec } from './directives.js';
import { MAX_INCLUDE_DEPTH } from './parser.js';
import { PROTOCOL_PORTS } from './listen.js';

const code = (s: string): string => '`' + s + '`';
const cell = (s: string): string => s.replace(/\|/g, '\\|');

function defaultCell(spec: DirectiveSpec): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.default !== undefined) return code(`${spec.name} ${spec.default};`);
  return '—';
}

function contextCell(spec: DirectiveSpec): string {
  return spec.contexts.join(', ');
}

const MERGE_TEXT: Record<DirectiveSpec['merge'], string> = {
  inherit: 'inherited',
  replace: 'inherited; a server list replaces it',
  server: 'no',
  main: 'no',
  block: '—',
};

function row(spec: DirectiveSpec): string {
  const syntax = spec.block ? `${spec.name} { ... }` : `${spec.name} ${spec.syntax};`;
  return `| ${code(spec.name)} | ${code(cell(syntax))} | ${cell(defaultCell(spec))} | ${contextCell(spec)} | ${MERGE_TEXT[spec.merge]} | ${cell(spec.description)} |`;
}

export function renderConfigurationReference(): string {
  const supported = directives.filter((d) => d.supported);
  const later = directives.filter((d) => !d.supported);
  const ports = Object.entries(PROTOCOL_PORTS)
    .map(([p, list]) => `${list.join('/')} → ${p}`)
    .join(', ');
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/directives.ts by renderConfigurationReference(); do not edit by hand.',
    '     Regenerate with `npm run docs`. -->',
    '',
    'Postern reads the `mail { }` configuration of the nginx mail proxy, with nginx\'s syntax,',
    'defaults and error messages. Point it at an existing nginx.conf (`postern -t -c /etc/nginx/nginx.conf`)',
    'or at a file that holds only a `mail { }` block.',
    '',
    '## The file',
    '',
    '- nginx syntax: `#` comments, statements end with `;`, blocks in `{ }`, words in `"..."` or `\'...\'`',
    '  with `\\"`, `\\\'`, `\\\\`, `\\n`, `\\t`, `\\r` escapes. Variables (`$name`) are not expanded (nginx',
    '  does not expand them in mail either).',
    `- \`include file;\` and \`include mask;\` (globs \`*\`, \`?\`, \`[...]\`) work at every level; relative`,
    '  paths are taken from the directory of the main file (nginx: its configuration prefix). A mask',
    `  that matches nothing is fine; a missing plain file is an error. At most ${MAX_INCLUDE_DEPTH} levels of nesting.`,
    '- Exactly one `mail { }` block (`"mail" directive is duplicate`); none is an error:',
    '  `no "mail" section in configuration`.',
    '- At the top level of a whole nginx.conf these are skipped (blocks whole, their includes are not',
    '  read), with one notice `skipping non-mail directives: ...`:',
    `  ${[...NON_MAIL_MAIN_DIRECTIVES.keys()].map(code).join(', ')}.`,
    '  The top-level `error_log`, `worker_processes`, `pid`, `user`, `worker_rlimit_nofile`,',
    '  `worker_shutdown_timeout` and the `events { }` block are read: the log is the process log unless',
    '  a server sets its own. nginx requires `events { }`; Postern does not (default `worker_connections 512`).',
    '  `N worker_connections are not enough for M listening sockets` is checked as nginx does.',
    '- Relative paths (`ssl_*` files, `error_log`, `pid`, file values of `ssl_conf_command`) are taken from',
    '  the main file\'s directory too. TLS files (certificates, keys, password files, DH parameters, CAs,',
    '  CRLs, ticket keys) are read when the server starts and by `postern -t`, which reports nginx\'s',
    '  errors for them (`cannot load certificate "X": ...`, `PEM_read_bio_DHparams("X") failed ...`),',
    '  with the FILE:LINE of the directive that names the file.',
    '',
    '## Directives',
    '',
    'Context `main` is the top level, `mail` the `mail { }` block, `server` a `server { }` inside it.',
    '"Inherited" means a server that does not set the directive gets the `mail` level value, else the default.',
    `Protocol detection: when \`protocol\` is not set before a \`listen\`, its port decides (${ports});`,
    'otherwise the server needs `protocol`.',
    '',
    '| Directive | Syntax | Default | Context | Inherited | Description |',
    '|---|---|---|---|---|---|',
    ...supported.map(row),
    '',
    'Values: times are numbers with units `ms`, `s`, `m`, `h`, `d`, `w` (a bare number is seconds),',
    'written largest first (`1h 30m`, `90s`); sizes are bytes with `k`/`K` or `m`/`M`; flags are `on`/`off`.',
    '',
    '## Recognised, not supported yet',
    '',
    'These nginx directives are refused with `"NAME" directive is not supported yet in FILE:LINE`, so a',
    'configuration is never silently misread. Contexts and argument counts are still checked first.',
    '',
    '| Directive | Syntax | Context | Description |',
    '|---|---|---|---|',
    ...later.map((d) => `| ${code(d.name)} | ${code(cell(`${d.name} ${d.syntax};`))} | ${contextCell(d)} | ${cell(d.description)} |`),
    '',
    '## Differences from nginx',
    '',
    ...directives.filter((d) => d.postern).map((d) => `- ${code(d.name)}: ${d.postern}`),
    '- Sizes accept `k` and `m` only, as nginx\'s size values do (no `g`); times and sizes stop at 2^53-1.',
    '  Buffer defaults are 4k, nginx\'s "one memory page" on x86-64 Linux.',
    '- Skipped top-level blocks (`http`, `stream`, ...) are checked only for balanced braces and quotes.',
    '- `listen` parameter errors use today\'s wording `invalid parameter "X"` (nginx 1.22: `the invalid "X" parameter`).',
    '- Postern-only messages: `"X" directive is not supported yet`, `"X" parameter of "listen" is not supported yet`,',
    '  `unix domain sockets in "X" of the "listen" directive are not supported yet`, `port ranges are not',
    '  supported yet in "X" of the "listen" directive`, `no port in "X" of the "listen" directive`,',
    '  `too deeply nested "include" ...`, `no "mail" section in configuration`.',
    '- A mistyped directive inside `mail` is `unknown directive`; names nginx knows from other modules',
    '  (`location`, `worker_processes`, ...) are `"X" directive is not allowed here`, as in nginx.',
    '',
    '## Notices',
    '',
    'Loading never fails for these; `postern -t` prints them (nginx prints most as `[warn]`):',
    '',
    '- `skipping non-mail directives: http, stream, ...` (once, for a whole nginx.conf);',
    '- `skipping events directives: use, multi_accept, ...` (once: only `worker_connections` has an effect);',
    '- `the "ssl" directive is deprecated, use the "listen ... ssl" directive instead in FILE:LINE`;',
    '- `duplicate value "X" in FILE:LINE` (a keyword repeated in `ssl_protocols` or `*_auth`).',
    '',
    'Warnings, printed as `[warn]` as nginx prints them:',
    '',
    '- `the "user" directive makes sense only if the master process runs with super-user privileges, ignored',
    '  in FILE:LINE` (not started as root).',
    '',
    '`postern -t` also prints these `[warn]` lines about TLS servers (nginx says nothing):',
    '',
    '- `certificate "X" expired on DATE` / `certificate "X" is not valid before DATE`;',
    '- `TLSv1 and TLSv1.1 handshakes fail with OpenSSL 3 (in nginx too) unless the cipher list allows them',
    '  with "@SECLEVEL=0" in FILE:LINE`.',
    '',
  ];
  return lines.join('\n');
}
