/** Durable and embedded job queues behind one contract, opened by URL. */
export type { Listener as JobListener, Unsubscribe } from './emitter.ts';
export {
  CronParserMissingError,
  EvictionPolicyError,
  InvalidJobDataError,
  JobAbortedError,
  QueueAuthenticationError,
  QueueClosedError,
  QueueConnectionError,
  QueueDriverMissingError,
} from './errors.ts';
export { openQueue, type SchemaInput } from './open-queue.ts';
export type {
  AddOptions,
  Backoff,
  CloseOptions,
  CountsOptions,
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
  Rhythm,
  ScheduleInfo,
  ScheduleOptions,
} from './types.ts';
