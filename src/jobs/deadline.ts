/** Waiting for in-flight work up to a deadline, the shared core of every worker's graceful close. */

/**
 * Resolves `true` once `work` has settled, or `false` when `timeoutMs` passes or `signal` aborts first.
 * Never rejects; removes its timer and its signal listener when it resolves.
 */
export function settleWithin(
  work: Promise<unknown>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (settled: boolean) => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(settled);
    };
    const onAbort = () => finish(false);
    if (Number.isFinite(timeoutMs)) timer = setTimeout(() => finish(false), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      () => finish(true),
      () => finish(true),
    );
  });
}

/** How long handlers get to unwind once their signals are aborted at a close deadline. */
export const ABORT_GRACE_MS = 1000;
