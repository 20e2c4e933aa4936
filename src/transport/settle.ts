/** unlessAborted(): wait for a connection unless the caller gives up, closing one that arrives too late. */
import { onAbort } from '../abort.ts';

/**
 * Awaits `promise` unless `signal` aborts first (then rejects with its reason); a value that arrives
 * after the abort is handed to `discard`, so a connection opened too late is closed, not leaked.
 */
export function unlessAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  discard: (late: T) => unknown,
): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    let aborted = false;
    const giveUp = (): void => {
      aborted = true;
      reject(signal.reason);
    };
    let unwatch: (() => void) | undefined;
    if (signal.aborted) giveUp();
    else unwatch = onAbort(signal, giveUp);
    promise.then(
      (value) => {
        unwatch?.();
        if (aborted) Promise.resolve(discard(value)).catch(() => {});
        else resolve(value);
      },
      (error: unknown) => {
        unwatch?.();
        if (!aborted) reject(error);
      },
    );
  });
}
