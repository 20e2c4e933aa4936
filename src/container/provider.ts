/** Providers: lifetimes, what a factory receives, and the checks on `register()`'s arguments. */
import { checkFunction, checkOptions, describe, InvalidArgumentError } from '../errors.ts';
import { Token } from './token.ts';

/** How long an instance lives: one per container tree, one per scope, or a new one per resolution. */
export type Lifetime = 'singleton' | 'scoped' | 'transient';

export interface ResolveOptions {
  /** Stops this caller's wait; a shared initialisation other callers wait for goes on. */
  readonly signal?: AbortSignal | undefined;
}

/** What a factory receives to resolve its own dependencies. */
export interface Resolver {
  /** Resolves a token whose provider (and its dependencies' providers) are synchronous. */
  resolve<T>(token: Token<T>): T;
  /** Resolves any token, waiting for asynchronous providers. */
  resolveAsync<T>(token: Token<T>, options?: ResolveOptions): Promise<T>;
  /** Whether a provider for `token` is registered here or in an ancestor. */
  has(token: Token<unknown>): boolean;
}

/** How to build the instances a token stands for. */
export interface Provider<T> {
  readonly lifetime: Lifetime;
  /** Builds an instance; may return a promise (then the token needs `resolveAsync`). */
  readonly factory: (resolver: Resolver) => T | PromiseLike<T>;
  /**
   * Releases an instance when its container is disposed. Without it, an instance's own
   * `Symbol.asyncDispose` or `Symbol.dispose` is used, if it has one.
   */
  readonly dispose?: ((instance: T) => void | PromiseLike<void>) | undefined;
}

export interface RegistrationOptions {
  /**
   * Replace a provider already registered for the token in this container. Instances already built stay
   * alive until the container is disposed.
   * @default false
   */
  readonly replace?: boolean | undefined;
}

// Lifetimes as small integers, so the hot path compares numbers.
export const SINGLETON = 0;
export const SCOPED = 1;
export const TRANSIENT = 2;
export type Kind = typeof SINGLETON | typeof SCOPED | typeof TRANSIENT;

const kinds = new Map<unknown, Kind>([
  ['singleton', SINGLETON],
  ['scoped', SCOPED],
  ['transient', TRANSIENT],
]);

const registrationOptions = ['replace'] as const;

/** What `register()` was asked, checked: the provider's lifetime and whether replacing was asked for. */
export interface Registration {
  readonly kind: Kind;
  readonly replace: boolean;
}

/** Checks `register()`'s arguments; each failure names the argument, what it allows and what came. */
export function checkRegistration(token: unknown, provider: unknown, options: unknown): Registration {
  checkToken('Container.register()', token);
  const kind = checkProvider(token.name, provider);
  checkOptions('Container.register() options', options, registrationOptions);
  const { replace = false } = (options ?? {}) as { replace?: unknown };
  if (typeof replace !== 'boolean') {
    throw new InvalidArgumentError(
      `Container.register() replace must be a boolean; received ${describe(replace)}`,
    );
  }
  return { kind, replace };
}

const providerKeys = ['lifetime', 'factory', 'dispose'];

function checkProvider(name: string, provider: unknown): Kind {
  const where = `Container.register() provider for ${describe(name)}`;
  if (provider === null || typeof provider !== 'object' || Array.isArray(provider)) {
    throw new InvalidArgumentError(`${where} must be an object; received ${describe(provider)}`);
  }
  // A misspelt key (`dispos`, `lifeTime`) would otherwise be ignored, and a disposer silently never run.
  checkOptions(where, provider, providerKeys);
  const { lifetime, factory, dispose } = provider as Record<string, unknown>;
  const kind = kinds.get(lifetime);
  if (kind === undefined) {
    throw new InvalidArgumentError(
      `Container.register() lifetime for ${describe(name)} must be 'singleton', 'scoped' or 'transient'; ` +
        `received ${describe(lifetime)}`,
    );
  }
  checkFunction(`Container.register() factory for ${describe(name)}`, factory);
  if (dispose !== undefined) checkFunction(`Container.register() dispose for ${describe(name)}`, dispose);
  return kind;
}

/** @throws InvalidArgumentError when `token` was not made by `token()`. */
export function checkToken(where: string, token: unknown): asserts token is Token<unknown> {
  if (!(token instanceof Token)) {
    throw new InvalidArgumentError(`${where} token must be made by token(); received ${describe(token)}`);
  }
}
