/** Keel's public face: every public name, re-exported by name. */

export {
  type AcquireOptions,
  type AsCompletedOptions,
  asCompleted,
  type GatherOptions,
  type GatherResults,
  type GatherSettledResults,
  gather,
  type Permit,
  Pool,
  PoolClearedError,
  PoolClosedError,
  PoolFullError,
  type PoolOptions,
  type PoolRunOptions,
  type PoolWaitOptions,
  RateLimiter,
  type RateLimiterAcquireOptions,
  type RateLimiterOptions,
  type RetryOptions,
  retry,
  Semaphore,
  type SleepOptions,
  sleep,
  type Task,
  TaskGroup,
  TaskGroupClosedError,
  type TaskGroupOptions,
  TimeoutError,
  type TimeoutOptions,
  timeout,
} from './concurrency/index.ts';
export { InvalidArgumentError, KeelError, type KeelErrorCode, type KeelErrorOptions } from './errors.ts';
export { type Observer, Subject, type SubjectOptions, type Subscription } from './events/index.ts';
export {
  DuplicateKindError,
  type Factory,
  InvalidOptionsError,
  type RegisterOptions,
  Registry,
  UnknownKindError,
} from './registry/index.ts';
export {
  Circle,
  type CircleDimensions,
  InvalidShapeError,
  Rectangle,
  type RectangleDimensions,
  Shape,
  ShapeFactory,
  type ShapeKinds,
  type SvgOptions,
  Triangle,
  type TriangleDimensions,
} from './shapes/index.ts';
export { type Lazy, lazy, Singleton, type SingletonClass, singleton } from './singleton/index.ts';
export type { StandardSchemaV1 } from './standard-schema.ts';
