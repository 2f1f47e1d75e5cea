/**
 * The shape of the code, checked from its text: no import cycles (type imports included) in
 * src/ and machines/, and protocol knowledge only in the protocol modules (src/protocols/<name>/).
 * Dynamic `import()` is not an edge: a command loads what only it needs on demand.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Static imports and re-exports (`import type` too) of one file, as absolute .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"](\.[^'"]+)['"]/gms)) found.push(match[1]!);
  for (const match of text.matchAll(/^\s*import\s+['"](\.[^'"]+)['"]/gm)) found.push(match[1]!);
  return found.map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
}

/** Every cycle's files, found by a depth-first walk of the graph. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const files = [...graph.keys()];
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const to of graph.get(file) ?? []) {
      if (state.get(to) === 'open') found.push(stack.slice(stack.indexOf(to)));
      else if (state.get(to) === undefined) visit(to);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (state.get(file) === undefined) visit(file);
  return found;
}

const PRODUCT = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'machines'))];
const importGraph = new Map(PRODUCT.map((file) => [relative(ROOT, file), importsOf(file).map((to) => relative(ROOT, to))]));

/** A branch on a protocol's name: `protocol === 'smtp'`, `case 'imap':`, a speaksPop3-style guard. */
const PROTOCOL_BRANCH = /(?:protocol\s*[!=]==\s*'(?:pop3|imap|smtp|sieve)'|case\s+'(?:pop3|imap|smtp|sieve)'\s*:|speaks(?:Pop3|Imap|Smtp|Sieve)\b)/g;
const PROTOCOL_MODULE = /^src\/protocols\/(?:pop3|imap|smtp|sieve)\//;
/** The conformance suite is a black-box tester of any proxy: its per-protocol grammar is its subject, not Postern's core. */
const TESTER = /^src\/conformance\//;

describe('architecture', () => {
  it('has no import cycles in src/ and machines/ (type imports included)', () => {
    expect(cycles(importGraph)).toEqual([]);
  });

  it('reads type imports as edges and finds a cycle when there is one (the check itself works)', () => {
    expect(importGraph.get('machines/dialogue.ts')).toContain('src/protocols/dialect.ts'); // `import type`
    expect(importGraph.get('machines/connection.ts')).toContain('src/protocols/registry.ts');
    const withCycle = new Map([...importGraph, ['src/protocols/dialect.ts', ['machines/dialogue.ts']]]);
    const found = cycles(withCycle);
    expect(found.some((cycle) => cycle.includes('machines/dialogue.ts') && cycle.includes('src/protocols/dialect.ts')), JSON.stringify(found)).toBe(true);
  });

  it('keeps protocol branches in the protocol modules (at most 6 elsewhere)', () => {
    const outside = PRODUCT.map((file) => relative(ROOT, file))
      .filter((file) => !PROTOCOL_MODULE.test(file) && !TESTER.test(file))
      .flatMap((file) => [...readFileSync(join(ROOT, file), 'utf8').matchAll(PROTOCOL_BRANCH)].map((m) => `${file}: ${m[0]}`));
    expect(outside.length, outside.join('\n')).toBeLessThanOrEqual(6);
  });
});
