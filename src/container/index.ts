/** The container floor: typed tokens, lifetimes, scopes, ordered disposal and graceful shutdown. */
export { Container, type DisposeOptions } from './container.ts';
export {
  AsyncProviderError,
  CaptiveDependencyError,
  CircularDependencyError,
  ContainerDisposedError,
  DisposalError,
  type DisposalFailure,
  DisposalTimeoutError,
  DuplicateProviderError,
  MissingProviderError,
  ProviderFailedError,
  ResolutionError,
  ScopeRequiredError,
  ShutdownInterruptedError,
  ShutdownTimeoutError,
} from './errors.ts';
export type {
  Lifetime,
  Provider,
  RegistrationOptions,
  ResolveOptions,
  Resolver,
} from './provider.ts';
export { type ShutdownHandle, type ShutdownOptions, shutdownOn } from './shutdown.ts';
export { type Token, token } from './token.ts';
