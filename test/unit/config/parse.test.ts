import { availableParallelism, hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, parseConfigText } from '../../../src/config/index.js';
import { runsAsRoot } from '../../../src/config/accounts.js';
import { FILE, fixture, mail, parse } from './helpers.js';

describe('loading whole files', () => {
  it('reads the mail block of a whole nginx.conf and skips the rest with one notice; nginx keeps its pid file and error log', () => {
    const config = loadConfigFile(fixture('nginx.conf'));
    expect(config.file).toBe(fixture('nginx.conf'));
    expect(config.notices).toEqual([
      'skipping non-mail directives: http, stream',
      `"pid /run/nginx.pid" in ${fixture('nginx.conf')}:4 is nginx's: this file also serves nginx (http, stream); Postern's pid file is "/run/postern.pid" (another with -g 'pid FILE;')`,
      `"error_log /var/log/nginx/error.log" in ${fixture('nginx.conf')}:5 is nginx's: this file also serves nginx (http, stream); Postern logs to stderr (another with -e FILE, -g 'error_log FILE;' or error_log in mail { })`,
    ]);
    // `user` is looked up only by root, as nginx does; otherwise it is ignored with a warning.
    if (runsAsRoot()) expect(config.user).toEqual({ user: 'www-data', group: 'www-data', uid: 33, gid: 33, where: { file: fixture('nginx.conf'), line: 2 } });
    else expect(config.warnings).toEqual([expect.stringMatching(/^the "user" directive makes sense only if .* ignored in .*nginx\.conf:2$/)]);
    expect(config.workerRlimitNofile).toBe(8192);
    expect(config.workerConnections).toBe(768);
    expect(config.workerProcesses).toBe(availableParallelism());
    expect(config.pidFile).toBe('/run/postern.pid');
    expect(config.errorLogs).toBeUndefined();
    expect(config.servers).toHaveLength(2);
    const [pop3, imap] = config.servers as [NonNullable<(typeof config.servers)[0]>, NonNullable<(typeof config.servers)[0]>];
    expect(pop3.protocol).toBe('pop3');
    expect(pop3.where).toEqual({ file: fixture('nginx.conf'), line: 38 });
    expect(pop3.serverName).toBe('mail.example.com');
    expect(pop3.authHttp).toEqual({
      url: '127.0.0.1:9000/cgi-bin/nginx_auth.cgi',
      host: '127.0.0.1',
      port: 9000,
      uri: '/cgi-bin/nginx_auth.cgi',
      hostHeader: '127.0.0.1',
    });
    expect(pop3.authHttpHeaders).toEqual([['X-Auth-Key', 'secret string']]);
    expect(pop3.pop3Auth).toEqual(['plain', 'apop', 'cram-md5']);
    expect(pop3.pop3Capabilities).toEqual(['TOP', 'USER']);
    expect(pop3.ssl.certificates).toEqual(['/etc/ssl/mail.pem']);
    expect(pop3.ssl.certificateKeys).toEqual(['/etc/ssl/mail.key']);
    expect(pop3.ssl.certificateWhere).toEqual({ file: fixture('nginx.conf'), line: 35 });
    expect(imap.protocol).toBe('imap');
    expect(imap.timeoutMs).toBe(150_000);
    expect(imap.imapCapabilities).toEqual(['IMAP4rev1', 'UIDPLUS', 'IDLE', 'LITERAL+']);
    expect(imap.listens.map((l) => [l.host, l.port, l.ssl, l.ipv6only, l.bind, l.text])).toEqual([
      ['::', 993, true, true, true, '[::]:993'],
      ['0.0.0.0', 993, true, undefined, false, '*:993'],
    ]);
    expect(imap.listens[0]!.where).toEqual({ file: fixture('nginx.conf'), line: 45 });
  });

  it('reads a file that holds only a mail block', () => {
    const config = loadConfigFile(fixture('mail-only.conf'));
    expect(config.notices).toEqual([]);
    expect(config.errorLogs).toBeUndefined();
    expect(config.servers).toHaveLength(1);
    expect(config.servers[0]!.protocol).toBe('imap');
    expect(config.servers[0]!.authHttp).toEqual({
      url: 'http://auth.internal:8080/mail/auth',
      host: 'auth.internal',
      port: 8080,
      uri: '/mail/auth',
      hostHeader: 'auth.internal',
    });
  });

  it('follows includes with globs, relative to the main file, sorted, without dot files', () => {
    const config = loadConfigFile(fixture('includes/main.conf'));
    expect(config.notices).toEqual(['skipping non-mail directives: load_module']);
    const [imap, pop3] = config.servers;
    expect(imap!.authHttp).toEqual({ url: 'unix:/run/postern/auth.sock:/auth', unixPath: '/run/postern/auth.sock', uri: '/auth', hostHeader: 'localhost' });
    expect(imap!.serverName).toBe('from-include');
    expect(imap!.timeoutMs).toBe(15_000);
    expect(imap!.protocol).toBe('imap');
    expect(imap!.imapAuth).toEqual(['login']);
    expect(imap!.imapClientBuffer).toBe(8192);
    expect(pop3!.protocol).toBe('pop3');
    expect(pop3!.timeoutMs).toBe(5000);
    expect(pop3!.where).toEqual({ file: fixture('includes/servers/pop3.conf'), line: 1 });
  });

  it('unquotes words and resolves escapes as nginx does; variables stay as written', () => {
    const [server] = loadConfigFile(fixture('quoting.conf')).servers;
    expect(server!.protocol).toBe('smtp');
    expect(server!.authHttp.uri).toBe('/auth');
    expect(server!.authHttpHeaders).toEqual([
      ['X-Quoted', `a "double" and 'single'`],
      ['X-Escapes', 'tab\there\nnewline\\backslash\r'],
      ['X-Single', "it's"],
      ['X-Unquoted', 'back\\;slash\\ space'],
      ['X-Dollar', '${not_expanded}$too'],
      ['X-Other', 'keep\\d\\x'],
    ]);
    expect(server!.smtpCapabilities).toEqual(['SIZE 10485760', '8BITMIME', 'PIPELINING']);
  });

  it('parses text with includes taken from baseDir', () => {
    const config = parseConfigText('mail { include conf.d/*.conf; server { listen 110; } }', '<text>', {
      baseDir: fixture('includes'),
    });
    expect(config.servers[0]!.serverName).toBe('from-include');
  });

  it('reports a missing main file like nginx', () => {
    expect(() => loadConfigFile(fixture('nope.conf'))).toThrow(ConfigError);
    expect(() => loadConfigFile(fixture('nope.conf'))).toThrow(`open() "${fixture('nope.conf')}" failed (2: No such file or directory)`);
  });
});

describe('defaults', () => {
  it('fills every default of nginx (ssl_protocols as today\'s nginx)', () => {
    const [s] = parse('mail { auth_http 127.0.0.1; server { listen 110; } }').servers;
    // Postern extensions (postern_proxy_ssl*) are tested with their directives.
    expect(s).toMatchObject({
      where: { file: FILE, line: 1 },
      listens: [{ host: '0.0.0.0', port: 110, text: '110', ssl: false, bind: false, where: { file: FILE, line: 1 } }],
      protocol: 'pop3',
      serverName: hostname().toLowerCase(),
      timeoutMs: 60_000,
      maxErrors: 5,
      authHttp: { url: '127.0.0.1', host: '127.0.0.1', port: 80, uri: '/', hostHeader: '127.0.0.1' },
      authHttpHeaders: [],
      authHttpTimeoutMs: 60_000,
      proxyBufferSize: 4096,
      proxyTimeoutMs: 24 * 3600 * 1000,
      proxyPassErrorMessage: false,
      pop3Auth: ['plain'],
      pop3Capabilities: ['TOP', 'USER', 'UIDL'],
      imapAuth: ['plain'],
      imapCapabilities: ['IMAP4', 'IMAP4rev1', 'UIDPLUS'],
      imapClientBuffer: 4096,
      smtpAuth: ['plain', 'login'],
      smtpCapabilities: [],
      smtpClientBuffer: 4096,
      smtpGreetingDelayMs: 0,
      xclient: true,
      proxySmtpAuth: false,
      resolverTimeoutMs: 30_000,
      starttls: 'off',
      sslOn: false,
      ssl: {
        certificates: [],
        certificateKeys: [],
        protocols: ['TLSv1.2', 'TLSv1.3'],
        ciphers: 'HIGH:!aNULL:!MD5',
        preferServerCiphers: false,
        sessionCache: { off: false },
        sessionTimeoutMs: 300_000,
        sessionTickets: true,
        sessionTicketKeys: [],
        ecdhCurve: 'auto',
        verifyClient: 'off',
        verifyDepth: 1,
        confCommands: [],
        where: {},
      },
      authHttpPassClientCert: false,
    });
  });

  it('accepts a mail block without servers', () => {
    expect(parse('mail { }').servers).toEqual([]);
  });
});

describe('inheritance from mail to server', () => {
  const text = `
mail {
    auth_http 10.0.0.1:8080/a;
    auth_http_header X-A 1;
    auth_http_header X-B 2;
    server_name mail.test;
    timeout 10s;
    max_errors 3;
    error_log /var/log/postern-mail.log info;
    auth_http_timeout 5s;
    proxy_buffer 16k;
    proxy_timeout 1h;
    proxy_pass_error_message on;
    pop3_auth apop;
    pop3_auth cram-md5 plain;
    pop3_capabilities TOP;
    pop3_capabilities UIDL;
    imap_auth cram-md5 external;
    imap_capabilities IMAP4rev1;
    imap_client_buffer 1m;
    smtp_auth none cram-md5;
    smtp_capabilities PIPELINING;
    smtp_client_buffer 2k;
    smtp_greeting_delay 500ms;
    ssl_certificate cert.pem;
    ssl_certificate_key key.pem;
    ssl_protocols TLSv1.3;
    ssl_ciphers HIGH;
    ssl_prefer_server_ciphers on;
    starttls only;

    server { listen 110; }
    server {
        listen 143;
        auth_http unix:/run/a.sock;
        auth_http_header X-C 3;
        server_name imap.test;
        timeout 20s;
        max_errors 9;
        error_log stderr debug;
        auth_http_timeout 6s;
        proxy_buffer 8k;
        proxy_timeout 2h;
        proxy_pass_error_message off;
        pop3_auth external;
        pop3_capabilities USER;
        imap_auth login;
        imap_capabilities IMAP4 IDLE;
        imap_client_buffer 2k;
        smtp_auth login;
        smtp_capabilities "SIZE 100";
        smtp_client_buffer 1k;
        smtp_greeting_delay 1s;
        ssl_certificate /abs/other.pem;
        ssl_certificate /abs/other-ecdsa.pem;
        ssl_certificate_key /abs/other.key;
        ssl_certificate_key /abs/other-ecdsa.key;
        ssl_protocols TLSv1.2 tlsv1.3;
        ssl_ciphers ECDHE;
        ssl_prefer_server_ciphers off;
        starttls on;
    }
}
`;
  const [inherits, overrides] = parseConfigText(text, '/etc/postern/inherit.conf').servers;

  it('a server without its own values gets the mail block\'s', () => {
    expect(inherits).toMatchObject({
      authHttp: { host: '10.0.0.1', port: 8080, uri: '/a' },
      authHttpHeaders: [
        ['X-A', '1'],
        ['X-B', '2'],
      ],
      serverName: 'mail.test',
      timeoutMs: 10_000,
      maxErrors: 3,
      errorLogs: [{ target: '/var/log/postern-mail.log', level: 'info' }],
      authHttpTimeoutMs: 5000,
      proxyBufferSize: 16384,
      proxyTimeoutMs: 3_600_000,
      proxyPassErrorMessage: true,
      pop3Auth: ['plain', 'apop', 'cram-md5'],
      pop3Capabilities: ['TOP', 'UIDL'],
      imapAuth: ['cram-md5', 'external'],
      imapCapabilities: ['IMAP4rev1'],
      imapClientBuffer: 1048576,
      smtpAuth: ['cram-md5', 'none'],
      smtpCapabilities: ['PIPELINING'],
      smtpClientBuffer: 2048,
      smtpGreetingDelayMs: 500,
      starttls: 'only',
      ssl: {
        certificates: ['/etc/postern/cert.pem'],
        certificateKeys: ['/etc/postern/key.pem'],
        protocols: ['TLSv1.3'],
        ciphers: 'HIGH',
        preferServerCiphers: true,
        certificateWhere: { file: '/etc/postern/inherit.conf', line: 25 },
      },
    });
  });

  it('a server\'s own values win; its lists replace the inherited lists', () => {
    expect(overrides).toMatchObject({
      authHttp: { unixPath: '/run/a.sock', uri: '/', hostHeader: 'localhost' },
      authHttpHeaders: [['X-C', '3']],
      serverName: 'imap.test',
      timeoutMs: 20_000,
      maxErrors: 9,
      errorLogs: [{ target: 'stderr', level: 'debug' }],
      authHttpTimeoutMs: 6000,
      proxyBufferSize: 8192,
      proxyTimeoutMs: 7_200_000,
      proxyPassErrorMessage: false,
      pop3Auth: ['external'],
      pop3Capabilities: ['USER'],
      imapAuth: ['login'],
      imapCapabilities: ['IMAP4', 'IDLE'],
      imapClientBuffer: 2048,
      smtpAuth: ['login'],
      smtpCapabilities: ['SIZE 100'],
      smtpClientBuffer: 1024,
      smtpGreetingDelayMs: 1000,
      starttls: 'on',
      ssl: {
        certificates: ['/abs/other.pem', '/abs/other-ecdsa.pem'],
        certificateKeys: ['/abs/other.key', '/abs/other-ecdsa.key'],
        protocols: ['TLSv1.2', 'TLSv1.3'],
        ciphers: 'ECDHE',
        preferServerCiphers: false,
      },
    });
  });

  it('servers never share mutable lists', () => {
    const config = parse(mail('pop3_capabilities TOP;', 'server { listen 110; } server { listen 995; }'));
    config.servers[0]!.pop3Capabilities.push('X');
    expect(config.servers[1]!.pop3Capabilities).toEqual(['TOP']);
  });
});

describe('listen and protocol', () => {
  const listens = (servers: string) => parse(mail('ssl_certificate c; ssl_certificate_key k;', servers)).servers.map((s) => s.listens.map((l) => ({ ...l, where: undefined })));

  it('detects the protocol from the port when protocol is not set yet', () => {
    const ports = [110, 995, 143, 993, 25, 465, 587];
    const config = parse(mail('', ports.map((p) => `server { listen ${p}; }`).join('\n')));
    expect(config.servers.map((s) => s.protocol)).toEqual(['pop3', 'pop3', 'imap', 'imap', 'smtp', 'smtp', 'smtp']);
  });

  it('lets protocol override the detected one and uses the first matching listen', () => {
    const config = parse(mail('', 'server { listen 110; protocol imap; } server { listen 8000; listen 143; listen 995; } server { protocol smtp; listen 993; }'));
    expect(config.servers.map((s) => s.protocol)).toEqual(['imap', 'imap', 'smtp']);
  });

  it('parses addresses and parameters', () => {
    expect(
      listens(`server {
        listen 127.0.0.1:8110 ssl backlog=128 rcvbuf=64k sndbuf=1m;
        listen [::1]:8111 ipv6only=off so_keepalive=on;
        listen [0:0::0]:8112 so_keepalive=30m::10;
        listen *:8113 bind so_keepalive=off;
        listen localhost:8114 so_keepalive=:5s:;
        protocol pop3;
      }`),
    ).toEqual([
      [
        { host: '127.0.0.1', port: 8110, text: '127.0.0.1:8110', ssl: true, bind: true, backlog: 128, rcvbuf: 65536, sndbuf: 1048576, where: undefined },
        { host: '::1', port: 8111, text: '[::1]:8111', ssl: false, bind: true, ipv6only: false, soKeepalive: { enabled: true }, where: undefined },
        { host: '::', port: 8112, text: '[0:0::0]:8112', ssl: false, bind: true, soKeepalive: { enabled: true, idle: 1800, count: 10 }, where: undefined },
        { host: '0.0.0.0', port: 8113, text: '*:8113', ssl: false, bind: true, soKeepalive: { enabled: false }, where: undefined },
        { host: 'localhost', port: 8114, text: 'localhost:8114', ssl: false, bind: true, soKeepalive: { enabled: true, interval: 5 }, where: undefined },
      ],
    ]);
  });

  it('allows the same port on different addresses', () => {
    expect(listens('server { listen 127.0.0.1:110; listen 127.0.0.2:110; listen *:110; listen [::]:110; }')[0]).toHaveLength(4);
  });
});

describe('TLS settings', () => {
  const certs = 'ssl_certificate c.pem; ssl_certificate_key k.pem;';

  it('accepts listen ... ssl and starttls with certificates, and keeps data: paths as written', () => {
    const config = parse(mail('ssl_certificate data:PEM; ssl_certificate_key /k.pem; starttls on;', 'server { listen 993 ssl; listen 143; }'));
    expect(config.servers[0]!.ssl.certificates).toEqual(['data:PEM']);
    expect(config.servers[0]!.listens.map((l) => l.ssl)).toEqual([true, false]);
    expect(config.servers[0]!.starttls).toBe('on');
  });

  it('accepts the legacy ssl directive with a deprecation notice', () => {
    const config = parse(mail(certs, 'server { listen 995; ssl on; }'));
    expect(config.servers[0]!.sslOn).toBe(true);
    expect(config.notices).toEqual([`the "ssl" directive is deprecated, use the "listen ... ssl" directive instead in ${FILE}:4`]);
  });

  it('accepts ssl on at mail level and starttls in a server (nginx checks the conflict per level only)', () => {
    const config = parse(mail(`${certs} ssl on;`, 'server { listen 143; starttls on; }'));
    expect(config.servers[0]).toMatchObject({ sslOn: true, starttls: 'on' });
  });

  it('takes starttls and flags case-insensitively', () => {
    const config = parse(mail(`${certs} starttls ONLY; proxy_pass_error_message On;`));
    expect(config.servers[0]).toMatchObject({ starttls: 'only', proxyPassErrorMessage: true });
  });

  it('adds up ssl_protocols and auth method lists, noticing repeated values', () => {
    const config = parse(mail('ssl_protocols TLSv1.3; ssl_protocols TLSv1.2 TLSv1.3; imap_auth PLAIN plain;'));
    expect(config.servers[0]!.ssl.protocols).toEqual(['TLSv1.2', 'TLSv1.3']);
    expect(config.servers[0]!.imapAuth).toEqual(['plain']);
    expect(config.notices).toEqual([`duplicate value "TLSv1.3" in ${FILE}:3`, `duplicate value "plain" in ${FILE}:3`]);
  });
});

describe('other directives', () => {
  it('auth_http: last one wins, URL forms', () => {
    const target = (url: string) => parse(`mail { auth_http ${url}; server { listen 110; } }`).servers[0]!.authHttp;
    expect(parse('mail { auth_http a; auth_http b:81; server { listen 110; } }').servers[0]!.authHttp.host).toBe('b');
    expect(target('http://auth.example:8080')).toEqual({ url: 'http://auth.example:8080', host: 'auth.example', port: 8080, uri: '/', hostHeader: 'auth.example' });
    expect(target('[::1]:81/x?y')).toEqual({ url: '[::1]:81/x?y', host: '::1', port: 81, uri: '/x?y', hostHeader: '[::1]' });
    expect(target('[::1]')).toMatchObject({ host: '::1', port: 80, uri: '/' });
    expect(target('h?q')).toMatchObject({ host: 'h', port: 80, uri: '?q' });
    expect(target('unix:/s.sock')).toEqual({ url: 'unix:/s.sock', unixPath: '/s.sock', uri: '/', hostHeader: 'localhost' });
  });

  it('error_log: levels, debug_* levels, relative paths, several per context, syslog', () => {
    const config = parseConfigText(
      'error_log logs/main.log;\nerror_log /second.log info;\nmail { auth_http a; error_log syslog:server=127.0.0.1:5514,facility=mail,tag=mx,nohostname warn;\n' +
        'server { listen 110; error_log srv.log debug_mail; error_log stderr; } server { listen 143; } }',
      '/etc/postern/x.conf',
    );
    expect(config.errorLogs).toEqual([
      { target: '/etc/postern/logs/main.log', level: 'error' },
      { target: '/second.log', level: 'info' },
    ]);
    expect(config.servers[0]!.errorLogs).toEqual([
      { target: '/etc/postern/srv.log', level: 'debug' },
      { target: 'stderr', level: 'error' },
    ]);
    // A server without its own takes the mail block's.
    expect(config.servers[1]!.errorLogs).toEqual([
      { target: 'syslog:server=127.0.0.1:5514,facility=mail,tag=mx,nohostname', level: 'warn', syslog: { host: '127.0.0.1', port: 5514, facility: 2, tag: 'mx', nohostname: true } },
    ]);
    expect(config.notices).toEqual([]);
  });

  it('resolver: addresses with default port 53, parameters, off, inheritance', () => {
    const [s] = parse(mail('  resolver 127.0.0.1 10.0.0.1:5353 [::1] [2001:DB8::1]:54 valid=30s ipv6=off;\n  resolver_timeout 2s;')).servers;
    expect(s!.resolver).toEqual({
      servers: [
        { host: '127.0.0.1', port: 53 },
        { host: '10.0.0.1', port: 5353 },
        { host: '::1', port: 53 },
        { host: '2001:db8::1', port: 54 },
      ],
      validMs: 30_000,
      ipv4: true,
      ipv6: false,
    });
    expect(s!.resolverTimeoutMs).toBe(2000);
    expect(parse(mail('  resolver 127.0.0.1;', 'server { listen 25; resolver off; }')).servers[0]!.resolver).toBeUndefined();
    expect(parse(mail('')).servers[0]!.resolver).toBeUndefined();
  });

  it('resolver: errors', () => {
    const cases: Array<[string, string]> = [
      ['resolver 127.0.0.1; resolver 10.0.0.1;', '"resolver" directive is duplicate'],
      ['resolver 127.0.0.1 ipv4=off ipv6=off;', '"ipv4" and "ipv6" cannot both be "off"'],
      ['resolver 127.0.0.1 ipv4=maybe;', 'invalid parameter: ipv4=maybe'],
      ['resolver 127.0.0.1 valid=;', 'invalid parameter: valid='],
      ['resolver 127.0.0.1 valid=x;', 'invalid parameter: valid=x'],
      ['resolver 127.0.0.1:0;', 'invalid port in resolver "127.0.0.1:0"'],
      ['resolver [::1;', 'invalid host in resolver "[::1"'],
      ['resolver valid=5s;', 'no name servers defined'],
      ['resolver ns.example.net;', 'host names in "resolver" are not supported yet, use IP addresses'],
      ['resolver 127.0.0.1 status_zone=z;', 'the "status_zone" parameter of "resolver" is not supported yet'],
      ['resolver_timeout x;', '"resolver_timeout" directive invalid value'],
    ];
    for (const [line, message] of cases) expect(() => parse(mail(`  ${line}`)), line).toThrow(message);
  });

  it('proxy is accepted and has no effect', () => {
    expect(parse(mail('proxy on;')).servers).toHaveLength(1);
  });

  it('a mail block may come from a top-level include, and anything may follow it', () => {
    const config = parseConfigText('events {}\ninclude mail-only.conf;\nhttp { }\n', '/x/nginx.conf', { baseDir: fixture('') });
    expect(config.servers).toHaveLength(1);
    expect(config.notices).toEqual(['skipping non-mail directives: http']);
  });
});

describe('ngx_mail_ssl_module values and merging', () => {
  const tls = (mailBody: string, serverBody = '') =>
    parse(`mail { auth_http 127.0.0.1; ssl_certificate c.pem; ssl_certificate_key k.pem; ${mailBody}\n server { listen 993 ssl; ${serverBody} } }`).servers[0]!.ssl;

  it.each([
    ['none', { off: false }],
    ['off', { off: true }],
    ['builtin', { off: false, builtinSessions: 20480 }],
    ['builtin:1000', { off: false, builtinSessions: 1000 }],
    ['shared:SSL:1m', { off: false, shared: { name: 'SSL', sizeBytes: 1048576 } }],
    ['builtin:50 shared:SSL:32k', { off: false, builtinSessions: 50, shared: { name: 'SSL', sizeBytes: 32768 } }],
    ['shared:SSL:1m off', { off: true }],
    ['shared:SSL:1m none', { off: false }],
  ])('ssl_session_cache %s', (words, expected) => {
    expect(tls(`ssl_session_cache ${words};`).sessionCache).toEqual(expected);
  });

  it('ssl_session_cache parts inherit separately, as in nginx (a server\'s builtin keeps the mail block\'s zone)', () => {
    expect(tls('ssl_session_cache shared:A:1m;', 'ssl_session_cache builtin;').sessionCache).toEqual({
      off: false,
      builtinSessions: 20480,
      shared: { name: 'A', sizeBytes: 1048576 },
    });
    expect(tls('ssl_session_cache builtin;', 'ssl_session_cache shared:B:64k;').sessionCache).toEqual({ off: false, shared: { name: 'B', sizeBytes: 65536 } });
    expect(tls('ssl_session_cache builtin;\n ssl_session_cache shared:C:64k;').sessionCache).toEqual({
      off: false,
      builtinSessions: 20480,
      shared: { name: 'C', sizeBytes: 65536 },
    });
  });

  it('every other directive, with file paths resolved and where each was written', () => {
    const ssl = parse(
      [
        'mail {',
        ' auth_http 127.0.0.1;',
        ' ssl_certificate c.pem; ssl_certificate_key k.pem;',
        ' ssl_password_file pw; ssl_dhparam dh.pem; ssl_ecdh_curve X25519:prime256v1;',
        ' ssl_session_timeout 1h; ssl_session_tickets off; ssl_session_ticket_key t1.key; ssl_session_ticket_key /k/t2.key;',
        ' ssl_verify_client OPTIONAL; ssl_verify_depth 3; ssl_client_certificate ca.pem; ssl_trusted_certificate tr.pem; ssl_crl crl.pem;',
        ' ssl_conf_command Options -ServerPreference; ssl_conf_command Certificate o.crt;',
        ' auth_http_pass_client_cert on;',
        ' server { listen 993 ssl; }',
        '}',
      ].join('\n'),
    ).servers[0]!;
    expect(ssl.authHttpPassClientCert).toBe(true);
    expect(ssl.ssl).toMatchObject({
      passwordFile: '/etc/postern/pw',
      dhparam: '/etc/postern/dh.pem',
      ecdhCurve: 'X25519:prime256v1',
      sessionTimeoutMs: 3_600_000,
      sessionTickets: false,
      sessionTicketKeys: ['/etc/postern/t1.key', '/k/t2.key'],
      verifyClient: 'optional',
      verifyDepth: 3,
      clientCertificate: '/etc/postern/ca.pem',
      trustedCertificate: '/etc/postern/tr.pem',
      crl: '/etc/postern/crl.pem',
      confCommands: [
        ['Options', '-ServerPreference'],
        ['Certificate', '/etc/postern/o.crt'],
      ],
    });
    expect(ssl.ssl.where.ssl_crl).toEqual({ file: FILE, line: 6 });
    expect(ssl.ssl.where.ssl_conf_command).toEqual({ file: FILE, line: 7 });
  });

  it('ssl_conf_command and ssl_session_ticket_key lists: a server\'s own replace the mail block\'s', () => {
    const ssl = tls('ssl_conf_command Groups X25519; ssl_session_ticket_key a.key;', 'ssl_conf_command Options PrioritizeChaCha;');
    expect(ssl.confCommands).toEqual([['Options', 'PrioritizeChaCha']]);
    expect(ssl.sessionTicketKeys).toEqual(['/etc/postern/a.key']);
  });

  it('worker_processes (auto = the CPUs) and pid at the top level', () => {
    const config = parse('worker_processes 3;\npid run/p.pid;\nmail { }');
    expect(config.workerProcesses).toBe(3);
    expect(config.pidFile).toBe('/etc/postern/run/p.pid');
    expect(parse('worker_processes auto; mail { }').workerProcesses).toBe(availableParallelism());
    expect(parse('mail { }')).toMatchObject({ workerProcesses: 1 });
    expect(parse('mail { }').pidFile).toBeUndefined();
  });
});
