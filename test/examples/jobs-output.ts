/** The output examples/jobs.ts must print on any queue (checked by the memory and Redis runs). */
import { expect } from 'vitest';

/** What examples/jobs.ts prints on any queue: the emails, the schedule, the progress bar and the report. */
export function checkJobsExample(stdout: string): void {
  const lines = stdout.trim().split('\n');
  expect(lines.filter((l) => /^welcome #\S+ \(attempt \d\): sent to/.test(l))).toHaveLength(2);
  expect(lines).toContain('schedule heartbeat: heartbeat {"every":200}');
  expect(lines).toContain('heartbeat 2');
  const bars = lines.filter((l) => l.startsWith('render #'));
  expect(bars.map((l) => l.replace(/^render #\S+ /, ''))).toEqual([
    '[##--------]  20%',
    '[####------]  40%',
    '[######----]  60%',
    '[########--]  80%',
    '[##########] 100%',
  ]);
  // The bar comes before the result, which comes before the schedule is removed.
  const report = lines.indexOf('report for 2026-11: 42 pages');
  expect(report).toBeGreaterThan(lines.indexOf(bars.at(-1) as string));
  expect(lines.indexOf('unscheduled: true')).toBeGreaterThan(report);
}
