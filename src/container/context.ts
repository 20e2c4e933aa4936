/** Context: the resolver of an asynchronous resolution, which remembers the path that led to it. */
import { raceAbort } from '../abort.ts';
import { checkSignal } from '../errors.ts';
import type { Container, ResolveOptions, Resolver } from './container.ts';
import { ContainerDisposedError, enter, ProviderFailedError, ResolutionError } from './errors.ts';
import type { Slot } from './slot.ts';
import type { Token } from './token.ts';

/**
 * How many singleton factories are running on the current synchronous stack. A scoped instance built while
 * one runs would be captured by it. Shared by every container because a synchronous resolution never
 * interleaves with another.
 */
export const stack = { singletons: 0 };

/**
 * The resolver an asynchronous resolution hands to each factory: it remembers which tokens led here, so
 * cycles and captive dependencies are seen across `await`s, and errors name the whole path.
 */
export class Context implements Resolver {
  /** Set once the factory has settled; a resolver kept past that behaves like its container. */
  done = false;
  readonly container: Container;
  readonly slot: Slot;
  readonly parent: Context | undefined;

  constructor(container: Container, slot: Slot, parent: Context | undefined) {
    this.container = container;
    this.slot = slot;
    this.parent = parent;
  }

  resolve<T>(token: Token<T>): T {
    if (this.done) return this.container.resolve(token);
    return resolveInContext(this, token) as T;
  }

  resolveAsync<T>(token: Token<T>, options: ResolveOptions = {}): Promise<T> {
    if (this.done) return this.container.resolveAsync(token, options);
    const { signal } = options;
    checkSignal('resolveAsync() signal', signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return raceAbort(resolveAsyncIn(this.container, token, this), signal) as Promise<T>;
  }

  has(token: Token<unknown>): boolean {
    return this.container.has(token);
  }
}

// Context reaches into Container's private asynchronous resolution through this, set by Container.
let resolveAsyncIn: (container: Container, token: Token<unknown>, context: Context) => Promise<unknown>;

/** Called once by Container's static block. */
export function connect(resolve: typeof resolveAsyncIn): void {
  resolveAsyncIn = resolve;
}

/** A synchronous resolution inside an asynchronous one: the path so far counts for cycles and captives. */
function resolveInContext(context: Context, token: Token<unknown>): unknown {
  const flagged: Slot[] = [];
  let underSingleton = false;
  for (let c: Context | undefined = context; c !== undefined; c = c.parent) {
    if (!c.slot.resolving) {
      c.slot.resolving = true;
      flagged.push(c.slot);
    }
    if (c.slot.captor) underSingleton = true;
  }
  if (underSingleton) stack.singletons++;
  try {
    return context.container.resolve(token);
  } catch (error) {
    if (error instanceof ResolutionError) {
      for (let c: Context | undefined = context; c !== undefined; c = c.parent) {
        error[enter](c.slot.token, c.slot.captor);
      }
    }
    throw error;
  } finally {
    for (const slot of flagged) slot.resolving = false;
    if (underSingleton) stack.singletons--;
  }
}

/** The tokens that led to `context`, outermost first. */
export function pathOf(context: Context | undefined): Token<unknown>[] {
  const path: Token<unknown>[] = [];
  for (let c = context; c !== undefined; c = c.parent) path.push(c.slot.token);
  return path.reverse();
}

/** A factory's error as it leaves the factory's frame during a synchronous resolution. */
export function annotate(error: unknown, slot: Slot): unknown {
  if (error instanceof ResolutionError) {
    error[enter](slot.token, slot.captor);
    return error;
  }
  if (error instanceof ContainerDisposedError) return error;
  return new ProviderFailedError([slot.token], error);
}

/** A factory's error during an asynchronous resolution, where the whole path is known already. */
export function failure(error: unknown, slot: Slot, context: Context | undefined): unknown {
  if (error instanceof ResolutionError || error instanceof ContainerDisposedError) return error;
  return new ProviderFailedError([...pathOf(context), slot.token], error);
}
