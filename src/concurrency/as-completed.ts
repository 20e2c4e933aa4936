/** asCompleted(): the values of many promises in the order they settle, as an async iterator. */

import { onAbort } from '../abort.ts';
import { checkOptions, checkSignal, describe, InvalidArgumentError } from '../errors.ts';

export interface AsCompletedOptions {
  /** Aborting it ends the iteration: the pending or next `next()` rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: unknown };

/**
 * Yields each input's value as soon as it settles, fastest first (Python's `asyncio.as_completed`). A
 * rejection is thrown from the loop at its turn and ends it; the failures of the inputs not yet read are
 * handled, never reported as unhandled rejections. Leaving the loop early stops nothing: the inputs are
 * promises, already running.
 *
 * ```ts
 * for await (const page of asCompleted(urls.map((url) => fetch(url)))) show(page);
 * ```
 */
export function asCompleted<T>(
  promises: Iterable<T | PromiseLike<T>>,
  options?: AsCompletedOptions,
): AsyncGenerator<Awaited<T>, void, undefined> {
  checkOptions('asCompleted() options', options, ['signal']);
  if (typeof (promises as Iterable<unknown> | null)?.[Symbol.iterator] !== 'function') {
    throw new InvalidArgumentError(
      `asCompleted() promises must be an iterable of promises or values; received ${describe(promises)}`,
    );
  }
  const signal = options?.signal;
  checkSignal('asCompleted() signal', signal);

  const settled: Outcome<Awaited<T>>[] = [];
  let wake: (() => void) | undefined;
  const push = (outcome: Outcome<Awaited<T>>): void => {
    settled.push(outcome);
    wake?.();
  };
  let total = 0;
  for (const item of promises) {
    total++;
    Promise.resolve(item).then(
      (value) => push({ ok: true, value }),
      (reason: unknown) => push({ ok: false, reason }),
    );
  }
  return drain(settled, total, signal, (w) => {
    wake = w;
  });
}

async function* drain<T>(
  settled: Outcome<T>[],
  total: number,
  signal: AbortSignal | undefined,
  setWake: (wake: (() => void) | undefined) => void,
): AsyncGenerator<T, void, undefined> {
  let read = 0;
  while (read < total) {
    if (signal?.aborted) throw signal.reason;
    if (read === settled.length) await arrival(signal, setWake);
    const outcome = settled[read++] as Outcome<T>;
    settled[read - 1] = undefined as never;
    if (!outcome.ok) throw outcome.reason;
    yield outcome.value;
  }
}

/** Waits for the next input to settle, or rejects when `signal` aborts first. */
function arrival(
  signal: AbortSignal | undefined,
  setWake: (wake: (() => void) | undefined) => void,
): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const unwatch =
      signal === undefined
        ? undefined
        : onAbort(signal, () => {
            setWake(undefined);
            reject(signal.reason);
          });
    setWake(() => {
      setWake(undefined);
      unwatch?.();
      resolve();
    });
  });
}
