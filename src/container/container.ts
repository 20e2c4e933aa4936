/** Container: typed tokens resolved to singleton, scoped or transient instances, with scopes and ordered disposal. */
import { clearLongTimeout, onAbort, raceAbort, setLongTimeout } from '../abort.ts';
import { checkDuration, checkOptions, checkSignal, describe } from '../errors.ts';
import { Disposal, pendingDisposers } from './disposal.ts';
import {
  AsyncProviderError,
  CaptiveDependencyError,
  CircularDependencyError,
  ContainerDisposedError,
  DisposalTimeoutError,
  DuplicateProviderError,
  enter,
  MissingProviderError,
  ProviderFailedError,
  ResolutionError,
  ScopeRequiredError,
} from './errors.ts';
import {
  checkRegistration,
  checkToken,
  type Provider,
  type RegistrationOptions,
  type ResolveOptions,
  type Resolver,
  SCOPED,
  TRANSIENT,
} from './provider.ts';
import { type Disposer, disposerFor, type Factory, isThenable, Slot as SlotRecord } from './slot.ts';
import type { Token } from './token.ts';

export interface DisposeOptions {
  /**
   * How long this call waits for the disposal; past it, the call rejects with a DisposalTimeoutError
   * naming the disposers still pending. The disposal itself goes on.
   * @default Infinity
   */
  readonly timeoutMs?: number | undefined;
  /** Stops this call's wait, rejecting with the signal's reason; the disposal itself goes on. */
  readonly signal?: AbortSignal | undefined;
}

type Slot = SlotRecord<Container>;

const resolveOptions = ['signal'] as const;
const disposeOptions = ['timeoutMs', 'signal'] as const;
const ignore = (): void => {};

/**
 * How many singleton factories of a root container are running on the current synchronous stack. A
 * scoped instance built while one runs would be captured by it. Shared by every container because a
 * synchronous resolution never interleaves with another.
 */
let rootSingletons = 0;

// Filled by Container's static block: the frame of an asynchronous resolution calls back into its
// container's private resolution, and this module is the only one that can.
let resolveIn: (container: Container, token: Token<unknown>, frame: Frame | undefined) => Promise<unknown>;

/**
 * A dependency container. Register providers against typed tokens, resolve them, open scopes for
 * per-request instances, and dispose everything it built, last built first.
 *
 * ```ts
 * const Settings = token<Settings>('settings');
 * const Db = token<Pool>('db');
 * await using container = new Container()
 *   .register(Settings, { lifetime: 'singleton', factory: () => loadSettings() })
 *   .register(Db, { lifetime: 'singleton', factory: async (r) => connect(r.resolve(Settings).url),
 *                   dispose: (pool) => pool.end() });
 * const db = await container.resolveAsync(Db);
 * ```
 */
export class Container implements Resolver, AsyncDisposable {
  static {
    resolveIn = (container, token, frame) => container.#resolveAsync(token, frame);
  }

  /** The records resolution reads: this container's registrations and its own scoped instances. */
  #table = new Map<Token<unknown>, Slot>();
  #parent: Container | undefined = undefined;
  /** Child scopes that hold something to dispose; others are not kept, so an undisposed scope can be collected. */
  #children: Set<Container> | undefined = undefined;
  /** Whether the parent keeps this scope in its `#children`. */
  #attached = false;
  /** Creations in flight whose instances this container will own, by the token they build. */
  #inflight: Map<Promise<unknown>, Token<unknown>> | undefined = undefined;
  /** Set once disposal has begun. */
  #closed = false;
  /** Made on first need: what this container will release, and how far that has got. */
  #disposal: Disposal | undefined = undefined;

  /**
   * Registers how to build `token`'s instances. A token may be registered once per container; a scope may
   * register a token its ancestors have, which then takes precedence in that scope and its descendants.
   * @throws DuplicateProviderError when `token` is registered here already and `replace` is not set.
   */
  register<T>(token: Token<T>, provider: Provider<NoInfer<T>>, options: RegistrationOptions = {}): this {
    const { kind, replace } = checkRegistration(token, provider, options);
    this.#checkOpen(`register ${describe(token.name)}`);
    const existing = this.#table.get(token);
    if (existing !== undefined && existing.registrar === this && !replace) {
      throw new DuplicateProviderError(token.name);
    }
    const { factory, dispose } = provider as Provider<unknown>;
    const root = this.#parent === undefined;
    this.#table.set(
      token,
      new SlotRecord(token, kind, factory as Factory, dispose as Disposer, this, this, root),
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
    // A disposed container's table is empty; a scope's own table outlives a disposed ancestor, so ask it.
    if (slot !== undefined && (this.#parent === undefined || !this.#parent.#ended())) {
      if (slot.ready) return slot.value as T;
      if (slot.kind === TRANSIENT) return this.#build(slot) as T;
    }
    const found = this.#serve('Container.resolve()', token, slot, undefined);
    if (found.ready) return found.value as T;
    return (found.kind === TRANSIENT ? this : found.owner).#build(found) as T;
  }

  /**
   * Resolves `token`, waiting for asynchronous providers. Concurrent first resolutions of a singleton (or of
   * a scoped token in one scope) share one run of its factory; a factory that fails is not remembered.
   */
  resolveAsync<T>(token: Token<T>, options: ResolveOptions = {}): Promise<T> {
    return resolveChecked(this, token, undefined, options) as Promise<T>;
  }

  has(token: Token<unknown>): boolean {
    return this.#find(token) !== undefined;
  }

  /**
   * A child container with its own scoped instances. It sees its ancestors' registrations; they never see
   * its own. Dispose it (or `await using` it) when the unit of work ends.
   */
  createScope(): Container {
    this.#checkOpen('create a scope');
    const scope = new Container();
    scope.#parent = this;
    return scope;
  }

  /** Whether disposal has begun, here or in an ancestor. */
  get disposed(): boolean {
    return this.#ended();
  }

  /**
   * Disposes, last built first, every instance this container built (waiting for creations in flight),
   * after disposing its open scopes. Later calls join the same disposal. `timeoutMs` and `signal` bound
   * this call's wait, not the disposal.
   * @throws DisposalError listing every disposer that failed; all the others still ran.
   *   DisposalTimeoutError past `timeoutMs`; the signal's reason once `signal` aborts.
   */
  dispose(options: DisposeOptions = {}): Promise<void> {
    checkOptions('Container.dispose() options', options, disposeOptions);
    const { timeoutMs = Number.POSITIVE_INFINITY, signal } = options ?? {};
    checkDuration('Container.dispose() timeoutMs', timeoutMs);
    checkSignal('Container.dispose() signal', signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const done = this.#disposer().run();
    if (timeoutMs === Number.POSITIVE_INFINITY) return raceAbort(done, signal);
    return new Promise<void>((resolve, reject) => {
      const stop = (): void => {
        clearLongTimeout(timer);
        unwatch?.();
      };
      const timer = setLongTimeout(() => {
        stop();
        reject(new DisposalTimeoutError(timeoutMs, this[pendingDisposers]()));
      }, timeoutMs);
      const unwatch =
        signal === undefined
          ? undefined
          : onAbort(signal, () => {
              stop();
              reject(signal.reason);
            });
      done.then(
        () => {
          stop();
          resolve();
        },
        (error: unknown) => {
          stop();
          reject(error);
        },
      );
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** The disposers not yet finished, in the order they will run, for a shutdown that ran out of time. */
  [pendingDisposers](): string[] {
    return this.#disposer().pending();
  }

  // --- the tree -----------------------------------------------------------------------------------------

  /**
   * Whether this container or one of its ancestors has begun disposal. A scope that holds nothing to
   * dispose is not known to its parent, so it asks its ancestors instead of being told.
   */
  #ended(): boolean {
    for (let c: Container | undefined = this; c !== undefined; c = c.#parent) if (c.#closed) return true;
    return false;
  }

  /** @throws ContainerDisposedError when this container or an ancestor has begun disposal. */
  #checkOpen(action: string): void {
    if (this.#ended()) throw new ContainerDisposedError(action);
  }

  /** The registration for `token` here or in the nearest ancestor that has one; none past a disposed one. */
  #find(token: Token<unknown>): Slot | undefined {
    for (let c: Container | undefined = this; c !== undefined; c = c.#parent) {
      if (c.#closed) return undefined;
      const slot = c.#table.get(token);
      if (slot !== undefined && slot.registrar === c) return slot;
    }
    return undefined;
  }

  /** Makes the ancestors keep this scope until it is disposed, because it now holds something to dispose. */
  #attach(): void {
    for (let c: Container = this; c.#parent !== undefined && !c.#attached; c = c.#parent) {
      c.#attached = true;
      c.#parent.#children ??= new Set();
      c.#parent.#children.add(c);
    }
  }

  /**
   * The reverse of `#attach`: once a scope holds nothing to dispose, creates nothing and has no attached
   * child, its parent lets go of it, so a scope that is simply dropped can be collected.
   */
  #detachIfIdle(): void {
    for (let c: Container = this; c.#parent !== undefined && c.#attached; c = c.#parent) {
      if (c.#disposal?.holding || (c.#inflight?.size ?? 0) > 0 || (c.#children?.size ?? 0) > 0) return;
      c.#attached = false;
      c.#parent.#children?.delete(c);
    }
  }

  #disposer(): Disposal {
    this.#disposal ??= new Disposal({
      close: () => {
        this.#closed = true;
        // From here on every lookup misses and reaches the slow path, which reports the disposal.
        this.#table = new Map();
      },
      creations: () => this.#inflight,
      scopes: () => [...(this.#children ?? [])].map((child) => child.#disposer()),
      // A disposed scope no longer holds anything: its parent, and any ancestor left idle, let go of it.
      release: () => {
        const parent = this.#parent;
        if (parent === undefined || !this.#attached) return;
        this.#attached = false;
        parent.#children?.delete(this);
        parent.#detachIfIdle();
      },
    });
    return this.#disposal;
  }

  // --- resolution ---------------------------------------------------------------------------------------

  /**
   * The record that serves `token` here when the fast path had none ready, after the rules every
   * resolution obeys, synchronous or not: the container is open, a provider exists, and a scoped provider
   * is resolved in a scope and not on behalf of a root singleton. A scoped registration of an ancestor
   * gets this scope's own record.
   */
  #serve(where: string, token: Token<unknown>, slot: Slot | undefined, frame: Frame | undefined): Slot {
    if (slot === undefined) checkToken(where, token);
    this.#checkOpen(`resolve ${describe(token.name)}`);
    if (slot !== undefined) {
      if (slot.ready) return slot;
      if (slot.kind === SCOPED) {
        checkCaptive(token, frame);
        if (this.#parent === undefined) throw new ScopeRequiredError(pathTo(frame, token));
      }
      return slot;
    }
    const registration = this.#parent === undefined ? undefined : this.#parent.#find(token);
    if (registration === undefined) throw new MissingProviderError(pathTo(frame, token));
    if (registration.kind !== SCOPED) return registration;
    checkCaptive(token, frame);
    const own = new SlotRecord(
      token,
      SCOPED,
      registration.factory,
      registration.dispose,
      this,
      registration.registrar,
      false,
    );
    own.async = registration.async;
    this.#table.set(token, own);
    return own;
  }

  /**
   * Builds an instance synchronously (this container is the record's owner, or for a transient the one
   * resolving it). A factory that returns a promise starts a creation a later `resolveAsync` shares.
   */
  #build(slot: Slot): unknown {
    checkCycle(slot, undefined);
    if (slot.async || slot.pending !== undefined) throw new AsyncProviderError([slot.token]);
    let value: unknown;
    try {
      value = call(slot, this);
    } catch (error) {
      throw unwinding(error, slot);
    }
    if (isThenable(value)) {
      slot.async = true;
      this.#start(slot, value, undefined).catch(ignore);
      throw new AsyncProviderError([slot.token]);
    }
    this.#keep(slot, value);
    return value;
  }

  /** Resolves `token` for an asynchronous resolution; `frame` is the creation whose factory asked, if any. */
  #resolveAsync(token: Token<unknown>, frame: Frame | undefined): Promise<unknown> {
    try {
      const slot = this.#serve('Container.resolveAsync()', token, this.#table.get(token), frame);
      if (slot.ready) return Promise.resolve(slot.value);
      checkCycle(slot, frame);
      if (slot.kind === TRANSIENT) return this.#start(slot, undefined, frame);
      if (slot.pending !== undefined) return join(slot, frame);
      return slot.owner.#start(slot, undefined, frame);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs `slot`'s factory for an asynchronous resolution, or adopts the promise a synchronous one got back
   * (`started`). This container owns the instance and waits for the creation before it is disposed. A
   * singleton or scoped creation is shared through `slot.pending` until it settles, and its value cached
   * on the record; a transient's belongs to this caller alone.
   */
  #start(slot: Slot, started: PromiseLike<unknown> | undefined, frame: Frame | undefined): Promise<unknown> {
    let result: unknown = started;
    let resolver: Frame | undefined;
    if (started === undefined) {
      resolver = new Frame(this, slot, frame);
      try {
        result = call(slot, resolver);
      } catch (error) {
        resolver.done = true;
        throw known(error, slot, frame);
      }
      if (!isThenable(result)) {
        resolver.done = true;
        this.#keep(slot, result);
        return Promise.resolve(result);
      }
    }
    const settle = (): void => {
      this.#inflight?.delete(promise);
      if (resolver !== undefined) resolver.done = true;
      if (slot.pending === promise) slot.pending = undefined;
    };
    const promise: Promise<unknown> = Promise.resolve(result).then(
      (value) => {
        settle();
        if (this.#ended()) {
          // Built after disposal began: disposed with the rest, and refused to the caller.
          this.#track(slot, value);
          throw new ContainerDisposedError(`resolve ${describe(slot.token.name)}`);
        }
        this.#keep(slot, value);
        this.#detachIfIdle();
        return value;
      },
      (error: unknown) => {
        settle();
        this.#detachIfIdle();
        throw known(error, slot, frame);
      },
    );
    if (slot.kind !== TRANSIENT) slot.pending = promise;
    (this.#inflight ??= new Map()).set(promise, slot.token);
    this.#attach();
    waitFor(frame, slot, promise);
    return promise;
  }

  /** Takes charge of a built instance: a singleton or scoped one is cached on its record; any is disposed here. */
  #keep(slot: Slot, value: unknown): void {
    if (slot.kind !== TRANSIENT) {
      slot.value = value;
      slot.ready = true;
    }
    this.#track(slot, value);
  }

  /** Records `value` for disposal with this container, if it has a way to be released. */
  #track(slot: Slot, value: unknown): void {
    const run = disposerFor(slot.dispose, value);
    if (run === undefined) return;
    this.#disposer().add(slot.token, run);
    this.#attach();
  }
}

// --- the rules, each written once ---------------------------------------------------------------------

/**
 * The resolver an asynchronous resolution hands to each factory: it remembers which creations led here,
 * so cycles and captive dependencies are seen across `await`s, and errors name the whole path.
 */
class Frame implements Resolver {
  /** Set once the factory has settled; a resolver kept past that behaves like its container. */
  done = false;
  /** The container whose factory this resolver serves. */
  readonly container: Container;
  readonly slot: Slot;
  readonly parent: Frame | undefined;

  constructor(container: Container, slot: Slot, parent: Frame | undefined) {
    this.container = container;
    this.slot = slot;
    this.parent = parent;
  }

  resolve<T>(token: Token<T>): T {
    if (this.done) return this.container.resolve(token);
    return resolveInFrame(this, token) as T;
  }

  resolveAsync<T>(token: Token<T>, options: ResolveOptions = {}): Promise<T> {
    if (this.done) return this.container.resolveAsync(token, options);
    return resolveChecked(this.container, token, this, options) as Promise<T>;
  }

  has(token: Token<unknown>): boolean {
    return this.container.has(token);
  }
}

/** `resolveAsync` with its options checked, for a caller outside (`frame` undefined) or a factory. */
function resolveChecked(
  container: Container,
  token: Token<unknown>,
  frame: Frame | undefined,
  options: ResolveOptions | undefined,
): Promise<unknown> {
  checkOptions('Container.resolveAsync() options', options, resolveOptions);
  const signal = options?.signal;
  checkSignal('Container.resolveAsync() signal', signal);
  if (signal?.aborted) return Promise.reject(signal.reason);
  return raceAbort(resolveIn(container, token, frame), signal);
}

/** Marks `slot`'s factory as running on the current synchronous stack (the resolving bracket opens). */
function mark(slot: Slot): void {
  slot.resolving = true;
  if (slot.captor) rootSingletons++;
}

/** The resolving bracket closes. */
function unmark(slot: Slot): void {
  slot.resolving = false;
  if (slot.captor) rootSingletons--;
}

/** Calls `slot`'s factory inside the resolving bracket; sync and async creations both come through here. */
function call(slot: Slot, resolver: Resolver): unknown {
  mark(slot);
  try {
    return slot.factory(resolver);
  } finally {
    unmark(slot);
  }
}

/**
 * A synchronous resolution inside an asynchronous one: the creations that led here are marked as if on
 * the stack, so the bracket, cycle and captive rules see them.
 */
function resolveInFrame(frame: Frame, token: Token<unknown>): unknown {
  const marked: Slot[] = [];
  for (let f: Frame | undefined = frame; f !== undefined; f = f.parent) {
    if (!f.slot.resolving) {
      mark(f.slot);
      marked.push(f.slot);
    }
  }
  try {
    return frame.container.resolve(token);
  } catch (error) {
    if (error instanceof ResolutionError) {
      for (let f: Frame | undefined = frame; f !== undefined; f = f.parent) {
        error[enter](f.slot.token, f.slot.captor);
      }
    }
    throw error;
  } finally {
    for (const slot of marked) unmark(slot);
  }
}

/**
 * The captive rule: a scoped provider may not be resolved on behalf of a root singleton, whether that
 * singleton's factory is on the stack or waits across an `await` further up the frame.
 */
function checkCaptive(token: Token<unknown>, frame: Frame | undefined): void {
  for (let f = frame; f !== undefined; f = f.parent) {
    if (f.slot.captor) throw new CaptiveDependencyError(pathTo(frame, token), f.slot.token);
  }
  if (rootSingletons > 0) throw new CaptiveDependencyError(pathTo(frame, token));
}

/**
 * The cycle rule: a creation met again while it is under way, up the frame of an asynchronous resolution
 * or on the synchronous stack (where the path is completed as the error unwinds).
 */
function checkCycle(slot: Slot, frame: Frame | undefined): void {
  for (let f = frame; f !== undefined; f = f.parent) {
    if (f.slot === slot) {
      const path = pathTo(frame, slot.token);
      throw new CircularDependencyError(path, path.indexOf(slot.token));
    }
  }
  if (slot.resolving) throw new CircularDependencyError(pathTo(frame, slot.token));
}

/**
 * Waits for a creation already in flight. If that creation is itself waiting, directly or not, for one
 * of the creations that led here, waiting would never end: that is a cycle, reported as one.
 */
function join(slot: Slot, frame: Frame | undefined): Promise<unknown> {
  const pending = slot.pending as Promise<unknown>;
  if (frame === undefined) return pending;
  const chain = new Set<Slot>();
  for (let f: Frame | undefined = frame; f !== undefined; f = f.parent) chain.add(f.slot);
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
    const before = pathTo(frame);
    const start = before.lastIndexOf(hit.token);
    throw new CircularDependencyError([...before, ...route.map((s) => s.token), hit.token], start);
  }
  waitFor(frame, slot, pending);
  return pending;
}

/** Records that `frame`'s creation waits for `slot`'s, until that settles. */
function waitFor(frame: Frame | undefined, slot: Slot, pending: Promise<unknown>): void {
  if (frame === undefined) return;
  const waits = (frame.slot.waits ??= new Set());
  waits.add(slot);
  const release = (): void => {
    waits.delete(slot);
  };
  pending.then(release, release);
}

/** The tokens that led to `frame`, outermost first, then `last` if given. */
function pathTo(frame: Frame | undefined, last?: Token<unknown>): Token<unknown>[] {
  const path: Token<unknown>[] = last === undefined ? [] : [last];
  for (let f = frame; f !== undefined; f = f.parent) path.push(f.slot.token);
  return path.reverse();
}

/** A factory's error as it leaves a synchronous factory: the path is completed frame by frame as it unwinds. */
function unwinding(error: unknown, slot: Slot): unknown {
  if (error instanceof ResolutionError) {
    error[enter](slot.token, slot.captor);
    return error;
  }
  if (error instanceof ContainerDisposedError) return error;
  return new ProviderFailedError([slot.token], error);
}

/** A factory's error during an asynchronous resolution, where the frame knows the whole path already. */
function known(error: unknown, slot: Slot, frame: Frame | undefined): unknown {
  if (error instanceof ResolutionError || error instanceof ContainerDisposedError) return error;
  return new ProviderFailedError(pathTo(frame, slot.token), error);
}
