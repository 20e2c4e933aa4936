/** Core: one container's internal state, its place in the tree, and the lookups and records resolution shares. */
import { describe } from '../errors.ts';
import type { Container } from './container.ts';
import { stack } from './context.ts';
import { CaptiveDependencyError, ContainerDisposedError, MissingProviderError } from './errors.ts';
import { disposerFor, type Entry, SCOPED, Slot, TRANSIENT } from './slot.ts';
import type { Token } from './token.ts';

/** How far a disposal has got; read by the report of pending disposers. */
export type Phase = 'open' | 'creations' | 'scopes' | 'instances' | 'done';

/**
 * What a Container holds, kept apart from the public class so that resolution, async resolution and
 * disposal can each live in a module of their own.
 */
export class Core {
  /** The slots resolution reads: this container's registrations and its own scoped instances. */
  table = new Map<Token<unknown>, Slot>();
  parent: Core | undefined = undefined;
  /** Child scopes that hold something to dispose; others are not kept, so an undisposed scope can be collected. */
  children: Set<Core> | undefined = undefined;
  attached = false;
  /** What this container will dispose, in order of creation. */
  entries: Entry[] = [];
  /** Creations in flight whose instances this container will own, by the token they build. */
  inflight: Map<Promise<unknown>, Token<unknown>> | undefined = undefined;
  disposed = false;
  disposal: Promise<void> | undefined = undefined;
  phase: Phase = 'open';
  /** The entry being disposed, while `phase` is 'instances'. */
  cursor = -1;
  /** The child scope being disposed, while `phase` is 'scopes'. */
  currentChild: Core | undefined = undefined;
  /** The public face: what a synchronous factory receives as its resolver. */
  readonly container: Container;

  constructor(container: Container) {
    this.container = container;
  }
}

/**
 * Whether `core` or one of its ancestors has begun disposal. A scope that holds nothing to dispose is not
 * known to its parent, so it asks its ancestors instead of being told.
 */
export function ended(core: Core): boolean {
  for (let c: Core | undefined = core; c !== undefined; c = c.parent) if (c.disposed) return true;
  return false;
}

/** @throws ContainerDisposedError when `core` or an ancestor has begun disposal. */
export function checkOpen(core: Core, action: string): void {
  if (ended(core)) throw new ContainerDisposedError(action);
}

/** The registration for `token` in `core` or the nearest ancestor that has one. */
export function find(core: Core, token: Token<unknown>, strict: boolean): Slot | undefined {
  for (let c: Core | undefined = core; c !== undefined; c = c.parent) {
    if (c.disposed) {
      if (strict) throw new ContainerDisposedError(`resolve ${describe(token.name)}`);
      return undefined;
    }
    const slot = c.table.get(token);
    if (slot !== undefined && slot.registrar === c) return slot;
  }
  return undefined;
}

/**
 * Finds the slot that serves `token` in `core` when its table has none: an ancestor's registration, or for
 * a scoped one, this scope's own new instance slot.
 */
export function locate(core: Core, token: Token<unknown>): Slot {
  checkOpen(core, `resolve ${describe(token.name)}`);
  const registration = core.parent === undefined ? undefined : find(core.parent, token, true);
  if (registration === undefined) throw new MissingProviderError([token]);
  if (registration.kind !== SCOPED) return registration;
  if (stack.singletons > 0) throw new CaptiveDependencyError([token]);
  const slot = new Slot(
    token,
    SCOPED,
    registration.factory,
    registration.dispose,
    core,
    registration.registrar,
    false,
  );
  slot.async = registration.async;
  core.table.set(token, slot);
  return slot;
}

/** Takes charge of a built instance: a singleton or scoped one is cached on its slot; any is disposed with `core`. */
export function keep(core: Core, slot: Slot, value: unknown): void {
  if (slot.kind !== TRANSIENT) {
    slot.value = value;
    slot.ready = true;
  }
  track(core, slot, value);
}

/** Records `value` for disposal with `core`, if it has a way to be released. */
export function track(core: Core, slot: Slot, value: unknown): void {
  const run = disposerFor(slot, value);
  if (run === undefined) return;
  core.entries.push({ token: slot.token, run });
  attach(core);
}

/** Makes the ancestors keep this scope until it is disposed, because it now holds something to dispose. */
export function attach(core: Core): void {
  for (let c: Core = core; c.parent !== undefined && !c.attached; c = c.parent) {
    c.attached = true;
    c.parent.children ??= new Set();
    c.parent.children.add(c);
  }
}

/**
 * The reverse of `attach`: once a scope holds nothing to dispose, creates nothing and has no attached
 * child, its parent lets go of it, so a scope that is simply dropped can be collected.
 */
export function detachIfIdle(core: Core): void {
  for (let c: Core = core; c.parent !== undefined && c.attached; c = c.parent) {
    if (c.entries.length > 0 || (c.inflight?.size ?? 0) > 0 || (c.children?.size ?? 0) > 0) return;
    c.attached = false;
    c.parent.children?.delete(c);
  }
}
