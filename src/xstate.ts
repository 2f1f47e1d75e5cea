import { createRequire } from 'node:module';

/**
 * XState, loaded with require(). An ES module importing a CommonJS module makes Node run its
 * export lexer (cjs-module-lexer) over that module's source first; over xstate's entry, with
 * sonic-boom's and rxjs's (loaded the same way, src/log/destinations.ts and
 * src/session/frame-commands.ts), the lexer ran hot enough for V8 to optimise it during
 * start-up, and that one compile kept ~3–4 MB of resident memory (docs/performance.md,
 * "Baseline RSS"). An `import` of xstate elsewhere (tests, the inspector) gets this same module
 * instance. Types still come from `import type ... from 'xstate'`.
 */
export const { and, assign, createActor, emit, not, setup, SimulatedClock } = createRequire(import.meta.url)('xstate') as typeof import('xstate');
