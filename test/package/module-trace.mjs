// `node --import ./module-trace.mjs ...` with POSTERN_MODULE_TRACE=FILE: every module the
// process loads (ESM and CommonJS, through the loader's load hook) is appended to FILE, one URL
// a line. Used by the lazy-loading test and bench/startup.mjs to see what a command pulls in.
import { register } from 'node:module';

if (process.env.POSTERN_MODULE_TRACE) {
  register('./module-trace-hooks.mjs', import.meta.url, { data: { file: process.env.POSTERN_MODULE_TRACE } });
}
