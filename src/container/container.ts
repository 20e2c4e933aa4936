/** Container: typed tokens resolved to singleton, scoped or transient instances, with scopes and ordered disposal. */
import { raceAbort } from '../abort.ts';
import { checkSignal, describe, InvalidArgumentError } from '../errors.ts';
import { annotate, Context, connect, failure, pathOf, stack } from './context.ts';
import {
  AsyncProviderError,
  CaptiveDependencyError,
  CircularDependencyError,
  ContainerDisposedError,
  DisposalError,
  type DisposalFailure,
  DuplicateProviderError,
  MissingProviderError,
  ScopeRequiredError,
} from './errors.ts';
import {
  asyncDisposeKey,
  checkProvider,
  checkToken,
  type Disposer,
  disposeKey,
  disposerFor,
  type Entry,
  type Factory,
  ignore,
  isThenable,
  SCOPED,
  Slot,
  TRANSIENT,
} from './slot.ts';
import type { Token } from './token.ts';

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
  #table = new Map<Token<unknown>, Slot>();
  #parent: Container | undefined = undefined;
  /** Child scopes that hold something to dispose; others are not kept, so an undisposed scope can be collected. */
  #children: Set<Container> | undefined = undefined;
  #attached = false;
  #entries: Entry[] = [];
  /** Creations in flight whose instances this container will own, by the token they build. */
  #inflight: Map<Promise<unknown>, Token<unknown>> | undefined = undefined;
  #disposed = false;
  #disposal: Promise<void> | undefined = undefined;
  #phase: 'open' | 'creations' | 'scopes' | 'instances' | 'done' = 'open';
  #cursor = -1;
  #currentChild: Container | undefined = undefined;

  static {
    connect((container, token, context) => container.#resolveAsyncIn(token, context));
  }

  /**
   * Registers how to build `token`'s instances. A token may be registered once per container; a scope may
   * register a token its ancestors have, which then takes precedence in that scope and its descendants.
   * @throws DuplicateProviderError when `token` is registered here already and `replace` is not set.
   */
  register<T>(token: Token<T>, provider: Provider<NoInfer<T>>, options: RegistrationOptions = {}): this {
    checkToken('register()', token);
    const kind = checkProvider(token.name, provider);
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError(`register() options must be an object; received ${describe(options)}`);
    }
    const { replace = false } = options;
    if (typeof replace !== 'boolean') {
      throw new InvalidArgumentError(`register() replace must be a boolean; received ${describe(replace)}`);
    }
    if (this.#disposed) throw new ContainerDisposedError(`register ${describe(token.name)}`);
    const existing = this.#table.get(token);
    if (existing !== undefined && existing.registrar === this && !replace) {
      throw new DuplicateProviderError(token.name);
    }
    const { factory, dispose } = provider as Provider<unknown>;
    this.#table.set(
      token,
      new Slot(token, kind, factory as Factory, dispose as Disposer, this, this, this.#parent === undefined),
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
    const slot = this.#table.get(token);
    if (slot !== undefined) {
      if (slot.ready) return slot.value as T;
      if (slot.kind === TRANSIENT) return this.#buildTransient(slot) as T;
    }
    return this.#resolveSlow(token, slot) as T;
  }

  /**
   * Resolves `token`, waiting for asynchronous providers. Concurrent first resolutions of a singleton (or of
   * a scoped token in one scope) share one run of its factory; a factory that fails is not remembered.
   */
  resolveAsync<T>(token: Token<T>, options: ResolveOptions = {}): Promise<T> {
    const { signal } = options;
    checkSignal('resolveAsync() signal', signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return raceAbort(this.#resolveAsyncIn(token, undefined), signal) as Promise<T>;
  }

  has(token: Token<unknown>): boolean {
    return this.#find(token, false) !== undefined;
  }

  /**
   * A child container with its own scoped instances. It sees its ancestors' registrations; they never see
   * its own. Dispose it (or `await using` it) when the unit of work ends.
   */
  createScope(): Container {
    if (this.#disposed) throw new ContainerDisposedError('create a scope');
    const scope = new Container();
    scope.#parent = this;
    return scope;
  }

  /** Whether disposal has begun. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Disposes, last built first, every instance this container built (waiting for creations in flight),
   * after disposing its open scopes. Later calls return the same promise.
   * @throws DisposalError listing every disposer that failed; all the others still ran.
   */
  dispose(): Promise<void> {
    this.#disposal ??= this.#runDisposal();
    return this.#disposal;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** The disposers not yet finished, in the order they will run, for a shutdown that ran out of time. */
  [pendingDisposers](): string[] {
    const pending: string[] = [];
    if (this.#phase === 'done') return pending;
    if (this.#phase === 'open' || this.#phase === 'creations') {
      for (const token of this.#inflight?.values() ?? []) pending.push(`${token.name} (being created)`);
    }
    if (this.#phase !== 'instances') {
      const children = [...(this.#children ?? [])].reverse();
      if (this.#currentChild !== undefined && !children.includes(this.#currentChild)) {
        children.unshift(this.#currentChild);
      }
      for (const child of children) pending.push(...child[pendingDisposers]());
    }
    const last = this.#phase === 'instances' ? this.#cursor : this.#entries.length - 1;
    for (let i = last; i >= 0; i--) pending.push((this.#entries[i] as Entry).token.name);
    return pending;
  }

  /** Everything `resolve` does beyond returning a cached value. */
  #resolveSlow(token: Token<unknown>, slot: Slot | undefined): unknown {
    if (slot !== undefined) {
      if (slot.kind === TRANSIENT) return this.#buildTransient(slot);
      if (slot.kind === SCOPED) {
        if (stack.singletons > 0) throw new CaptiveDependencyError([slot.token]);
        if (this.#parent === undefined) throw new ScopeRequiredError([slot.token]);
      }
      return this.#buildShared(slot);
    }
    checkToken('resolve()', token);
    const found = this.#locate(token);
    if (found.kind === TRANSIENT) return this.#buildTransient(found);
    if (found.ready) return found.value;
    if (found.kind === SCOPED && stack.singletons > 0) throw new CaptiveDependencyError([token]);
    return found.owner.#buildShared(found);
  }

  /**
   * Finds the slot that serves `token` here when this container's table has none: an ancestor's
   * registration, or for a scoped one, this scope's own new instance slot.
   */
  #locate(token: Token<unknown>): Slot {
    if (this.#disposed) throw new ContainerDisposedError(`resolve ${describe(token.name)}`);
    const registration = this.#parent === undefined ? undefined : this.#parent.#find(token, true);
    if (registration === undefined) throw new MissingProviderError([token]);
    if (registration.kind !== SCOPED) return registration;
    if (stack.singletons > 0) throw new CaptiveDependencyError([token]);
    const slot = new Slot(
      token,
      SCOPED,
      registration.factory,
      registration.dispose,
      this,
      registration.registrar,
      false,
    );
    slot.async = registration.async;
    this.#table.set(token, slot);
    return slot;
  }

  /** The registration for `token` in this container or the nearest ancestor that has one. */
  #find(token: Token<unknown>, strict: boolean): Slot | undefined {
    for (let c: Container | undefined = this; c !== undefined; c = c.#parent) {
      if (c.#disposed) {
        if (strict) throw new ContainerDisposedError(`resolve ${describe(token.name)}`);
        return undefined;
      }
      const slot = c.#table.get(token);
      if (slot !== undefined && slot.registrar === c) return slot;
    }
    return undefined;
  }

  /** Builds a singleton or scoped instance and caches it on its slot (this container is the slot's owner). */
  #buildShared(slot: Slot): unknown {
    if (slot.resolving) throw new CircularDependencyError([slot.token]);
    if (slot.async || slot.pending !== undefined) throw new AsyncProviderError([slot.token]);
    const captor = slot.captor;
    let value: unknown;
    slot.resolving = true;
    if (captor) stack.singletons++;
    try {
      value = slot.factory(this);
    } catch (error) {
      throw annotate(error, slot);
    } finally {
      slot.resolving = false;
      if (captor) stack.singletons--;
    }
    if (isThenable(value)) {
      // Keep the creation that has started, so a later resolveAsync shares it instead of starting another.
      slot.async = true;
      this.#startShared(slot, value, undefined).catch(ignore);
      throw new AsyncProviderError([slot.token]);
    }
    this.#keep(slot, value);
    return value;
  }

  /** Builds a transient instance for this container, which disposes it if it is disposable. */
  #buildTransient(slot: Slot): unknown {
    if (slot.resolving) throw new CircularDependencyError([slot.token]);
    if (slot.async) throw new AsyncProviderError([slot.token]);
    let value: unknown;
    slot.resolving = true;
    try {
      value = slot.factory(this);
    } catch (error) {
      slot.resolving = false;
      throw annotate(error, slot);
    }
    slot.resolving = false;
    if (value !== null && typeof value === 'object') {
      if (typeof (value as { then?: unknown }).then === 'function') {
        slot.async = true;
        this.#startTransient(slot, value as PromiseLike<unknown>, undefined).catch(ignore);
        throw new AsyncProviderError([slot.token]);
      }
      if (
        slot.dispose !== undefined ||
        (value as Partial<AsyncDisposable>)[asyncDisposeKey] !== undefined ||
        (value as Partial<Disposable>)[disposeKey] !== undefined
      ) {
        this.#track(slot, value);
      }
    } else if (slot.dispose !== undefined || typeof value === 'function') {
      this.#track(slot, value);
    }
    return value;
  }

  /** Caches a built singleton or scoped value on its slot and takes charge of disposing it. */
  #keep(slot: Slot, value: unknown): void {
    slot.value = value;
    slot.ready = true;
    this.#track(slot, value);
  }

  #track(slot: Slot, value: unknown): void {
    const run = disposerFor(slot, value);
    if (run === undefined) return;
    this.#entries.push({ token: slot.token, run });
    this.#attach();
  }

  /** Makes the ancestors keep this scope until it is disposed, because it now holds something to dispose. */
  #attach(): void {
    for (let c: Container = this; c.#parent !== undefined && !c.#attached; c = c.#parent) {
      c.#attached = true;
      c.#parent.#children ??= new Set();
      c.#parent.#children.add(c);
    }
  }

  #resolveAsyncIn(token: Token<unknown>, context: Context | undefined): Promise<unknown> {
    try {
      let slot = this.#table.get(token);
      if (slot?.ready) return Promise.resolve(slot.value);
      if (slot === undefined) {
        checkToken('resolveAsync()', token);
        if (this.#disposed) throw new ContainerDisposedError(`resolve ${describe(token.name)}`);
        const registration = this.#parent === undefined ? undefined : this.#parent.#find(token, true);
        if (registration === undefined) throw new MissingProviderError([...pathOf(context), token]);
        if (registration.kind === SCOPED) {
          this.#checkCaptive(token, context);
          slot = this.#locate(token);
        } else slot = registration;
      } else if (slot.kind === SCOPED) {
        this.#checkCaptive(token, context);
        if (this.#parent === undefined) throw new ScopeRequiredError([...pathOf(context), token]);
      }
      if (slot.ready) return Promise.resolve(slot.value);
      this.#checkCycle(slot, context);
      if (slot.kind === TRANSIENT) return this.#startTransient(slot, undefined, context);
      if (slot.owner.#disposed) throw new ContainerDisposedError(`resolve ${describe(token.name)}`);
      if (slot.pending !== undefined) return this.#join(slot, context);
      return slot.owner.#startShared(slot, undefined, context);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #checkCaptive(token: Token<unknown>, context: Context | undefined): void {
    for (let c = context; c !== undefined; c = c.parent) {
      if (c.slot.captor) throw new CaptiveDependencyError([...pathOf(context), token], c.slot.token);
    }
    if (stack.singletons > 0) throw new CaptiveDependencyError([...pathOf(context), token]);
  }

  #checkCycle(slot: Slot, context: Context | undefined): void {
    for (let c = context; c !== undefined; c = c.parent) {
      if (c.slot === slot) {
        const path = [...pathOf(context), slot.token];
        throw new CircularDependencyError(path, path.indexOf(slot.token));
      }
    }
  }

  /**
   * Waits for a creation already in flight. If that creation is itself waiting, directly or not, for one
   * of the creations that led here, waiting would never end: that is a cycle, reported as one.
   */
  #join(slot: Slot, context: Context | undefined): Promise<unknown> {
    const pending = slot.pending as Promise<unknown>;
    if (context === undefined) return pending;
    const chain = new Set<Slot>();
    for (let c: Context | undefined = context; c !== undefined; c = c.parent) chain.add(c.slot);
    const route: Slot[] = [];
    const seen = new Set<Slot>();
    const search = (from: Slot): Slot | undefined => {
      if (chain.has(from)) return from;
      if (seen.has(from)) return undefined;
      seen.add(from);
      route.push(from);
      for (const next of from.waits ?? []) {
        const hit = search(next);
        if (hit !== undefined) return hit;
      }
      route.pop();
      return undefined;
    };
    const hit = search(slot);
    if (hit !== undefined) {
      const before = pathOf(context);
      const start = before.lastIndexOf(hit.token);
      throw new CircularDependencyError([...before, ...route.map((s) => s.token), hit.token], start);
    }
    this.#waitFor(context, slot, pending);
    return pending;
  }

  /** Records that `context`'s creation waits for `slot`'s, until that settles. */
  #waitFor(context: Context | undefined, slot: Slot, pending: Promise<unknown>): void {
    if (context === undefined) return;
    const waiter = context.slot;
    const waits = (waiter.waits ??= new Set());
    waits.add(slot);
    const release = (): void => {
      waits.delete(slot);
    };
    pending.then(release, release);
  }

  /**
   * Runs a singleton or scoped factory for an asynchronous resolution (or adopts the promise a synchronous
   * one got) and shares the result through `slot.pending` until it settles. This container owns the slot.
   */
  #startShared(slot: Slot, started: PromiseLike<unknown> | undefined, context: Context | undefined) {
    let result: unknown = started;
    let resolver: Context | undefined;
    if (started === undefined) {
      resolver = new Context(this, slot, context);
      result = this.#run(slot, resolver, context);
      if (!isThenable(result)) {
        resolver.done = true;
        this.#keep(slot, result);
        return Promise.resolve(result);
      }
    }
    const promise: Promise<unknown> = Promise.resolve(result).then(
      (value) => {
        this.#settled(promise, resolver);
        if (slot.pending === promise) slot.pending = undefined;
        if (this.#disposed) {
          this.#track(slot, value);
          throw new ContainerDisposedError(`resolve ${describe(slot.token.name)}`);
        }
        this.#keep(slot, value);
        return value;
      },
      (error: unknown) => {
        this.#settled(promise, resolver);
        if (slot.pending === promise) slot.pending = undefined;
        throw failure(error, slot, context);
      },
    );
    slot.pending = promise;
    this.#inflightAdd(promise, slot.token);
    this.#waitFor(context, slot, promise);
    return promise;
  }

  /** Runs a transient factory for an asynchronous resolution (or adopts a promise a synchronous one got). */
  #startTransient(slot: Slot, started: PromiseLike<unknown> | undefined, context: Context | undefined) {
    let result: unknown = started;
    let resolver: Context | undefined;
    if (started === undefined) {
      resolver = new Context(this, slot, context);
      result = this.#run(slot, resolver, context);
      if (!isThenable(result)) {
        resolver.done = true;
        this.#track(slot, result);
        return Promise.resolve(result);
      }
    }
    const promise: Promise<unknown> = Promise.resolve(result).then(
      (value) => {
        this.#settled(promise, resolver);
        this.#track(slot, value);
        if (this.#disposed) throw new ContainerDisposedError(`resolve ${describe(slot.token.name)}`);
        return value;
      },
      (error: unknown) => {
        this.#settled(promise, resolver);
        throw failure(error, slot, context);
      },
    );
    this.#inflightAdd(promise, slot.token);
    this.#waitFor(context, slot, promise);
    return promise;
  }

  /** A creation this container will own is in flight: its disposal (and its ancestors') must wait for it. */
  #inflightAdd(promise: Promise<unknown>, token: Token<unknown>): void {
    (this.#inflight ??= new Map()).set(promise, token);
    this.#attach();
  }

  /** Calls a factory on behalf of an asynchronous resolution; its synchronous part counts like `resolve`'s. */
  #run(slot: Slot, resolver: Context, context: Context | undefined): unknown {
    const captor = slot.captor;
    slot.resolving = true;
    if (captor) stack.singletons++;
    try {
      return slot.factory(resolver);
    } catch (error) {
      resolver.done = true;
      throw failure(error, slot, context);
    } finally {
      slot.resolving = false;
      if (captor) stack.singletons--;
    }
  }

  #settled(promise: Promise<unknown>, resolver: Context | undefined): void {
    this.#inflight?.delete(promise);
    if (resolver !== undefined) resolver.done = true;
  }

  async #runDisposal(): Promise<void> {
    this.#disposed = true;
    // From here on every lookup misses and reaches the slow path, which reports the disposal.
    this.#table = new Map();
    const failures: DisposalFailure[] = [];
    this.#phase = 'creations';
    while (this.#inflight !== undefined && this.#inflight.size > 0) {
      await Promise.allSettled(this.#inflight.keys());
    }
    this.#phase = 'scopes';
    for (const child of [...(this.#children ?? [])].reverse()) {
      this.#currentChild = child;
      try {
        await child.dispose();
      } catch (error) {
        if (error instanceof DisposalError) failures.push(...error.failures);
        else failures.push({ token: '(scope)', error });
      }
    }
    this.#currentChild = undefined;
    this.#children = undefined;
    this.#phase = 'instances';
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      this.#cursor = i;
      const entry = this.#entries[i] as Entry;
      try {
        await entry.run();
      } catch (error) {
        failures.push({ token: entry.token.name, error });
      }
    }
    this.#phase = 'done';
    this.#entries = [];
    if (this.#parent !== undefined) this.#parent.#children?.delete(this);
    if (failures.length > 0) throw new DisposalError(failures);
  }
}
