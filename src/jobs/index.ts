/** Durable and embedded job queues behind one contract, opened by URL. */
export type { Listener, Unsubscribe } from './emitter.ts';
export {
  DriverMissingError,
  EvictionPolicyError,
  InvalidJobDataError,
  JobAbortedError,
  QueueClosedError,
  QueueConnectionError,
} from './errors.ts';
export { openQueue, type SchemaInput } from './open-queue.ts';
export type {
  AddOptions,
  Backoff,
  CloseOptions,
  Job,
  JobContext,
  JobCounts,
  JobEvents,
  JobHandler,
  JobInfo,
  JobProgress,
  JobQueue,
  JobWorker,
  OpenQueueOptions,
  ProcessOptions,
} from './types.ts';
