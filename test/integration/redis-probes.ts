/** What the Redis fault tests watch: stderr, the process's open sockets and timers, and bounded waits. */
import { format } from 'node:util';
import { vi } from 'vitest';

/**
 * Collects what is written to stderr during a test, directly or through console.error / console.warn (how
 * ioredis prints), instead of letting it through. The spies are restored after the test (restoreMocks).
 */
export function captureStderr(): { text: () => string } {
  const chunks: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  for (const method of ['error', 'warn'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      chunks.push(`${format(...args)}\n`);
    });
  }
  return { text: () => chunks.join('') };
}

/** How many sockets and timers keep this process alive right now. */
export function openResources(): { sockets: number; timers: number } {
  const kinds = process.getActiveResourcesInfo();
  return {
    sockets: kinds.filter((k) => k === 'TCPSocketWrap' || k === 'TCPWRAP').length,
    timers: kinds.filter((k) => k === 'Timeout').length,
  };
}

/**
 * Resolves to what `promise` settled with (`{ value }` or `{ error }`), or to `'pending'` when it has not
 * settled within `ms`. Leaves no timer behind.
 */
export async function settledWithin<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ value: T } | { error: unknown } | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  try {
    return await Promise.race([
      outcome,
      new Promise<'pending'>((resolve) => {
        timer = setTimeout(() => resolve('pending'), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
