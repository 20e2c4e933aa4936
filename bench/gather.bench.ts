/** gather() with and without a limit against a plain Promise.all, for the classic "many tasks" case. */
import { gather } from '../src/index.ts';
import { ratio, run, target } from './harness.ts';

const N = 1000;
const work = () => Promise.resolve(1);
const tasks = Array.from({ length: N }, () => work);

export default async function (): Promise<void> {
  const results = await run({
    title: `${N} tasks awaiting Promise.resolve()`,
    unit: 'batch',
    baseline: 'Promise.all',
    subject: 'keel gather',
    heap: true,
    candidates: [
      {
        name: 'Promise.all',
        run: async (n) => {
          for (let i = 0; i < n; i++) await Promise.all(tasks.map((t) => t()));
        },
      },
      {
        name: 'keel gather',
        run: async (n) => {
          for (let i = 0; i < n; i++) await gather(tasks);
        },
      },
      {
        name: 'keel gather (concurrency 100)',
        run: async (n) => {
          for (let i = 0; i < n; i++) await gather(tasks, { concurrency: 100 });
        },
      },
    ],
  });
  target(
    'gather (concurrency 100) vs Promise.all',
    ratio(results, 'keel gather (concurrency 100)', 'Promise.all'),
    1.5,
  );
}
