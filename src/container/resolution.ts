/** Synchronous resolution: everything `resolve` does beyond returning a cached instance. */
import { describe } from '../errors.ts';
import { start } from './async-resolution.ts';
import { annotate, stack } from './context.ts';
import { type Core, checkOpen, keep, locate, track } from './core.ts';
import {
  AsyncProviderError,
  CaptiveDependencyError,
  CircularDependencyError,
  ScopeRequiredError,
} from './errors.ts';
import { asyncDisposeKey, disposeKey, ignore, isThenable, SCOPED, type Slot, TRANSIENT } from './slot.ts';
import type { Token } from './token.ts';
import { checkToken } from './validation.ts';

/** Resolves `token` in `core` when its table had no ready instance for it (or an ancestor was disposed). */
export function resolveSlow(core: Core, token: Token<unknown>, slot: Slot | undefined): unknown {
  if (slot !== undefined) {
    checkOpen(core, `resolve ${describe(token.name)}`);
    if (slot.kind === TRANSIENT) return buildTransient(core, slot);
    if (slot.kind === SCOPED) {
      if (stack.singletons > 0) throw new CaptiveDependencyError([slot.token]);
      if (core.parent === undefined) throw new ScopeRequiredError([slot.token]);
    }
    return buildShared(core, slot);
  }
  checkToken('resolve()', token);
  const found = locate(core, token);
  if (found.kind === TRANSIENT) return buildTransient(core, found);
  if (found.ready) return found.value;
  if (found.kind === SCOPED && stack.singletons > 0) throw new CaptiveDependencyError([token]);
  return buildShared(found.owner, found);
}

/** Builds a singleton or scoped instance and caches it on its slot (`core` is the slot's owner). */
function buildShared(core: Core, slot: Slot): unknown {
  if (slot.resolving) throw new CircularDependencyError([slot.token]);
  if (slot.async || slot.pending !== undefined) throw new AsyncProviderError([slot.token]);
  const captor = slot.captor;
  let value: unknown;
  slot.resolving = true;
  if (captor) stack.singletons++;
  try {
    value = slot.factory(core.container);
  } catch (error) {
    throw annotate(error, slot);
  } finally {
    slot.resolving = false;
    if (captor) stack.singletons--;
  }
  if (isThenable(value)) {
    // Keep the creation that has started, so a later resolveAsync shares it instead of starting another.
    slot.async = true;
    start(core, slot, value, undefined).catch(ignore);
    throw new AsyncProviderError([slot.token]);
  }
  keep(core, slot, value);
  return value;
}

/** Builds a transient instance for `core`, which disposes it if it is disposable. */
export function buildTransient(core: Core, slot: Slot): unknown {
  if (slot.resolving) throw new CircularDependencyError([slot.token]);
  if (slot.async) throw new AsyncProviderError([slot.token]);
  let value: unknown;
  slot.resolving = true;
  try {
    value = slot.factory(core.container);
  } catch (error) {
    slot.resolving = false;
    throw annotate(error, slot);
  }
  slot.resolving = false;
  // The common case, a plain object with no way to be released, is told apart without allocating.
  if (value !== null && typeof value === 'object') {
    if (typeof (value as { then?: unknown }).then === 'function') {
      slot.async = true;
      start(core, slot, value as PromiseLike<unknown>, undefined).catch(ignore);
      throw new AsyncProviderError([slot.token]);
    }
    if (
      slot.dispose !== undefined ||
      (value as Partial<AsyncDisposable>)[asyncDisposeKey] !== undefined ||
      (value as Partial<Disposable>)[disposeKey] !== undefined
    ) {
      track(core, slot, value);
    }
  } else if (slot.dispose !== undefined || typeof value === 'function') {
    track(core, slot, value);
  }
  return value;
}
