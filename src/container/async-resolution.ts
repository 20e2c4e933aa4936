/** Asynchronous resolution: shared creations, cycles and captives seen across awaits, and deadlocks foreseen. */
import { describe } from '../errors.ts';
import { Context, connect, failure, pathOf, stack } from './context.ts';
import { attach, type Core, checkOpen, detachIfIdle, ended, find, keep, locate, track } from './core.ts';
import {
  CaptiveDependencyError,
  CircularDependencyError,
  ContainerDisposedError,
  MissingProviderError,
  ScopeRequiredError,
} from './errors.ts';
import { isThenable, SCOPED, type Slot, TRANSIENT } from './slot.ts';
import type { Token } from './token.ts';
import { checkToken } from './validation.ts';

/** Resolves `token` in `core`; `context` is the resolution whose factory asked, if any. */
export function resolveAsyncIn(
  core: Core,
  token: Token<unknown>,
  context: Context | undefined,
): Promise<unknown> {
  try {
    let slot = core.table.get(token);
    if (slot === undefined) checkToken('resolveAsync()', token);
    checkOpen(core, `resolve ${describe(token.name)}`);
    if (slot?.ready) return Promise.resolve(slot.value);
    if (slot === undefined) {
      const registration = core.parent === undefined ? undefined : find(core.parent, token, true);
      if (registration === undefined) throw new MissingProviderError([...pathOf(context), token]);
      if (registration.kind === SCOPED) {
        checkCaptive(token, context);
        slot = locate(core, token);
      } else slot = registration;
    } else if (slot.kind === SCOPED) {
      checkCaptive(token, context);
      if (core.parent === undefined) throw new ScopeRequiredError([...pathOf(context), token]);
    }
    if (slot.ready) return Promise.resolve(slot.value);
    checkCycle(slot, context);
    if (slot.kind === TRANSIENT) return start(core, slot, undefined, context);
    if (slot.pending !== undefined) return join(slot, context);
    return start(slot.owner, slot, undefined, context);
  } catch (error) {
    return Promise.reject(error);
  }
}

connect(resolveAsyncIn);

function checkCaptive(token: Token<unknown>, context: Context | undefined): void {
  for (let c = context; c !== undefined; c = c.parent) {
    if (c.slot.captor) throw new CaptiveDependencyError([...pathOf(context), token], c.slot.token);
  }
  if (stack.singletons > 0) throw new CaptiveDependencyError([...pathOf(context), token]);
}

function checkCycle(slot: Slot, context: Context | undefined): void {
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
function join(slot: Slot, context: Context | undefined): Promise<unknown> {
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
  waitFor(context, slot, pending);
  return pending;
}

/** Records that `context`'s creation waits for `slot`'s, until that settles. */
function waitFor(context: Context | undefined, slot: Slot, pending: Promise<unknown>): void {
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
 * Runs `slot`'s factory for an asynchronous resolution, or adopts the promise a synchronous one got back
 * (`started`). `core` owns the instance and waits for the creation before it is disposed. A singleton or
 * scoped creation is shared through `slot.pending` until it settles, and its value cached on the slot; a
 * transient's belongs to this caller alone.
 */
export function start(
  core: Core,
  slot: Slot,
  started: PromiseLike<unknown> | undefined,
  context: Context | undefined,
): Promise<unknown> {
  let result: unknown = started;
  let resolver: Context | undefined;
  if (started === undefined) {
    resolver = new Context(core, slot, context);
    result = run(slot, resolver, context);
    if (!isThenable(result)) {
      resolver.done = true;
      keep(core, slot, result);
      return Promise.resolve(result);
    }
  }
  const settle = (): void => {
    core.inflight?.delete(promise);
    if (resolver !== undefined) resolver.done = true;
    if (slot.pending === promise) slot.pending = undefined;
  };
  const promise: Promise<unknown> = Promise.resolve(result).then(
    (value) => {
      settle();
      if (ended(core)) {
        // Built after disposal began: disposed with the rest, and refused to the caller.
        track(core, slot, value);
        throw new ContainerDisposedError(`resolve ${describe(slot.token.name)}`);
      }
      keep(core, slot, value);
      detachIfIdle(core);
      return value;
    },
    (error: unknown) => {
      settle();
      detachIfIdle(core);
      throw failure(error, slot, context);
    },
  );
  if (slot.kind !== TRANSIENT) slot.pending = promise;
  (core.inflight ??= new Map()).set(promise, slot.token);
  attach(core);
  waitFor(context, slot, promise);
  return promise;
}

/** Calls a factory on behalf of an asynchronous resolution; its synchronous part counts like `resolve`'s. */
function run(slot: Slot, resolver: Context, context: Context | undefined): unknown {
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
