// `node --import ./module-trace.mjs ...` with POSTERN_MODULE_TRACE=FILE: every module the
// process loads is appended to FILE, one URL a line. Used by the lazy-loading test and
// bench/startup.mjs to see what a command pulls in. ES modules, and CommonJS modules an ES module
// imports, pass the loader's load hook; a CommonJS module loaded with require() (createRequire:
// pino, prom-client, ioredis, xstate...) does not on Node 20, so the compiling of each `.js`
// CommonJS file is traced too (`Module._extensions`, Node's own table, in Node 20 and 24).
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { pathToFileURL } from 'node:url';

const file = process.env.POSTERN_MODULE_TRACE;
if (file) {
  register('./module-trace-hooks.mjs', import.meta.url, { data: { file } });
  const extensions = Module._extensions;
  const compileJs = extensions['.js'];
  extensions['.js'] = function traced(module, filename) {
    appendFileSync(file, `${pathToFileURL(filename).href}\n`);
    return compileJs.call(this, module, filename);
  };
}
