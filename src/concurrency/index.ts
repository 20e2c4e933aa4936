/** The concurrency floor: structured ways to run many tasks at once. */
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
  PoolFullError,
  type PoolOptions,
  type PoolRunOptions,
  type PoolWaitOptions,
} from './pool.ts';
