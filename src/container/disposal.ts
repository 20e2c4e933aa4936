/** Disposal: a container's creations in flight, then its open scopes, then its instances, last built first. */
import type { Core } from './core.ts';
import { DisposalError, type DisposalFailure } from './errors.ts';
import type { Entry } from './slot.ts';

/** The disposal of `core`, started by the first call; later calls return the same promise. */
export function disposal(core: Core): Promise<void> {
  core.disposal ??= run(core);
  return core.disposal;
}

async function run(core: Core): Promise<void> {
  core.disposed = true;
  // From here on every lookup misses and reaches the slow path, which reports the disposal.
  core.table = new Map();
  const failures: DisposalFailure[] = [];
  core.phase = 'creations';
  while (core.inflight !== undefined && core.inflight.size > 0) {
    await Promise.allSettled(core.inflight.keys());
  }
  core.phase = 'scopes';
  for (const child of [...(core.children ?? [])].reverse()) {
    core.currentChild = child;
    try {
      await disposal(child);
    } catch (error) {
      if (error instanceof DisposalError) failures.push(...error.failures);
      else failures.push({ token: '(scope)', error });
    }
  }
  core.currentChild = undefined;
  core.children = undefined;
  core.phase = 'instances';
  for (let i = core.entries.length - 1; i >= 0; i--) {
    core.cursor = i;
    const entry = core.entries[i] as Entry;
    try {
      await entry.run();
    } catch (error) {
      failures.push({ token: entry.token.name, error });
    }
  }
  core.phase = 'done';
  core.entries = [];
  core.parent?.children?.delete(core);
  if (failures.length > 0) throw new DisposalError(failures);
}

/** The disposers not yet finished, in the order they will run, for a shutdown that ran out of time. */
export function pending(core: Core): string[] {
  const names: string[] = [];
  if (core.phase === 'done') return names;
  if (core.phase === 'open' || core.phase === 'creations') {
    for (const token of core.inflight?.values() ?? []) names.push(`${token.name} (being created)`);
  }
  if (core.phase !== 'instances') {
    const children = [...(core.children ?? [])].reverse();
    if (core.currentChild !== undefined && !children.includes(core.currentChild)) {
      children.unshift(core.currentChild);
    }
    for (const child of children) names.push(...pending(child));
  }
  const last = core.phase === 'instances' ? core.cursor : core.entries.length - 1;
  for (let i = last; i >= 0; i--) names.push((core.entries[i] as Entry).token.name);
  return names;
}
