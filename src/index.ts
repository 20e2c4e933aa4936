/** Keel's public face: every public name, re-exported by name. */

export { type GatherOptions, type GatherResults, gather, type Task } from './concurrency/index.ts';
export {
  AsyncProviderError,
  CaptiveDependencyError,
  CircularDependencyError,
  Container,
  ContainerDisposedError,
  DisposalError,
  type DisposalFailure,
  DuplicateProviderError,
  type Lifetime,
  MissingProviderError,
  type Provider,
  ProviderFailedError,
  type RegistrationOptions,
  ResolutionError,
  type ResolveOptions,
  type Resolver,
  ScopeRequiredError,
  type ShutdownHandle,
  ShutdownInterruptedError,
  type ShutdownOptions,
  ShutdownTimeoutError,
  shutdownOn,
  type Token,
  token,
} from './container/index.ts';
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
