/**
 * Reads statements from the lexer the way `ngx_conf_parse` does: one statement at a time, in
 * file order, so the first error reported is the one nginx would report. Handles `include`
 * (with globs), the top level of a whole nginx.conf (non-mail directives are skipped), the
 * `mail` and `server` blocks, and dispatches everything else through the directive table.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import {
  applyDirective,
  defaultValue,
  directiveByName,
  NON_MAIL_MAIN_DIRECTIVES,
  OTHER_NGINX_DIRECTIVES,
  parseErrorLog,
  type ApplyContext,
  type Arity,
  type Context,
  type DirectiveSpec,
} from './directives.js';
import { nginxDefaultAccount, runsAsRoot } from './accounts.js';
import { COMMAND_LINE, ConfigError, describeErrno, formatWhere } from './errors.js';
import { expandGlob, hasGlob } from './glob.js';
import { newLevel, type Level, type ParseState } from './level.js';
import { Lexer } from './lexer.js';
import { checkWorkerConnections } from './listen.js';
import { resolveServers } from './merge/resolve.js';
import type { MailConfig, ServerConfig, Where } from './types.js';

/** Deepest include nesting accepted (nginx has no limit and loops until it runs out of files). */
export const MAX_INCLUDE_DEPTH = 32;

interface Statement {
  name: string;
  args: string[];
  block: boolean;
  where: Where;
}

type Handler = (statement: Statement, lexer: Lexer) => void;

const arityOk = (arity: Arity, count: number): boolean => {
  switch (arity) {
    case 'none':
      return count === 0;
    case 'take1':
    case 'flag':
      return count === 1;
    case 'take2':
      return count === 2;
    case 'take12':
      return count === 1 || count === 2;
    case '1more':
      return count >= 1;
    case '2more':
      return count >= 2;
  }
};

export class ConfigParser {
  private readonly state: ParseState;
  private mail: { servers: ServerConfig[] } | undefined;
  /** Main-context settings kept in the directive table's way (`user`, `worker_*`). */
  private readonly main = newLevel('main', { file: '', line: 0 });
  private events: Level | undefined;
  private readonly skipped: string[] = [];
  private depth = 0;
  /** Where the main `pid` and `error_log` in force were written (the file's may be nginx's own). */
  private pidWhere: Where | undefined;
  /** Where each top-level `error_log` was written (the command line's `-g` among them). */
  private readonly errorLogWheres: Where[] = [];

  constructor(
    baseDir: string,
    private readonly options: { globals?: string; prefix?: string; onFileRead?: (file: string, text: string) => void } = {},
  ) {
    this.state = { baseDir, notices: [], warnings: [], listenKeys: new Set(), sharedZones: new Map(), mainErrorLogs: [] };
    if (options.prefix !== undefined) this.state.prefix = options.prefix;
  }

  /** Parses a whole main file, after the `-g` directives if any (as nginx reads them: first). */
  parseMain(text: string, file: string): MailConfig {
    if (this.options.globals !== undefined) this.parse(new Lexer(this.options.globals, COMMAND_LINE), false, (s, l) => this.mainDirective(s, l));
    this.options.onFileRead?.(file, text);
    const lexer = new Lexer(text, file);
    this.parse(lexer, false, (s, l) => this.mainDirective(s, l));
    if (!this.mail) throw ConfigError.at('no "mail" section in configuration', { file, line: lexer.currentLine });
    const notices = [...this.state.notices];
    if (this.skipped.length > 0) notices.unshift(`skipping non-mail directives: ${this.skipped.join(', ')}`);
    const events = this.events?.settings ?? new Map<string, never>();
    const skippedEvents = [...events.keys()].filter((name) => name !== 'worker_connections');
    if (skippedEvents.length > 0) notices.push(`skipping events directives: ${skippedEvents.join(', ')}`);
    const config: MailConfig = {
      file,
      servers: this.mail.servers,
      notices,
      workerProcesses: this.state.workerProcesses ?? 1,
      workerConnections: (events.get('worker_connections')?.value ?? defaultValue(directiveByName.get('worker_connections')!)) as number,
    };
    if (this.state.warnings.length > 0) config.warnings = [...this.state.warnings];
    if (this.state.mainErrorLogs.length > 0) config.errorLogs = this.state.mainErrorLogs;
    if (this.state.pidFile !== undefined) config.pidFile = this.state.pidFile;
    const main = (name: string) => this.main.settings.get(name)?.value;
    if (main('postern_metrics_listen') !== undefined) config.metricsListen = main('postern_metrics_listen') as MailConfig['metricsListen'];
    if (main('postern_log_format') !== undefined) config.logFormat = main('postern_log_format') as MailConfig['logFormat'];
    if (main('worker_rlimit_nofile') !== undefined) config.workerRlimitNofile = main('worker_rlimit_nofile') as number;
    if (main('worker_shutdown_timeout') !== undefined) config.workerShutdownTimeoutMs = main('worker_shutdown_timeout') as number;
    const user = (main('user') as MailConfig['user']) ?? this.defaultUser(file);
    if (user !== undefined) config.user = user;
    checkWorkerConnections(config);
    this.keepClearOfNginx(config);
    return config;
  }

  /**
   * A file that also holds `http` or `stream` serves nginx too: its main `pid` and `error_log`
   * are nginx's. Postern then writes `postern.pid` beside nginx's pid file and logs to stderr
   * (or `-e`), unless `-g` named its own, and says so.
   */
  private keepClearOfNginx(config: MailConfig): void {
    const nginxBlocks = this.skipped.filter((name) => name === 'http' || name === 'stream');
    if (nginxBlocks.length === 0) return;
    const why = `this file also serves nginx (${nginxBlocks.join(', ')})`;
    if (config.pidFile !== undefined && this.pidWhere !== undefined && this.pidWhere.file !== COMMAND_LINE) {
      const own = join(dirname(config.pidFile), 'postern.pid');
      config.notices.push(`"pid ${config.pidFile}" in ${formatWhere(this.pidWhere)} is nginx's: ${why}; Postern's pid file is "${own}" (another with -g 'pid FILE;')`);
      config.pidFile = own;
    }
    const logs = config.errorLogs ?? [];
    const fileLog = logs.findIndex((_, i) => this.errorLogWheres[i]!.file !== COMMAND_LINE);
    if (fileLog >= 0) {
      const own = logs.filter((_, i) => this.errorLogWheres[i]!.file === COMMAND_LINE);
      config.notices.push(
        `"error_log ${logs[fileLog]!.target}" in ${formatWhere(this.errorLogWheres[fileLog]!)} is nginx's: ${why}; ` +
          (own.length > 0 ? 'Postern logs where -g says' : "Postern logs to stderr (another with -e FILE, -g 'error_log FILE;' or error_log in mail { })"),
      );
      if (own.length > 0) config.errorLogs = own;
      else delete config.errorLogs;
    }
  }

  /** ngx_core_module_init_conf: started as root without `user`, the workers run as nobody. */
  private defaultUser(file: string): MailConfig['user'] {
    if (!runsAsRoot()) return undefined;
    const account = nginxDefaultAccount();
    if (typeof account === 'string') throw new ConfigError(account, file, 0);
    return account;
  }

  /** `ngx_conf_parse`: statements until `}` (in a block) or end of file (in a file). */
  private parse(lexer: Lexer, inBlock: boolean, handler: Handler): void {
    for (;;) {
      const st = lexer.next();
      const where = { file: lexer.file, line: st.line };
      if (st.kind === 'end') {
        if (!inBlock) throw ConfigError.at('unexpected "}"', where);
        return;
      }
      if (st.kind === 'eof') {
        if (inBlock) throw ConfigError.at('unexpected end of file, expecting "}"', where);
        return;
      }
      const [name, ...args] = st.args as [string, ...string[]];
      const statement = { name, args, block: st.block, where };
      if (name === 'include') this.include(statement, handler);
      else handler(statement, lexer);
    }
  }

  /** Skips a block of a non-mail directive, checking only its lexical structure. */
  private skipBlock(lexer: Lexer): void {
    this.parse(lexer, true, (statement, l) => {
      if (statement.name === 'mail') throw ConfigError.at('"mail" directive is not allowed here', statement.where);
      if (statement.block) this.skipBlock(l);
    });
  }

  private include(statement: Statement, handler: Handler): void {
    const spec = directiveByName.get('include')!;
    this.checkForm(spec, statement);
    const written = statement.args[0]!;
    const pattern = isAbsolute(written) ? written : resolvePath(this.state.baseDir, written);
    let files: string[];
    if (hasGlob(pattern)) {
      try {
        files = expandGlob(pattern);
      } catch (error) {
        throw ConfigError.at(`glob() "${pattern}" failed (${describeErrno(error)})`, statement.where);
      }
    } else {
      files = [pattern];
    }
    if (this.depth >= MAX_INCLUDE_DEPTH) {
      throw ConfigError.at(`too deeply nested "include" of "${written}" (more than ${MAX_INCLUDE_DEPTH} levels)`, statement.where);
    }
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        throw ConfigError.at(`open() "${file}" failed (${describeErrno(error)})`, statement.where);
      }
      this.options.onFileRead?.(file, text);
      this.depth++;
      try {
        this.parse(new Lexer(text, file), false, handler);
      } finally {
        this.depth--;
      }
    }
  }

  /** `;` versus `{`, and the argument count, as ngx_conf_handler checks them. */
  private checkForm(spec: DirectiveSpec, statement: Statement): void {
    if (!spec.block && statement.block) {
      throw ConfigError.at(`directive "${spec.name}" is not terminated by ";"`, statement.where);
    }
    if (spec.block && !statement.block) {
      throw ConfigError.at(`directive "${spec.name}" has no opening "{"`, statement.where);
    }
    if (!arityOk(spec.arity, statement.args.length)) {
      throw ConfigError.at(`invalid number of arguments in "${spec.name}" directive`, statement.where);
    }
  }

  /** Finds the directive for a context and checks its form; null means "skip it" (top level). */
  private lookup(statement: Statement, context: Context): DirectiveSpec | null {
    const spec = directiveByName.get(statement.name);
    if (spec && spec.contexts.includes(context)) {
      this.checkForm(spec, statement);
      if (!spec.supported) throw ConfigError.at(`"${spec.name}" directive is not supported yet`, statement.where);
      return spec;
    }
    if (context === 'main' && NON_MAIL_MAIN_DIRECTIVES.has(statement.name)) return null;
    if (spec || OTHER_NGINX_DIRECTIVES.has(statement.name)) {
      throw ConfigError.at(`"${statement.name}" directive is not allowed here`, statement.where);
    }
    throw ConfigError.at(`unknown directive "${statement.name}"`, statement.where);
  }

  private mainDirective(statement: Statement, lexer: Lexer): void {
    const spec = this.lookup(statement, 'main');
    if (spec === null) {
      const block = NON_MAIL_MAIN_DIRECTIVES.get(statement.name)!;
      if (block && !statement.block) throw ConfigError.at(`directive "${statement.name}" has no opening "{"`, statement.where);
      if (!block && statement.block) throw ConfigError.at(`directive "${statement.name}" is not terminated by ";"`, statement.where);
      if (!this.skipped.includes(statement.name)) this.skipped.push(statement.name);
      if (statement.block) this.skipBlock(lexer);
      return;
    }
    if (spec.name === 'error_log') {
      const ctx = this.context(spec, statement, newLevel('mail', statement.where));
      this.state.mainErrorLogs.push(parseErrorLog(ctx));
      this.errorLogWheres.push(statement.where);
      return;
    }
    if (spec.name === 'pid' && this.pidWhere?.file === COMMAND_LINE) {
      // `-g 'pid FILE;'` names Postern's own pid file: the file's is nginx's (not "is duplicate", as nginx says).
      return;
    }
    if (spec.name === 'pid') this.pidWhere = statement.where;
    if (spec.name === 'worker_processes' || spec.name === 'pid') {
      applyDirective(this.context(spec, statement, newLevel('mail', statement.where)));
      return;
    }
    if (spec.name === 'events') {
      if (this.events) throw ConfigError.at('"events" directive is duplicate', statement.where);
      const events = (this.events = newLevel('events', statement.where));
      this.parse(lexer, true, (s) => applyDirective(this.context(this.lookup(s, 'events')!, s, events)));
      return;
    }
    if (spec.name !== 'mail') {
      applyDirective(this.context(spec, statement, this.main));
      return;
    }
    if (this.mail) throw ConfigError.at('"mail" directive is duplicate', statement.where);
    this.mail = { servers: [] };
    this.state.listenKeys.clear();
    const mailLevel = newLevel('mail', statement.where);
    const servers: Level[] = [];
    this.parse(lexer, true, (s, l) => {
      const inner = this.lookup(s, 'mail')!;
      if (inner.name === 'server') servers.push(this.serverBlock(s, l));
      else applyDirective(this.context(inner, s, mailLevel));
    });
    this.mail.servers = resolveServers(mailLevel, servers);
    const metrics = mailLevel.settings.get('postern_metrics_listen');
    if (metrics !== undefined) {
      if (this.main.settings.has('postern_metrics_listen')) throw ConfigError.at('"postern_metrics_listen" directive is duplicate', metrics.where);
      this.main.settings.set('postern_metrics_listen', metrics);
    }
  }

  private serverBlock(statement: Statement, lexer: Lexer): Level {
    const level = newLevel('server', statement.where);
    this.parse(lexer, true, (s) => {
      const spec = this.lookup(s, 'server')!;
      applyDirective(this.context(spec, s, level));
    });
    if (level.listens.length === 0) throw ConfigError.at('no "listen" is defined for server', level.where);
    return level;
  }

  private context(spec: DirectiveSpec, statement: Statement, level: Level): ApplyContext {
    const { where } = statement;
    const state = this.state;
    return {
      spec,
      args: statement.args,
      where,
      level,
      state,
      fail(reason: string): never {
        throw ConfigError.at(reason, where);
      },
      failDirective(rv: string): never {
        throw ConfigError.at(`"${spec.name}" directive ${rv}`, where);
      },
      notice(text: string): void {
        state.notices.push(`${text} in ${formatWhere(where)}`);
      },
      warn(text: string): void {
        state.warnings.push(`${text} in ${formatWhere(where)}`);
      },
    };
  }
}
