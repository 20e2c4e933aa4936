/** Container: typed tokens resolved to singleton, scoped or transient instances, with scopes and ordered disposal. */
import { raceAbort } from '../abort.ts';
import { checkOptions, checkSignal, describe } from '../errors.ts';
import { resolveAsyncIn } from './async-resolution.ts';
import { Core, checkOpen, ended, find } from './core.ts';
import { disposal, pending } from './disposal.ts';
import { DuplicateProviderError } from './errors.ts';
import { buildTransient, resolveSlow } from './resolution.ts';
import { type Disposer, type Factory, Slot, TRANSIENT } from './slot.ts';
import type { Token } from './token.ts';
import { checkRegistration } from './validation.ts';

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

/** Lists, in the order they will run, the disposers not yet finished; read by shutdownOn on a timeout. */
export const pendingDisposers: unique symbol = Symbol('keel.container.pendingDisposers');

/**
 * A dependency container. Register providers against typed tokens, resolve them, open scopes for
 * per-request instances, and dispose everything it built, last built first.
 *
 * ```ts
 * const Config = token<Config>('config');
 * const Db = token<Pool>('db');
 * await using container = new Container()
 *   .register(Config, { lifetime: 'singleton', factory: () => loadConfig() })
 *   .register(Db, { lifetime: 'singleton', factory: async (r) => connect(r.resolve(Config).url),
 *                   dispose: (pool) => pool.end() });
 * const db = await container.resolveAsync(Db);
 * ```
 */
export class Container implements Resolver, AsyncDisposable {
  // The state lives apart from this class so that resolution and disposal can each have a module.
  #core: Core = new Core(this);

  /**
   * Registers how to build `token`'s instances. A token may be registered once per container; a scope may
   * register a token its ancestors have, which then takes precedence in that scope and its descendants.
   * @throws DuplicateProviderError when `token` is registered here already and `replace` is not set.
   */
  register<T>(token: Token<T>, provider: Provider<NoInfer<T>>, options: RegistrationOptions = {}): this {
    const { kind, replace } = checkRegistration(token, provider, options);
    const core = this.#core;
    checkOpen(core, `register ${describe(token.name)}`);
    const existing = core.table.get(token);
    if (existing !== undefined && existing.registrar === core && !replace) {
      throw new DuplicateProviderError(token.name);
    }
    const { factory, dispose } = provider as Provider<unknown>;
    core.table.set(
      token,
      new Slot(token, kind, factory as Factory, dispose as Disposer, core, core, core.parent === undefined),
    );
    return this;
  }

  /**
   * Resolves `token` synchronously.
   * @throws AsyncProviderError when the provider, or one it depends on, is asynchronous and not built yet;
   *   MissingProviderError, CircularDependencyError, CaptiveDependencyError, ScopeRequiredError,
   *   ProviderFailedError, ContainerDisposedError.
   */
  resolve<T>(token: Token<T>): T {
    const core = this.#core;
    const slot = core.table.get(token);
    // A disposed container's table is empty; a scope's own table outlives a disposed ancestor, so ask it.
    if (slot !== undefined && (core.parent === undefined || !ended(core.parent))) {
      if (slot.ready) return slot.value as T;
      if (slot.kind === TRANSIENT) return buildTransient(core, slot) as T;
    }
    return resolveSlow(core, token, slot) as T;
  }

  /**
   * Resolves `token`, waiting for asynchronous providers. Concurrent first resolutions of a singleton (or of
   * a scoped token in one scope) share one run of its factory; a factory that fails is not remembered.
   */
  resolveAsync<T>(token: Token<T>, options: ResolveOptions = {}): Promise<T> {
    checkOptions('resolveAsync() options', options);
    const { signal } = options;
    checkSignal('resolveAsync() signal', signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return raceAbort(resolveAsyncIn(this.#core, token, undefined), signal) as Promise<T>;
  }

  has(token: Token<unknown>): boolean {
    return find(this.#core, token, false) !== undefined;
  }

  /**
   * A child container with its own scoped instances. It sees its ancestors' registrations; they never see
   * its own. Dispose it (or `await using` it) when the unit of work ends.
   */
  createScope(): Container {
    checkOpen(this.#core, 'create a scope');
    const scope = new Container();
    scope.#core.parent = this.#core;
    return scope;
  }

  /** Whether disposal has begun, here or in an ancestor. */
  get disposed(): boolean {
    return ended(this.#core);
  }

  /**
   * Disposes, last built first, every instance this container built (waiting for creations in flight),
   * after disposing its open scopes. Later calls return the same promise.
   * @throws DisposalError listing every disposer that failed; all the others still ran.
   */
  dispose(): Promise<void> {
    return disposal(this.#core);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** The disposers not yet finished, in the order they will run, for a shutdown that ran out of time. */
  [pendingDisposers](): string[] {
    return pending(this.#core);
  }
}
