/** Helpers shared by the sections of the JobQueue contract suite. */
import type { StandardSchemaV1 } from '../../standard-schema.ts';
import type { JobEvents, JobQueue, OpenQueueOptions } from '../types.ts';

export type OpenForTest = (options?: OpenQueueOptions) => Promise<JobQueue<any, any>>;

/** Opens a queue that the suite closes after each test. */
export type Fresh = (options?: OpenQueueOptions) => Promise<JobQueue<any, any>>;

/** Resolves with the first `event` payload that matches `match`. */
export function next<E extends keyof JobEvents>(
  queue: JobQueue<any, any>,
  event: E,
  match: (payload: JobEvents[E]) => boolean = () => true,
): Promise<JobEvents[E]> {
  return new Promise((resolve) => {
    const off = queue.on(event, (payload) => {
      if (!match(payload)) return;
      off();
      resolve(payload);
    });
  });
}

/** Resolves once `count` jobs have completed, with their ids in completion order. */
export function completions(queue: JobQueue<any, any>, count: number): Promise<string[]> {
  const ids: string[] = [];
  return new Promise((resolve) => {
    const off = queue.on('completed', ({ job }) => {
      ids.push(job.id);
      if (ids.length === count) {
        off();
        resolve(ids);
      }
    });
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A Standard Schema written out by hand: `{ to: string, tries?: number }`, filling `tries` with 0. */
export const Email: StandardSchemaV1<{ to: string; tries?: number }, { to: string; tries: number }> = {
  '~standard': {
    version: 1,
    vendor: 'contract-test',
    validate(value) {
      const v = value as { to?: unknown; tries?: unknown } | null;
      if (typeof v !== 'object' || v === null || typeof v.to !== 'string') {
        return { issues: [{ message: 'expected a string', path: ['to'] }] };
      }
      return { value: { to: v.to, tries: typeof v.tries === 'number' ? v.tries : 0 } };
    },
  },
};

/** Queue names both queues refuse alike: outside A-Z a-z 0-9 . _ -, empty, or longer than 100. */
export const badQueueNames: readonly unknown[] = [
  '',
  'a:b',
  'with space',
  'emails/eu',
  'naïve',
  '{tag}',
  'x'.repeat(101),
  42,
];
