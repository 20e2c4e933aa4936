/** The concurrency floor: structured ways to run many tasks at once, bounded, timed and retried. */
export { type AsCompletedOptions, asCompleted } from './as-completed.ts';
export {
  type GatherOptions,
  type GatherResults,
  type GatherSettledResults,
  gather,
  type Task,
} from './gather.ts';
export {
  Pool,
  PoolClearedError,
  PoolClosedError,
  type PoolCloseOptions,
  PoolCloseTimeoutError,
  PoolFullError,
  type PoolOptions,
  type PoolRunOptions,
  type PoolWaitOptions,
} from './pool.ts';
export { RateLimiter, type RateLimiterAcquireOptions, type RateLimiterOptions } from './rate-limiter.ts';
export { type RetryOptions, retry } from './retry.ts';
export { type AcquireOptions, type Permit, Semaphore } from './semaphore.ts';
export { type SleepOptions, sleep } from './sleep.ts';
export {
  TaskGroup,
  TaskGroupClosedError,
  type TaskGroupCloseOptions,
  TaskGroupCloseTimeoutError,
  type TaskGroupOptions,
} from './task-group.ts';
export { TimeoutError, type TimeoutOptions, timeout } from './timeout.ts';
