/**
 * The one test suite every JobQueue implementation must pass: `runJobQueueContract('memory', open)`, where
 * `open(options)` returns a fresh, empty queue (a unique name per call) and the caller cleans up after it.
 */
import { afterEach, describe } from 'vitest';
import { addAndProcess } from './contract/add-process.ts';
import { eventsAndClose } from './contract/events-close.ts';
import type { OpenForTest } from './contract/helpers.ts';
import { inspectAndManage } from './contract/inspect-manage.ts';
import { retriesAndDelays } from './contract/retries-delays.ts';
import { schedules } from './contract/schedules.ts';
import { validation } from './contract/validation.ts';
import type { JobQueue, OpenQueueOptions } from './types.ts';

export type { OpenForTest } from './contract/helpers.ts';

export function runJobQueueContract(label: string, open: OpenForTest): void {
  describe(`JobQueue contract: ${label}`, { timeout: 20_000 }, () => {
    const opened: JobQueue<any, any>[] = [];
    const fresh = async (options?: OpenQueueOptions) => {
      const queue = await open(options);
      opened.push(queue);
      return queue;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((q) => q.close({ timeoutMs: 0 })));
    });

    addAndProcess(fresh, open);
    retriesAndDelays(fresh, open);
    validation(fresh, open);
    eventsAndClose(fresh, open);
    inspectAndManage(fresh, open);
    schedules(fresh, open);
  });
}
