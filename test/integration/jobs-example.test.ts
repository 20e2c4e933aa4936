/** examples/jobs.ts across processes on Redis: the progress bar is drawn from another process's worker. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { checkJobsExample } from '../examples/jobs-output.ts';
import { redisUrl } from './redis-env.ts';

const run = promisify(execFile);

it('QUEUE_URL=redis://… npm run example:jobs prints the progress of a job run by its worker process', async () => {
  const example = join(import.meta.dirname, '../../examples/jobs.ts');
  const { stdout, stderr } = await run(process.execPath, [example], {
    env: { ...process.env, QUEUE_URL: redisUrl() },
    timeout: 60_000,
  });
  expect(stderr).toBe('');
  expect(stdout).toContain('worker process ready');
  checkJobsExample(stdout);
}, 90_000);
