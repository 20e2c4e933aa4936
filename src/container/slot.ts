/** Slot: the record resolution reads for one registration (or one scope's instance of a scoped one). */
import { type Kind, type Resolver, SINGLETON } from './provider.ts';
import type { Token } from './token.ts';

const AsyncFunction = (async () => {}).constructor;
export const asyncDisposeKey: typeof Symbol.asyncDispose = Symbol.asyncDispose;
export const disposeKey: typeof Symbol.dispose = Symbol.dispose;

export type Factory = (resolver: Resolver) => unknown;
export type Disposer = (instance: any) => unknown;

/**
 * One registration, or one scope's instance of a scoped registration. Everything resolution needs is
 * precomputed here, and a built singleton or scoped value is cached on it, so the hot path reads
 * `ready` and `value` and nothing else. `Owner` is the container type; the record does not need to know it.
 */
export class Slot<Owner> {
  ready = false;
  value: unknown = undefined;
  /** Set while the factory runs on the current synchronous stack: meeting it again is a cycle. */
  resolving = false;
  /** The shared creation in flight (singleton and scoped only). */
  pending: Promise<unknown> | undefined = undefined;
  /** Slots whose creation this slot's creation is waiting for (async only), to see a deadlock coming. */
  waits: Set<Slot<Owner>> | undefined = undefined;
  /** The factory is known to be asynchronous (declared `async`, or it returned a promise once). */
  async: boolean;
  readonly token: Token<unknown>;
  readonly kind: Kind;
  readonly factory: Factory;
  readonly dispose: Disposer | undefined;
  /** The container that keeps the instance: the registering one, or for a scoped instance its scope. */
  readonly owner: Owner;
  /** The container the provider was registered in. */
  readonly registrar: Owner;
  /**
   * A singleton of the root container: it outlives every scope, so it must not depend on a scoped
   * provider. (A singleton registered in a scope lives as long as that scope, like its scoped instances.)
   */
  readonly captor: boolean;

  constructor(
    token: Token<unknown>,
    kind: Kind,
    factory: Factory,
    dispose: Disposer | undefined,
    owner: Owner,
    registrar: Owner,
    root: boolean,
  ) {
    this.token = token;
    this.kind = kind;
    this.factory = factory;
    this.dispose = dispose;
    this.owner = owner;
    this.registrar = registrar;
    this.captor = kind === SINGLETON && root;
    this.async = factory instanceof AsyncFunction;
  }
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** How an instance is released: the registration's `dispose`, else its own disposal method, else not at all. */
export function disposerFor(dispose: Disposer | undefined, value: unknown): (() => unknown) | undefined {
  // The closures are made in helpers: a closure made here would cost every call a context, and this runs
  // for every transient built.
  if (dispose !== undefined) return releaseWith(dispose, value);
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  const instance = value as Partial<AsyncDisposable & Disposable>;
  if (typeof instance[asyncDisposeKey] === 'function') return callOwn(instance, asyncDisposeKey);
  if (typeof instance[disposeKey] === 'function') return callOwn(instance, disposeKey);
  return undefined;
}

function releaseWith(dispose: Disposer, value: unknown): () => unknown {
  return () => dispose(value);
}

function callOwn(
  instance: Partial<AsyncDisposable & Disposable>,
  key: typeof asyncDisposeKey | typeof disposeKey,
) {
  return (): unknown => instance[key]?.();
}
