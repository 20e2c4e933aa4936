import { expectTypeOf, test } from 'vitest';
import type { StandardSchemaV1 } from '../standard-schema.ts';
import { openQueue } from './open-queue.ts';
import type { JobEvents, JobQueue } from './types.ts';

declare const Email: StandardSchemaV1<{ to: string; tries?: number }, { to: string; tries: number }>;

test('a schema types what add accepts and what the handler receives', async () => {
  const queue = await openQueue('memory://', 'emails', { schema: Email });
  expectTypeOf(queue).toEqualTypeOf<
    JobQueue<{ to: string; tries?: number }, { to: string; tries: number }>
  >();
  expectTypeOf(queue.add).parameter(1).toEqualTypeOf<{ to: string; tries?: number }>();
  await queue.process((job) => {
    expectTypeOf(job.data).toEqualTypeOf<{ to: string; tries: number }>();
  });
});

test('without a schema the data type is given explicitly, or unknown', async () => {
  const numbers = await openQueue<number>('memory://', 'numbers');
  expectTypeOf(numbers.add).parameter(1).toEqualTypeOf<number>();
  const anything = await openQueue('memory://', 'anything');
  expectTypeOf(anything.add).parameter(1).toEqualTypeOf<unknown>();
});

test('events are typed by name', async () => {
  const queue = await openQueue('memory://', 'events');
  queue.on('failed', (e) => {
    expectTypeOf(e).toEqualTypeOf<JobEvents['failed']>();
    expectTypeOf(e.willRetry).toEqualTypeOf<boolean>();
  });
  // @ts-expect-error: no such event
  queue.on('finished', () => {});
});
