/**
 * Bad configurations and the exact message Postern reports for each (nginx's wording unless the
 * case is Postern-only). Shared by errors.test.ts and nginx-compare.test.ts.
 */
import { directives } from '../../../src/config/index.js';
import { FILE, mail } from './helpers.js';

/** `[config text, exact message]`; every message ends with FILE:LINE like nginx -t. */
export type Case = [name: string, text: string, message: string];

export const at = (line: number) => `in ${FILE}:${line}`;
const certs = 'ssl_certificate c.pem; ssl_certificate_key k.pem;';

const syntax: Case[] = [
  ['stray } at top level', 'worker_processes 1;\n}\n', `unexpected "}" ${at(2)}`],
  ['end of file inside a block', 'mail {\n  server {\n    listen 110;\n', `unexpected end of file, expecting "}" ${at(4)}`],
  ['end of file inside a statement', 'mail {\n  auth_http x', `unexpected end of file, expecting ";" or "}" ${at(2)}`],
  ['missing ; before }', 'mail {\n  auth_http x\n}\n', `unexpected "}" ${at(3)}`],
  ['lone ;', 'mail {\n  ;\n}\n', `unexpected ";" ${at(2)}`],
  ['lone {', '{ }', `unexpected "{" ${at(1)}`],
  ['text glued to a quoted word', 'mail {\n  auth_http "x"y;\n}\n', `unexpected "y" ${at(2)}`],
  ['unterminated quote', 'mail {\n  auth_http "x;\n}\n', `unexpected end of file, expecting ";" or "}" ${at(4)}`],
  ['block directive without {', 'mail;', `directive "mail" has no opening "{" ${at(1)}`],
  ['server without {', 'mail {\n  server;\n}', `directive "server" has no opening "{" ${at(2)}`],
  ['simple directive with {', 'mail {\n  timeout 5s {\n}\n}', `directive "timeout" is not terminated by ";" ${at(2)}`],
  ['skipped block without {', 'events;', `directive "events" has no opening "{" ${at(1)}`],
  ['skipped simple directive with {', 'worker_processes 1 { }', `directive "worker_processes" is not terminated by ";" ${at(1)}`],
  ['include with {', 'mail { include x { } }', `directive "include" is not terminated by ";" ${at(1)}`],
  ['line of the terminator, as nginx', 'mail {\n  frobnicate\n   x\n;\n}\n', `unknown directive "frobnicate" ${at(4)}`],
];

const directivesAndContexts: Case[] = [
  ['unknown directive', mail('  frobnicate on;'), `unknown directive "frobnicate" ${at(3)}`],
  ['unknown directive at top level', 'mial {\n}\n', `unknown directive "mial" ${at(1)}`],
  ['listen at mail level', mail('  listen 110;'), `"listen" directive is not allowed here ${at(3)}`],
  ['protocol at mail level', mail('  protocol pop3;'), `"protocol" directive is not allowed here ${at(3)}`],
  ['server_name at top level', 'server_name x;\nmail {}', `"server_name" directive is not allowed here ${at(1)}`],
  ['server at top level', 'server {}', `"server" directive is not allowed here ${at(1)}`],
  ['core directive in mail', mail('  worker_processes 2;'), `"worker_processes" directive is not allowed here ${at(3)}`],
  ['http directive in mail', mail('  location / { }'), `"location" directive is not allowed here ${at(3)}`],
  ['events inside mail', mail('  events { }'), `"events" directive is not allowed here ${at(3)}`],
  ['mail inside mail', mail('  mail { }'), `"mail" directive is not allowed here ${at(3)}`],
  ['server inside server', mail('', 'server { listen 110; server { } }'), `"server" directive is not allowed here ${at(4)}`],
  ['two mail blocks', 'mail {}\nmail {}\n', `"mail" directive is duplicate ${at(2)}`],
  ['no mail block', 'events {}\nhttp {}\n', `no "mail" section in configuration ${at(3)}`],
  ['empty file', '', `no "mail" section in configuration ${at(1)}`],
];

const arity: Case[] = [
  ['too many', mail('  server_name a b;'), `invalid number of arguments in "server_name" directive ${at(3)}`],
  ['too few', mail('  timeout;'), `invalid number of arguments in "timeout" directive ${at(3)}`],
  ['flag with two', mail('  proxy on off;'), `invalid number of arguments in "proxy" directive ${at(3)}`],
  ['take2 with one', mail('  auth_http_header X-A;'), `invalid number of arguments in "auth_http_header" directive ${at(3)}`],
  ['1more with none', mail('  pop3_auth;'), `invalid number of arguments in "pop3_auth" directive ${at(3)}`],
  ['listen without address', mail('', 'server {\n listen;\n }'), `invalid number of arguments in "listen" directive ${at(5)}`],
  ['mail with an argument', 'mail x { }', `invalid number of arguments in "mail" directive ${at(1)}`],
  ['server with an argument', mail('', 'server x { }'), `invalid number of arguments in "server" directive ${at(4)}`],
  ['include with two', 'include a b;', `invalid number of arguments in "include" directive ${at(1)}`],
];

const duplicates: Case[] = [
  ['server_name twice', mail('  server_name a;\n  server_name b;'), `"server_name" directive is duplicate ${at(4)}`],
  ['timeout twice in a server', mail('', 'server { listen 110; timeout 1s; timeout 2s; }'), `"timeout" directive is duplicate ${at(4)}`],
  ['max_errors', mail('  max_errors 1; max_errors 1;'), `"max_errors" directive is duplicate ${at(3)}`],
  ['proxy flag', mail('  proxy off;\n  proxy on;'), `"proxy" directive is duplicate ${at(4)}`],
  ['proxy_buffer', mail('  proxy_buffer 4k; proxy_buffer 4k;'), `"proxy_buffer" directive is duplicate ${at(3)}`],
  ['ssl_ciphers', mail('  ssl_ciphers A; ssl_ciphers B;'), `"ssl_ciphers" directive is duplicate ${at(3)}`],
  ['starttls', mail(`  ${certs} starttls on; starttls on;`), `"starttls" directive is duplicate ${at(3)}`],
  ['ssl', mail(`  ${certs} ssl off; ssl off;`), `"ssl" directive is duplicate ${at(3)}`],
];

const values: Case[] = [
  ['flag', mail('  proxy maybe;'), `invalid value "maybe" in "proxy" directive, it must be "on" or "off" ${at(3)}`],
  ['ssl flag', mail('  ssl yes;'), `invalid value "yes" in "ssl" directive, it must be "on" or "off" ${at(3)}`],
  ['time', mail('  timeout 5x;'), `"timeout" directive invalid value ${at(3)}`],
  ['time in years is not a millisecond value', mail('  proxy_timeout 1y;'), `"proxy_timeout" directive invalid value ${at(3)}`],
  ['time out of order', mail('  auth_http_timeout 1s1m;'), `"auth_http_timeout" directive invalid value ${at(3)}`],
  ['greeting delay', mail('  smtp_greeting_delay -1;'), `"smtp_greeting_delay" directive invalid value ${at(3)}`],
  ['size', mail('  proxy_buffer 1g;'), `"proxy_buffer" directive invalid value ${at(3)}`],
  ['size with a fraction', mail('  imap_client_buffer 1.5k;'), `"imap_client_buffer" directive invalid value ${at(3)}`],
  ['number', mail('  max_errors five;'), `"max_errors" directive invalid number ${at(3)}`],
  ['starttls', mail('  starttls yes;'), `invalid value "yes" ${at(3)}`],
  ['ssl_protocols', mail('  ssl_protocols TLSv1.2 TLSv1.4;'), `invalid value "TLSv1.4" ${at(3)}`],
  ['pop3_auth', mail('  pop3_auth plain login;'), `invalid value "login" ${at(3)}`],
  ['imap_auth', mail('  imap_auth apop;'), `invalid value "apop" ${at(3)}`],
  ['smtp_auth', mail('  smtp_auth plain anonymous;'), `invalid value "anonymous" ${at(3)}`],
  ['protocol', mail('', 'server { listen 110; protocol pop4; }'), `unknown protocol "pop4" ${at(4)}`],
  ['protocol is case-sensitive', mail('', 'server { listen 110; protocol IMAP; }'), `unknown protocol "IMAP" ${at(4)}`],
  ['error_log level', mail('  error_log x.log warnx;'), `invalid log level "warnx" ${at(3)}`],
  ['error_log two levels', mail('  error_log x.log warn error;'), `duplicate log level "error" ${at(3)}`],
  ['error_log syslog without server', mail('  error_log syslog:tag=x;'), `no syslog server specified ${at(3)}`],
  ['error_log syslog facility', mail('  error_log syslog:server=127.0.0.1,facility=local9;'), `unknown syslog facility "local9" ${at(3)}`],
  ['error_log syslog severity', mail('  error_log syslog:server=127.0.0.1,severity=err;'), `unknown syslog severity "err" ${at(3)}`],
  ['error_log syslog tag', mail('  error_log syslog:server=127.0.0.1,tag=a-b;'), `syslog "tag" only allows alphanumeric characters and underscore ${at(3)}`],
  ['error_log syslog long tag', mail(`  error_log syslog:server=127.0.0.1,tag=${'t'.repeat(33)};`), `syslog tag length exceeds 32 ${at(3)}`],
  ['error_log syslog parameter', mail('  error_log syslog:server=127.0.0.1,level=1;'), `unknown syslog parameter "level=1" ${at(3)}`],
  ['error_log syslog two servers', mail('  error_log syslog:server=127.0.0.1,server=127.0.0.2;'), `duplicate syslog "server" ${at(3)}`],
  ['top-level error_log level', 'error_log x.log loud;\nmail {}', `invalid log level "loud" ${at(1)}`],
];

const authHttp: Case[] = [
  ['missing', 'mail {\n  server {\n    listen 110;\n  }\n}\n', `no "auth_http" is defined for server ${at(2)}`],
  ['missing in one server', 'mail {\n  server { listen 110; auth_http 127.0.0.1; }\n  server { listen 143; }\n}\n', `no "auth_http" is defined for server ${at(3)}`],
  ['port 0', 'mail { auth_http 127.0.0.1:0; }', `invalid port in auth_http "127.0.0.1:0" ${at(1)}`],
  ['port text', 'mail { auth_http http://h:http/auth; }', `invalid port in auth_http "h:http/auth" ${at(1)}`],
  ['port too big', 'mail { auth_http h:65536; }', `invalid port in auth_http "h:65536" ${at(1)}`],
  ['no host', 'mail { auth_http :80; }', `no host in auth_http ":80" ${at(1)}`],
  ['no host before the URI', 'mail { auth_http http:///auth; }', `no host in auth_http "/auth" ${at(1)}`],
  ['bad IPv6 bracket', 'mail { auth_http [::1; }', `invalid host in auth_http "[::1" ${at(1)}`],
  ['bad IPv6', 'mail { auth_http [::g]:80; }', `invalid IPv6 address in auth_http "[::g]:80" ${at(1)}`],
  ['empty unix path', 'mail { auth_http unix:; }', `no path in the unix domain socket in auth_http "unix:" ${at(1)}`],
  ['not a host name', 'mail { auth_http "bad host"; }', `host not found in auth_http "bad host" ${at(1)}`],
  ['https', 'mail { auth_http https://a/; }', `"https" in auth_http "https://a/" is not supported, the auth server is reached over plain HTTP ${at(1)}`],
];

const listen: Case[] = [
  ['no listen', 'mail {\n  auth_http 127.0.0.1;\n  server {\n    protocol pop3;\n  }\n}\n', `no "listen" is defined for server ${at(3)}`],
  ['unknown protocol', 'mail {\n  auth_http 127.0.0.1;\n  server {\n    listen 8110;\n  }\n}\n', `unknown mail protocol for server ${at(3)}`],
  ['port 0', mail('', 'server { listen 0; }'), `invalid port in "0" of the "listen" directive ${at(4)}`],
  ['port too big', mail('', 'server { listen *:70000; }'), `invalid port in "*:70000" of the "listen" directive ${at(4)}`],
  ['no port', mail('', 'server { listen 127.0.0.1; }'), `no port in "127.0.0.1" of the "listen" directive ${at(4)}`],
  ['no port for IPv6', mail('', 'server { listen [::1]; }'), `no port in "[::1]" of the "listen" directive ${at(4)}`],
  ['no host', mail('', 'server { listen :110; }'), `no host in ":110" of the "listen" directive ${at(4)}`],
  ['URI in listen', mail('', 'server { listen 127.0.0.1:110/x; }'), `invalid host in "127.0.0.1:110/x" of the "listen" directive ${at(4)}`],
  ['bad IPv6', mail('', 'server { listen [fe80::zz]:110; }'), `invalid IPv6 address in "[fe80::zz]:110" of the "listen" directive ${at(4)}`],
  ['port range', mail('', 'server { listen 110-112; }'), `port ranges are not supported yet in "110-112" of the "listen" directive ${at(4)}`],
  ['unix socket', mail('', 'server { listen unix:/run/p.sock; }'), `unix domain sockets in "unix:/run/p.sock" of the "listen" directive are not supported yet ${at(4)}`],
  ['unknown parameter', mail('', 'server { listen 110 default_server; }'), `invalid parameter "default_server" ${at(4)}`],
  ['set_real_ip_from not an address', mail('  set_real_ip_from 999.1.1.1;'), `host not found in set_real_ip_from "999.1.1.1" ${at(3)}`],
  ['set_real_ip_from prefix too long', mail('', 'server { listen 110 proxy_protocol; set_real_ip_from 10.0.0.0/33; }'), `host not found in set_real_ip_from "10.0.0.0/33" ${at(4)}`],
  ['set_real_ip_from IPv6 prefix too long', mail('  set_real_ip_from ::1/129;'), `host not found in set_real_ip_from "::1/129" ${at(3)}`],
  ['set_real_ip_from empty prefix', mail('  set_real_ip_from 10.0.0.0/;'), `host not found in set_real_ip_from "10.0.0.0/" ${at(3)}`],
  ['set_real_ip_from two values', mail('  set_real_ip_from 10.0.0.1 10.0.0.2;'), `invalid number of arguments in "set_real_ip_from" directive ${at(3)}`],
  ['proxy_protocol value', mail('  proxy_protocol maybe;'), `invalid value "maybe" ${at(3)}`],
  ['proxy_protocol duplicate', mail('  proxy_protocol on;\n  proxy_protocol off;'), `"proxy_protocol" directive is duplicate ${at(4)}`],
  ['proxy_protocol at top level', 'proxy_protocol on;\nmail {}', `"proxy_protocol" directive is not allowed here ${at(1)}`],
  ['multipath', mail('', 'server { listen 110 multipath; }'), `"multipath" parameter of "listen" is not supported yet ${at(4)}`],
  ['backlog 0', mail('', 'server { listen 110 backlog=0; }'), `invalid backlog "backlog=0" ${at(4)}`],
  ['backlog text', mail('', 'server { listen 110 backlog=many; }'), `invalid backlog "backlog=many" ${at(4)}`],
  ['rcvbuf', mail('', 'server { listen 110 rcvbuf=1g; }'), `invalid rcvbuf "rcvbuf=1g" ${at(4)}`],
  ['sndbuf', mail('', 'server { listen 110 sndbuf=; }'), `invalid sndbuf "sndbuf=" ${at(4)}`],
  ['ipv6only', mail('', 'server { listen [::]:110 ipv6only=ox; }'), `invalid ipv6only flags "ox" ${at(4)}`],
  ['ipv6only other', mail('', 'server { listen [::]:110 ipv6only=yes; }'), `invalid parameter "ipv6only=yes" ${at(4)}`],
  ['so_keepalive empty', mail('', 'server { listen 110 so_keepalive=::; }'), `invalid so_keepalive value: "::" ${at(4)}`],
  ['so_keepalive bad', mail('', 'server { listen 110 so_keepalive=1y:2:x; }'), `invalid so_keepalive value: "1y:2:x" ${at(4)}`],
  ['so_keepalive word', mail('', 'server { listen 110 so_keepalive=yes; }'), `invalid so_keepalive value: "yes" ${at(4)}`],
  ['duplicate in one server', mail('', 'server {\n listen 110;\n listen *:110;\n }'), `duplicate "0.0.0.0:110" address and port pair ${at(6)}`],
  ['duplicate across servers', mail('', 'server { listen 127.0.0.1:110; }\n server { listen 127.0.0.1:110; }'), `duplicate "127.0.0.1:110" address and port pair ${at(5)}`],
  ['duplicate IPv6 spelled differently', mail('', 'server { listen [::]:110; listen [0::0]:110; }'), `duplicate "[::]:110" address and port pair ${at(4)}`],
];

const tls: Case[] = [
  ['listen ssl without certificate', mail('', 'server {\n listen 993 ssl;\n }'), `no "ssl_certificate" is defined for the "listen ... ssl" directive ${at(5)}`],
  ['listen ssl without key', mail('  ssl_certificate c.pem;', 'server {\n listen 993 ssl;\n }'), `no "ssl_certificate_key" is defined for the "listen ... ssl" directive ${at(5)}`],
  [
    'fewer keys than certificates',
    mail('  ssl_certificate a.pem; ssl_certificate b.pem; ssl_certificate_key k.pem;', 'server { listen 993 ssl; }'),
    `no "ssl_certificate_key" is defined for certificate "b.pem" and the "listen ... ssl" directive ${at(4)}`,
  ],
  ['starttls in the server', mail('', 'server { listen 143; starttls on; }'), `no "ssl_certificate" is defined for the "starttls" directive ${at(4)}`],
  ['starttls only inherited from mail', mail('  starttls only;'), `no "ssl_certificate" is defined for the "starttls" directive ${at(3)}`],
  ['starttls without key', mail('  ssl_certificate c.pem;\n  starttls on;'), `no "ssl_certificate_key" is defined for the "starttls" directive ${at(4)}`],
  ['legacy ssl on', mail('', 'server { listen 995; ssl on; }'), `no "ssl_certificate" is defined for the "ssl" directive ${at(4)}`],
  ['the last listen ssl is reported', mail('', 'server {\n listen 993 ssl;\n listen 994 ssl;\n protocol imap;\n }'), `no "ssl_certificate" is defined for the "listen ... ssl" directive ${at(6)}`],
  ['listen ssl wins over starttls for the mode', mail('', 'server {\n starttls on;\n listen 993 ssl;\n }'), `no "ssl_certificate" is defined for the "listen ... ssl" directive ${at(6)}`],
  ['ssl on then starttls', mail(`  ${certs}\n  ssl on;\n  starttls only;`), `"ssl" directive conflicts with "starttls" ${at(5)}`],
  ['starttls then ssl on', mail(`  ${certs}\n  starttls on;\n  ssl on;`), `"starttls" directive conflicts with "ssl on" ${at(5)}`],
];

/** ngx_mail_ssl_module directives checked while parsing (file contents are checked by `postern -t`). */
const sslDirectives: Case[] = [
  ['session cache word', mail('  ssl_session_cache foo;'), `invalid session cache "foo" ${at(3)}`],
  ['session cache keywords are case-sensitive', mail('  ssl_session_cache SHARED:A:1m;'), `invalid session cache "SHARED:A:1m" ${at(3)}`],
  ['shared cache without a size', mail('  ssl_session_cache shared:SSL;'), `invalid session cache "shared:SSL" ${at(3)}`],
  ['shared cache with an empty size', mail('  ssl_session_cache shared:SSL:;'), `invalid session cache "shared:SSL:" ${at(3)}`],
  ['shared cache without a name', mail('  ssl_session_cache shared::1m;'), `invalid session cache "shared::1m" ${at(3)}`],
  ['builtin without a size', mail('  ssl_session_cache builtin:;'), `invalid session cache "builtin:" ${at(3)}`],
  ['builtin size not a number', mail('  ssl_session_cache none builtin:x;'), `invalid session cache "builtin:x" ${at(3)}`],
  ['shared cache under 8 pages', mail('  ssl_session_cache shared:SSL:32767;'), `session cache "shared:SSL:32767" is too small ${at(3)}`],
  [
    'one shared zone, two sizes, one level',
    mail('  ssl_session_cache shared:A:1m;\n  ssl_session_cache shared:A:2m;'),
    `the size 2097152 of shared memory zone "A" conflicts with already declared size 1048576 ${at(4)}`,
  ],
  [
    'one shared zone, two sizes, mail and server',
    mail('  ssl_session_cache builtin shared:A:1m;', 'server { listen 110; ssl_session_cache shared:A:32k; }'),
    `the size 32768 of shared memory zone "A" conflicts with already declared size 1048576 ${at(4)}`,
  ],
  ['session cache with three words', mail('  ssl_session_cache off none builtin;'), `invalid number of arguments in "ssl_session_cache" directive ${at(3)}`],
  ['session timeout in milliseconds', mail('  ssl_session_timeout 100ms;'), `"ssl_session_timeout" directive invalid value ${at(3)}`],
  ['session timeout', mail('  ssl_session_timeout 5x;'), `"ssl_session_timeout" directive invalid value ${at(3)}`],
  ['session tickets flag', mail('  ssl_session_tickets maybe;'), `invalid value "maybe" in "ssl_session_tickets" directive, it must be "on" or "off" ${at(3)}`],
  ['ticket key with two files', mail('  ssl_session_ticket_key a b;'), `invalid number of arguments in "ssl_session_ticket_key" directive ${at(3)}`],
  ['verify client value', mail('  ssl_verify_client maybe;'), `invalid value "maybe" ${at(3)}`],
  ['verify depth', mail('  ssl_verify_depth -1;'), `"ssl_verify_depth" directive invalid number ${at(3)}`],
  ['pass client cert flag', mail('  auth_http_pass_client_cert yes;'), `invalid value "yes" in "auth_http_pass_client_cert" directive, it must be "on" or "off" ${at(3)}`],
  ['conf command with one word', mail('  ssl_conf_command Options;'), `invalid number of arguments in "ssl_conf_command" directive ${at(3)}`],
  ['password file twice', mail('  ssl_password_file /dev/null;\n  ssl_password_file /dev/null;'), `"ssl_password_file" directive is duplicate ${at(4)}`],
  ['dhparam twice', mail('  ssl_dhparam a; ssl_dhparam b;'), `"ssl_dhparam" directive is duplicate ${at(3)}`],
  ['ecdh curve twice', mail('  ssl_ecdh_curve auto; ssl_ecdh_curve auto;'), `"ssl_ecdh_curve" directive is duplicate ${at(3)}`],
  ['verify client twice', mail('', 'server { listen 110; ssl_verify_client off; ssl_verify_client off; }'), `"ssl_verify_client" directive is duplicate ${at(4)}`],
  ['verify depth twice', mail('  ssl_verify_depth 1; ssl_verify_depth 2;'), `"ssl_verify_depth" directive is duplicate ${at(3)}`],
  ['client certificate twice', mail('  ssl_client_certificate a; ssl_client_certificate a;'), `"ssl_client_certificate" directive is duplicate ${at(3)}`],
  ['trusted certificate twice', mail('  ssl_trusted_certificate a; ssl_trusted_certificate a;'), `"ssl_trusted_certificate" directive is duplicate ${at(3)}`],
  ['crl twice', mail('  ssl_crl x; ssl_crl y;'), `"ssl_crl" directive is duplicate ${at(3)}`],
  ['session tickets twice', mail('  ssl_session_tickets on; ssl_session_tickets off;'), `"ssl_session_tickets" directive is duplicate ${at(3)}`],
  ['session timeout twice', mail('  ssl_session_timeout 1m; ssl_session_timeout 1m;'), `"ssl_session_timeout" directive is duplicate ${at(3)}`],
  ['pass client cert twice', mail('  auth_http_pass_client_cert on; auth_http_pass_client_cert on;'), `"auth_http_pass_client_cert" directive is duplicate ${at(3)}`],
  ['verify client in a directive of another context', 'ssl_verify_client on;\nmail {}', `"ssl_verify_client" directive is not allowed here ${at(1)}`],
];

/** Main-context directives Postern reads (the rest of a whole nginx.conf is skipped). */
const mainDirectives: Case[] = [
  ['worker_processes value', 'worker_processes many;\nmail {}', `"worker_processes" directive invalid value ${at(1)}`],
  ['worker_processes twice', 'worker_processes 1;\nworker_processes auto;\nmail {}', `"worker_processes" directive is duplicate ${at(2)}`],
  ['worker_processes arguments', 'worker_processes 1 2;\nmail {}', `invalid number of arguments in "worker_processes" directive ${at(1)}`],
  ['pid twice', 'mail {}\npid a.pid;\npid b.pid;', `"pid" directive is duplicate ${at(3)}`],
  ['pid in mail', mail('  pid x.pid;'), `"pid" directive is not allowed here ${at(3)}`],
];

/**
 * Checks nginx makes while merging a TLS server. nginx 1.22 names no FILE:LINE for this one;
 * Postern adds the `ssl_verify_client` line.
 */
export const verifyClientCases: Case[] = [
  [
    'verify client on without client CAs',
    mail(`  ${certs}`, 'server {\n listen 993 ssl;\n ssl_verify_client on;\n }'),
    `no ssl_client_certificate for ssl_verify_client ${at(6)}`,
  ],
  [
    'verify client optional with only trusted CAs (1.22 wants ssl_client_certificate)',
    mail(`  ${certs}\n  ssl_verify_client optional;\n  ssl_trusted_certificate ca.pem;\n  starttls on;`),
    `no ssl_client_certificate for ssl_verify_client ${at(4)}`,
  ],
];

const later = directives.filter((d) => !d.supported);
const sampleArgs = { none: '', take1: ' x', flag: ' on', take2: ' x y', take12: ' x', '1more': ' x', '2more': ' x y' } as const;
const notYet: Case[] = later.map((d) => [d.name, mail(`  ${d.name}${sampleArgs[d.arity]};`), `"${d.name}" directive is not supported yet ${at(3)}`]);

export const groups = { syntax, directivesAndContexts, arity, duplicates, values, authHttp, listen, tls, sslDirectives, mainDirectives, notYet };
