/** What the contract's parts share: the setup, the per-test context, and small helpers for waiting. */
import { createHook } from 'node:async_hooks';
import { expect } from 'vitest';
import type { KeelError } from '../../errors.ts';
import type { Serializer } from '../serializer.ts';
import type { MessageMeta, Transport, TransportOptions } from '../transport.ts';

export interface TransportContractSetup {
  /** Opens a new connection to the engine under test. */
  readonly open: (options?: TransportOptions) => Promise<Transport>;
  /** Whether the engine offers queue groups; when not, subscribing with `queue` must throw. @default true */
  readonly queueGroups?: boolean;
}

/** Collects what a subscription receives and waits for a count, failing after `ms`. */
export function collector<T = unknown>() {
  const items: { payload: T; meta: MessageMeta }[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    items,
    handler: (payload: T, meta: MessageMeta) => {
      items.push({ payload, meta });
      for (const w of [...waiters]) if (items.length >= w.n) w.resolve();
    },
    async waitFor(n: number, ms = 5000): Promise<void> {
      if (items.length >= n) return;
      let timer: NodeJS.Timeout | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          waiters.push({ n, resolve });
          timer = setTimeout(() => reject(new Error(`received ${items.length} of ${n} within ${ms} ms`)), ms);
        });
      } finally {
        clearTimeout(timer);
        waiters.splice(0, waiters.length);
      }
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sockets open right now, to compare before and after the suite. */
export function openSockets(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPWRAP')
    .length;
}

/**
 * Follows the timers the transport and its driver create (not the test runner's, not this suite's own
 * waits), so the suite can prove that none outlives close().
 */
export function timerTracker() {
  const live = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (type !== 'Timeout') return;
      const lines = (new Error().stack ?? '').split('\n');
      // The frame that called setTimeout or setInterval.
      const at = lines.findIndex((line) => /at (setTimeout|setInterval) \(node:/.test(line));
      const caller = at < 0 ? '' : (lines[at + 1] ?? '');
      if (caller.includes('vitest') || caller.includes('.contract.ts')) return;
      // Name the test that started it, so a leak report says where to look.
      live.set(id, `${caller.trim()} (in "${expect.getState().currentTestName ?? 'a hook'}")`);
    },
    destroy(id) {
      live.delete(id);
    },
  });
  return {
    start: () => hook.enable(),
    stop: () => hook.disable(),
    live: () => [...live.values()],
  };
}

/** A serializer that writes bytes no JSON parser accepts, to play a foreign or broken sender. */
export const garbage: Serializer = {
  name: 'garbage',
  encode: () => new TextEncoder().encode('{not json'),
  decode: () => 'garbage',
};

/** Handed to each part of the contract. */
export interface ContractContext {
  /** Opens a transport whose onError collects into `errors`; closed after each test. */
  readonly open: (options?: TransportOptions) => Promise<Transport>;
  /** Two transports on the same engine. */
  readonly pair: () => Promise<readonly [Transport, Transport]>;
  /** A subject no other test uses. */
  readonly subject: (suffix?: string) => string;
  /** What onError received during the current test (emptied after each). */
  readonly errors: { error: KeelError; subject: string }[];
  readonly queueGroups: boolean;
}
