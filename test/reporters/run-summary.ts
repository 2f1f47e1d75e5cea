/**
 * The last lines of every run: each failed test, and each test that passed only on its retry
 * (vitest.config.ts sets `retry: 1`), with the first line of every error it threw. CI shows only
 * part of a long log; these lines are at its very end, so the name of a failing or flaky test
 * always reaches the reader. A flaky test is a finding, not a pass: its first error is printed.
 */
import type { Reporter, TestCase, TestModule } from 'vitest/node';

const firstLine = (message: string | undefined): string => (message ?? '').split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 300) ?? '';

/** An error's first line, and for an equality the first lines its diff changes (the values themselves). */
function describeError(error: { message?: string; diff?: string }): string[] {
  const changed = (error.diff ?? '').replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => /^[+-] /.test(l) && !/^[+-] (Expected|Received)$/.test(l)).slice(0, 4).map((l) => `      ${l.trim().slice(0, 300)}`);
  return [`    ${firstLine(error.message)}`, ...changed];
}

function title(test: TestCase): string {
  return `${test.module.moduleId.replace(`${process.cwd()}/`, '')} > ${test.fullName}`;
}

export default class RunSummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const failed: string[] = [];
    const flaky: string[] = [];
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const result = test.result();
        const errors = (result.errors ?? []).flatMap(describeError);
        if (result.state === 'failed') failed.push(`  FAILED ${title(test)}`, ...errors);
        else if (result.state === 'passed' && test.diagnostic()?.flaky) flaky.push(`  FLAKY  ${title(test)} (passed on retry ${test.diagnostic()!.retryCount})`, ...errors);
      }
      if (module.state() === 'failed' && module.errors().length > 0) failed.push(`  FAILED ${module.moduleId.replace(`${process.cwd()}/`, '')} (the file itself)`, ...module.errors().map((e) => `    ${firstLine(e.message)}`));
    }
    if (failed.length === 0 && flaky.length === 0) return;
    process.stdout.write(['', 'Run summary: failed tests and tests that passed only on retry', ...failed, ...flaky, ''].join('\n'));
  }
}
