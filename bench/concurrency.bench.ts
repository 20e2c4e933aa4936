/**
 * Keel's Pool and gather against p-limit, p-queue and p-map, with a plain Promise.all (no limit) as the
 * floor: 10,000 tasks at concurrency 100, each awaiting (A) a resolved promise, (B) a setImmediate hop.
 * Pool and p-limit both run each queued task in its caller's async context; the run checks that first.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pLimit from 'p-limit';
import pMap from 'p-map';
import PQueue from 'p-queue';
import { gather, Pool } from '../src/index.ts';
import { type Candidate, run, spread, target } from './harness.ts';

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

/** Whether a limiter at concurrency 1 runs every queued task in the async context of its own caller. */
async function keepsContext(limit: (task: () => Promise<unknown>) => Promise<unknown>): Promise<boolean> {
  const store = new AsyncLocalStorage<number>();
  const seen = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      store.run(i, () =>
        limit(async () => {
          await Promise.resolve();
          return store.getStore();
        }),
      ),
    ),
  );
  return seen.every((value, i) => value === i);
}

export default async function (): Promise<void> {
  const pool = new Pool({ concurrency: 1 });
  const limit = pLimit(1);
  const yes = (ok: boolean): string => (ok ? 'yes' : '**no**');
  console.log(
    `Each queued task runs in its caller's async context: keel Pool ${yes(await keepsContext((t) => pool.run(t)))}, ` +
      `p-limit ${yes(await keepsContext((t) => limit(t)))}.\n`,
  );
  for (const work of cases) {
    const results = await run({
      title: `${work.label} — ${N.toLocaleString('en')} tasks, limit ${LIMIT}`,
      unit: 'batch',
      baseline: 'Promise.all',
      subject: 'keel Pool',
      heap: true,
      rounds: 21,
      // Both cases keep the CPU busy throughout (no idle waits), so CPU time measures them, and it is far
      // less disturbed than elapsed time by other work on a shared machine.
      clock: 'cpu',
      candidates: candidates(work),
    });
    const perTask = results.map((r) => `${r.name} ${(r.medianNs / N).toFixed(0)} ns`).join(', ');
    console.log(`Per task: ${perTask}.\n`);
    const heap = (name: string): number =>
      (results.find((r) => r.name === name)?.heapBytes ?? Number.NaN) /
      (results.find((r) => r.name === 'Promise.all')?.heapBytes ?? Number.NaN);
    const gatherLimit = 'keel gather (limit)';
    target('gather (limit) time vs Promise.all', spread(results, gatherLimit, 'Promise.all'), 1.5);
    target('Pool time vs Promise.all', spread(results, 'keel Pool', 'Promise.all'), 3);
    target('p-limit time vs Pool', spread(results, 'p-limit', 'keel Pool'), 2, 'at least');
    target('gather (limit) heap vs Promise.all', heap(gatherLimit), 1.5);
    target('Pool heap vs Promise.all', heap('keel Pool'), 1.5);
    console.log('');
  }
}
