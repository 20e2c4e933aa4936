import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('npm run demo prints the classic demo’s lines, in order, and the ten tasks take about one second', async () => {
  const { stdout } = await run(process.execPath, [join(import.meta.dirname, '..', 'examples', 'demo.ts')]);
  const lines = stdout.trim().split('\n');
  expect(lines.slice(0, 4)).toEqual([
    'Drawing a circle.',
    'Drawing a rectangle.',
    'Drawing a triangle.',
    'Received message: Hello, world!',
  ]);
  const results = lines.slice(4, -1).join('\n');
  expect(results).toBe(
    `[\n${Array.from({ length: 10 }, (_, i) => `  'Processed Data ${i}'`).join(',\n')}\n]`,
  );
  // Ten one-second tasks run concurrently: about one second of wall time, far from ten.
  const elapsed = Number(/^Elapsed: ([\d.]+) s$/.exec(lines.at(-1) ?? '')?.[1]);
  expect(elapsed).toBeGreaterThanOrEqual(0.99);
  expect(elapsed).toBeLessThan(5);
});
