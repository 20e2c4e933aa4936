/** The container floor: typed tokens, lifetimes, scopes, ordered disposal and graceful shutdown. */
export {
  Container,
  type Lifetime,
  type Provider,
  type RegistrationOptions,
  type ResolveOptions,
  type Resolver,
} from './container.ts';
export {
  AsyncProviderError,
  CaptiveDependencyError,
  CircularDependencyError,
  ContainerDisposedError,
  DisposalError,
  type DisposalFailure,
  DuplicateProviderError,
  MissingProviderError,
  ProviderFailedError,
  ResolutionError,
  ScopeRequiredError,
  ShutdownInterruptedError,
  ShutdownTimeoutError,
} from './errors.ts';
export { type ShutdownHandle, type ShutdownOptions, shutdownOn } from './shutdown.ts';
export { type Token, token } from './token.ts';
