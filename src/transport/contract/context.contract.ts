/** What the contract's parts share: the setup, the per-test context, and small helpers for waiting. */
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

/** Sockets and timers that keep the process alive, counted by kind. */
export interface ResourceCount {
  readonly sockets: number;
  readonly timers: number;
}

/**
 * How many sockets and timers keep this process alive right now (what a leak would hold open). Read from
 * `process.getActiveResourcesInfo()`: no hooks and no stack parsing, so nothing depends on how the
 * runner or the driver schedule their own work.
 */
export function activeResources(): ResourceCount {
  const kinds = process.getActiveResourcesInfo();
  return {
    sockets: kinds.filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPWRAP').length,
    timers: kinds.filter((kind) => kind === 'Timeout').length,
  };
}

/**
 * The baseline to compare against later: the fewest sockets and timers seen over ~100 ms. The test runner
 * keeps short-lived timers of its own (reporting, RPC); taking the minimum keeps them out of the baseline,
 * where they would hide a leaked timer of the same count.
 */
export async function baselineResources(): Promise<ResourceCount> {
  let { sockets, timers } = activeResources();
  for (let i = 0; i < 10; i++) {
    await sleep(10);
    const now = activeResources();
    sockets = Math.min(sockets, now.sockets);
    timers = Math.min(timers, now.timers);
  }
  return { sockets, timers };
}

/**
 * Asserts that no more sockets and timers are alive than in `before`, waiting up to `waitMs` for them to be
 * released: closing takes a few turns of the event loop (more on a loaded machine), and a socket slow to
 * close is destroyed by the driver within 500 ms. The wait polls with its own timer, which has fired by the
 * time each count is taken, so it does not count itself.
 */
export async function expectReleased(before: ResourceCount, waitMs = 1000): Promise<void> {
  const deadline = Date.now() + waitMs;
  let now = activeResources();
  while ((now.sockets > before.sockets || now.timers > before.timers) && Date.now() < deadline) {
    await sleep(20);
    now = activeResources();
  }
  const detail = `active now: ${process.getActiveResourcesInfo().join(', ')}`;
  expect(now.sockets, `sockets left open (${detail})`).toBeLessThanOrEqual(before.sockets);
  expect(now.timers, `timers left running (${detail})`).toBeLessThanOrEqual(before.timers);
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
