/**
 * Where a whole process's CPU goes, from `perf record -g` of a Node process started with
 * `--perf-basic-prof` (bench/handshake-cost.ts `--perf`). Unlike `--cpu-prof`, perf sees every
 * thread and the native work (OpenSSL, the kernel, V8's collector and compiler threads), which is
 * most of a TLS handshake's cost.
 *
 * Each sample is charged to the JavaScript frame nearest its leaf, so the builtins, runtime calls
 * and system calls a function makes count as its own: a `write()` made by the session's reply is
 * Node's stream code, a `new Set()` made by XState is XState's. Samples with no JavaScript on the
 * stack are split by their leaf: OpenSSL's cryptography, V8's collector, V8's compiler, and the
 * rest (the event loop, the TLS layer's I/O, the kernel entered from native code).
 *
 *   npx tsx bench/perf-split.ts perf-script.txt     (perf script -F comm,tid,ip,sym,dso)
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PERF_CATEGORIES = [
  'statechart (XState)',
  "Postern's JavaScript",
  "Node's JavaScript (streams, sockets, timers, TLS set-up)",
  'other JavaScript',
  'OpenSSL cryptography',
  'garbage collection',
  "V8's optimising compiler",
  'native, no JavaScript on the stack (event loop, TLS I/O)',
] as const;
export type PerfCategory = (typeof PERF_CATEGORIES)[number];

export interface PerfSplit {
  samples: number;
  /** Share of the samples, 0..1, per category. */
  shares: Record<PerfCategory, number>;
}

const CRYPTO_LEAF = /rsaz|bn_|BN_|sha\d|x25519|^fe_|ecp_|^ec_|EC_|aes|gcm|EVP_|ossl_|OPENSSL|CRYPTO_|ERR_|ASN1|X509|cmov|SSL_|ssl3_|tls1_|tls13_|chacha|poly1305|hmac|HMAC/;
const GC_LEAF = /v8::internal::(Heap|Scavenger|MarkCompact|ConcurrentMarking|Sweeper|Evacuat|MarkingVisitor|MinorMarkCompact|ArrayBufferSweeper)|Scavenge|MarkingWorklist/;
const COMPILER_LEAF = /v8::internal::(compiler|maglev|baseline)::|TurboFan|Maglev/;

/** The category of one JavaScript frame's symbol, or null for a native frame. */
function jsOrigin(symbol: string): PerfCategory | null {
  if (!symbol.includes('JS:')) return null;
  if (symbol.includes('/node_modules/xstate/')) return 'statechart (XState)';
  if (symbol.includes('/dist/src/') || symbol.includes('/dist/machines/')) return "Postern's JavaScript";
  if (symbol.includes('node:')) return "Node's JavaScript (streams, sockets, timers, TLS set-up)";
  return 'other JavaScript';
}

function nativeLeaf(symbol: string): PerfCategory {
  if (CRYPTO_LEAF.test(symbol)) return 'OpenSSL cryptography';
  if (GC_LEAF.test(symbol)) return 'garbage collection';
  if (COMPILER_LEAF.test(symbol)) return "V8's optimising compiler";
  return 'native, no JavaScript on the stack (event loop, TLS I/O)';
}

/** Splits `perf script -F comm,tid,ip,sym,dso` output (one stack per sample, leaf first). */
export function splitPerfScript(text: string): PerfSplit {
  const counts = new Map<PerfCategory, number>(PERF_CATEGORIES.map((c) => [c, 0]));
  let samples = 0;
  let stack: string[] = [];
  const charge = () => {
    if (stack.length === 0) return;
    samples += 1;
    const leaf = stack[0]!;
    // Cryptography, collection and compilation are charged as such whoever started them.
    let category: PerfCategory | null = CRYPTO_LEAF.test(leaf) || GC_LEAF.test(leaf) || COMPILER_LEAF.test(leaf) ? nativeLeaf(leaf) : null;
    for (let i = 0; category === null && i < stack.length; i++) category = jsOrigin(stack[i]!);
    category ??= nativeLeaf(leaf);
    counts.set(category, counts.get(category)! + 1);
    stack = [];
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') charge();
    // `  ffffffff815ffded unmap_page_range ([kernel.kallsyms])`: the symbol alone.
    else if (line.startsWith(' ') || line.startsWith('\t')) stack.push(line.trim().replace(/^[0-9a-f]+\s+/, '').replace(/\s+\([^()]*\)$/, ''));
    else charge(); // a sample's header line (comm, tid)
  }
  charge();
  const shares = Object.fromEntries(PERF_CATEGORIES.map((c) => [c, samples === 0 ? 0 : counts.get(c)! / samples])) as Record<PerfCategory, number>;
  return { samples, shares };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const split = splitPerfScript(readFileSync(process.argv[2]!, 'utf8'));
  process.stdout.write(`${split.samples} samples\n`);
  for (const c of PERF_CATEGORIES) process.stdout.write(`  ${(100 * split.shares[c]).toFixed(1).padStart(5)}%  ${c}\n`);
}
