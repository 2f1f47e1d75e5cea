/** What one `prove -v FILE` run says: the TAP lines of the file and prove's verdict. */
export interface FileResult {
  /** `1..N` (0 when the file skipped itself as a whole, undefined when it died before planning). */
  planned: number | undefined;
  /** The reason of a `1..0 # SKIP reason` (Test::Nginx: `has()` or `try_run()` not met). */
  skipAll: string | undefined;
  passed: number;
  /** `not ok` lines that are not TODO: the real failures, by number and name. */
  failed: string[];
  /** TODO tests (`# TODO`) that passed: the implementation does more than the tests expect. */
  todoPassed: string[];
  /** TODO tests that failed as expected. */
  todoFailed: number;
  skipped: number;
  /** prove's last line: PASS, FAIL or NOTESTS (undefined if prove said nothing). */
  verdict: string | undefined;
}

const TEST_LINE = /^(not )?ok (\d+)(?: - ([^#]*?))?\s*(?:#\s*(TODO|SKIP)\b\s*(.*))?$/i;

export function parseProve(output: string): FileResult {
  const result: FileResult = { planned: undefined, skipAll: undefined, passed: 0, failed: [], todoPassed: [], todoFailed: 0, skipped: 0, verdict: undefined };
  for (const line of output.split('\n')) {
    const plan = /^1\.\.(\d+)(?:\s*#\s*skip\w*\s*(.*))?$/i.exec(line);
    if (plan) {
      result.planned = Number(plan[1]);
      if (plan[2] !== undefined) result.skipAll = plan[2].trim();
      continue;
    }
    const verdict = /^Result: (\w+)$/.exec(line);
    if (verdict) {
      result.verdict = verdict[1];
      continue;
    }
    const test = TEST_LINE.exec(line);
    if (!test) continue;
    const [, not, number, name = '', directive] = test;
    const label = `${number} ${name}`.trim();
    const kind = directive?.toUpperCase();
    if (kind === 'TODO') {
      if (not) result.todoFailed++;
      else result.todoPassed.push(label);
    } else if (kind === 'SKIP') result.skipped++;
    else if (not) result.failed.push(label);
    else result.passed++;
  }
  return result;
}

/** `31/31`, `4/9`, `skipped`, `died 2/30`: how a file went, in a few characters. */
export function summary(result: FileResult): string {
  if (result.skipAll !== undefined) return `skipped (${result.skipAll})`;
  if (result.planned === undefined) return 'died before its plan';
  const ran = result.passed + result.failed.length + result.todoPassed.length + result.todoFailed + result.skipped;
  const ok = result.passed + result.todoPassed.length + result.todoFailed + result.skipped;
  return ran < result.planned ? `${ok}/${result.planned}, died after ${ran}` : `${ok}/${result.planned}`;
}

/** Whether the file passed as prove counts it: every planned test ran, none failed. */
export const passed = (result: FileResult): boolean => result.verdict === 'PASS';
