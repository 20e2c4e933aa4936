import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { checkJobsExample } from './jobs-output.ts';

const run = promisify(execFile);
const example = join(import.meta.dirname, '../../examples/jobs.ts');

it('npm run example:jobs runs embedded: emails, a schedule, and a progress bar from queue events', async () => {
  const env = { ...process.env };
  delete env.QUEUE_URL;
  const { stdout, stderr } = await run(process.execPath, [example], { env, timeout: 30_000 });
  expect(stderr).toBe('');
  checkJobsExample(stdout);
  expect(stdout).not.toContain('worker process ready');
});
