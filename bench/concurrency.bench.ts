/**
 * Keel's Pool and gather against p-limit, p-queue and p-map, with a plain Promise.all (no limit) as the
 * floor: 10,000 tasks at concurrency 100, each awaiting (A) a resolved promise, (B) a setImmediate hop.
 */
import pLimit from 'p-limit';
import pMap from 'p-map';
import PQueue from 'p-queue';
import { gather, Pool } from '../src/index.ts';
import { type Candidate, ratio, run, target } from './harness.ts';

const N = 10_000;
const LIMIT = 100;

interface Work {
  readonly label: string;
  readonly task: () => Promise<void>;
}

const cases: readonly Work[] = [
  {
    label: 'A: each task awaits Promise.resolve()',
    task: async () => {
      await Promise.resolve();
    },
  },
  {
    label: 'B: each task awaits a setImmediate hop',
    task: async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
  },
];

/**
 * The least any pool that hands back a promise per task must do: a bare deferred per task in a flat
 * queue, and one `then` to learn when the task ends. No abort, no bound, no bookkeeping: a reference for
 * what the floor of Keel's Pool is, not something to use.
 */
class MinimalPool {
  readonly #queue: unknown[] = [];
  #head = 0;
  #running = 0;
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    this.#queue.push(fn, resolve, reject);
    if (this.#running < this.#limit) this.#start();
    return promise;
  }

  #start(): void {
    this.#running++;
    let resolve: (value: unknown) => void = () => {};
    let reject: (reason: unknown) => void = () => {};
    const onFulfilled = (value: unknown) => {
      resolve(value);
      next();
    };
    const onRejected = (reason: unknown) => {
      reject(reason);
      next();
    };
    const next = (): void => {
      const q = this.#queue;
      const h = this.#head;
      if (h === q.length) {
        this.#running--;
        q.length = this.#head = 0;
        return;
      }
      const fn = q[h] as () => Promise<unknown>;
      resolve = q[h + 1] as typeof resolve;
      reject = q[h + 2] as typeof reject;
      q[h] = q[h + 1] = q[h + 2] = undefined;
      this.#head = h + 3;
      fn().then(onFulfilled, onRejected);
    };
    next();
  }
}

function candidates({ task }: Work): Candidate[] {
  const tasks = Array.from({ length: N }, () => task);
  const items = Array.from({ length: N }, (_, i) => i);
  const pool = new Pool({ concurrency: LIMIT });
  const minimal = new MinimalPool(LIMIT);
  const limit = pLimit(LIMIT);
  const queue = new PQueue({ concurrency: LIMIT });
  return [
    {
      name: 'Promise.all',
      run: async (n) => {
        for (let i = 0; i < n; i++) await Promise.all(tasks.map((t) => t()));
      },
    },
    {
      // The hand-written floor for a limit: LIMIT async workers pulling the next index.
      name: 'hand-written workers',
      run: async (n) => {
        for (let i = 0; i < n; i++) {
          const results = new Array(N);
          let next = 0;
          const worker = async () => {
            while (next < N) {
              const index = next++;
              results[index] = await (tasks[index] as () => Promise<void>)();
            }
          };
          await Promise.all(Array.from({ length: LIMIT }, worker));
        }
      },
    },
    {
      name: 'keel gather',
      run: async (n) => {
        for (let i = 0; i < n; i++) await gather(tasks);
      },
    },
    {
      name: 'keel gather (limit)',
      run: async (n) => {
        for (let i = 0; i < n; i++) await gather(tasks, { concurrency: LIMIT });
      },
    },
    {
      name: 'keel Pool',
      run: async (n) => {
        for (let i = 0; i < n; i++) await Promise.all(tasks.map((t) => pool.run(t)));
      },
    },
    {
      name: 'minimal pool (reference)',
      run: async (n) => {
        for (let i = 0; i < n; i++) await Promise.all(tasks.map((t) => minimal.run(t)));
      },
    },
    {
      name: 'p-limit',
      run: async (n) => {
        for (let i = 0; i < n; i++) await Promise.all(tasks.map((t) => limit(t)));
      },
    },
    {
      name: 'p-queue',
      run: async (n) => {
        for (let i = 0; i < n; i++) await Promise.all(tasks.map((t) => queue.add(t)));
      },
    },
    {
      name: 'p-map',
      run: async (n) => {
        for (let i = 0; i < n; i++) await pMap(items, () => task(), { concurrency: LIMIT });
      },
    },
  ];
}

export default async function (): Promise<void> {
  for (const work of cases) {
    const results = await run({
      title: `${work.label} — ${N.toLocaleString('en')} tasks, limit ${LIMIT}`,
      unit: 'batch',
      baseline: 'Promise.all',
      subject: 'keel Pool',
      heap: true,
      rounds: 21,
      candidates: candidates(work),
    });
    const perTask = results.map((r) => `${r.name} ${(r.medianNs / N).toFixed(0)} ns`).join(', ');
    console.log(`Per task: ${perTask}.\n`);
    const heap = (name: string): number =>
      (results.find((r) => r.name === name)?.heapBytes ?? Number.NaN) /
      (results.find((r) => r.name === 'Promise.all')?.heapBytes ?? Number.NaN);
    // On a shared machine the best sample is the one least disturbed by other work: print both ratios.
    const best = (a: string, b: string): number =>
      (results.find((r) => r.name === a)?.minNs ?? Number.NaN) /
      (results.find((r) => r.name === b)?.minNs ?? Number.NaN);
    const gatherLimit = 'keel gather (limit)';
    target('gather (limit) time vs Promise.all, medians', ratio(results, gatherLimit, 'Promise.all'), 1.5);
    target('gather (limit) time vs Promise.all, bests', best(gatherLimit, 'Promise.all'), 1.5);
    target('Pool time vs Promise.all, medians', ratio(results, 'keel Pool', 'Promise.all'), 2);
    target('Pool time vs Promise.all, bests', best('keel Pool', 'Promise.all'), 2);
    target('p-limit time vs Pool, medians', ratio(results, 'p-limit', 'keel Pool'), 2, 'at least');
    target('p-limit time vs Pool, bests', best('p-limit', 'keel Pool'), 2, 'at least');
    target('gather (limit) heap vs Promise.all', heap(gatherLimit), 1.5);
    target('Pool heap vs Promise.all', heap('keel Pool'), 1.5);
    console.log('');
  }
}
