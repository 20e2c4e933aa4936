/**
 * Contract: a request handler's deadline and signal. The budget travels with the request; a caller that
 * aborts or times out sends a cancel, and the handler's signal aborts on whichever member took the request.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { cancelSubject, encodeCancel } from '../cancel-message.ts';
import type { Serializer } from '../serializer.ts';
import type { RequestMessageMeta } from '../transport.ts';
import { RequestCancelledError, RequestDeadlineError, TransportTimeoutError } from '../transport-errors.ts';
import {
  activeResources,
  baselineResources,
  type ContractContext,
  expectReleased,
  sleep,
} from './context.contract.ts';

/** Sends bytes as they are: to write a cancel by hand, as another requester would. */
const rawBytes: Serializer = {
  name: 'raw',
  encode: (value) => value as Uint8Array,
  decode: (bytes) => bytes,
};

/** Resolves when `signal` aborts, with the time it did; rejects after `ms`. */
function aborted(signal: AbortSignal, ms = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      resolve(Date.now());
      return;
    }
    const timer = setTimeout(
      () => reject(new Error(`the handler's signal did not abort within ${ms} ms`)),
      ms,
    );
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve(Date.now());
      },
      { once: true },
    );
  });
}

/** A handler that records its meta and holds until released. */
function holder() {
  const metas: RequestMessageMeta[] = [];
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started = () => {};
  const first = new Promise<void>((resolve) => {
    started = resolve;
  });
  return {
    metas,
    release: () => release(),
    started: first,
    handler: async (_payload: unknown, meta: RequestMessageMeta | { isRequest: false }) => {
      if (meta.isRequest) metas.push(meta);
      started();
      await held;
      return 'done';
    },
  };
}

export function deadlinesContract(ctx: ContractContext): void {
  const { open, pair, subject, errors, queueGroups } = ctx;
  describe('deadlines and cancellation', () => {
    it('gives a request handler a deadline of arrival + timeoutMs, and a signal not yet aborted', async () => {
      const [a, b] = await pair();
      const s = subject();
      const metas: RequestMessageMeta[] = [];
      await b.subscribe(s, (_p, meta) => {
        if (meta.isRequest) metas.push(meta);
      }).ready;
      const before = Date.now();
      await a.request(s, 1, { timeoutMs: 3000 });
      const after = Date.now();
      await a.request(s, 2, { timeoutMs: 2 ** 40 });
      expect(metas).toHaveLength(2);
      // Arrival lies between the call and its reply, on this one clock.
      expect(metas[0]?.deadline).toBeGreaterThanOrEqual(before + 3000);
      expect(metas[0]?.deadline).toBeLessThanOrEqual(after + 3000);
      expect(metas[0]?.signal.aborted).toBe(false);
      expect(metas[1]?.deadline).toBeGreaterThanOrEqual(before + 2 ** 40);
      expect(metas[1]?.signal.aborted).toBe(false);
    });

    it("aborts the handler's signal with RequestCancelledError when the caller aborts", async () => {
      const [a, b] = await pair();
      const s = subject();
      const held = holder();
      await b.subscribe(s, held.handler).ready;
      const controller = new AbortController();
      const reason = new Error('caller gave up');
      const pending = a.request(s, 1, { signal: controller.signal, timeoutMs: 30_000 });
      try {
        await held.started;
        const signal = held.metas[0]?.signal as AbortSignal;
        expect(signal.aborted).toBe(false);
        const abortedAt = Date.now();
        controller.abort(reason);
        await expect(pending).rejects.toBe(reason);
        // A generous bound for a loaded machine; on loopback this takes a few milliseconds.
        const at = await aborted(signal, 1000);
        expect(at - abortedAt).toBeLessThan(1000);
        expect(signal.reason).toBeInstanceOf(RequestCancelledError);
        expect(signal.reason).toMatchObject({
          code: 'KEEL_TRANSPORT_CANCELLED',
          retryable: false,
          subject: s,
        });
      } finally {
        held.release();
      }
      // The handler that went on and replied anyway breaks nothing: its reply is dropped.
      await sleep(50);
      expect(errors).toEqual([]);
      await b.subscribe(`${s}.next`, (p) => p).ready;
      await expect(a.request(`${s}.next`, 'still fine')).resolves.toBe('still fine');
    });

    it("aborts the handler's signal with RequestDeadlineError when the deadline passes", async () => {
      const [a, b] = await pair();
      const s = subject();
      const held = holder();
      await b.subscribe(s, held.handler).ready;
      try {
        const pending = a.request(s, 1, { timeoutMs: 300 }).catch((e: unknown) => e);
        await held.started;
        const meta = held.metas[0] as RequestMessageMeta;
        const at = await aborted(meta.signal, 5000);
        expect(meta.signal.reason).toBeInstanceOf(RequestDeadlineError);
        expect(meta.signal.reason).toMatchObject({ code: 'KEEL_TRANSPORT_DEADLINE', retryable: true });
        // Not early: the caller's cancel may beat the local timer by the time the request took to arrive.
        expect(at).toBeGreaterThanOrEqual(meta.deadline - 100);
        expect(await pending).toBeInstanceOf(TransportTimeoutError);
      } finally {
        held.release();
      }
    });

    it('aborts a signal first read after the deadline at once', async () => {
      const [a, b] = await pair();
      const s = subject();
      const reasons: unknown[] = [];
      await b.subscribe(s, async (_p, meta) => {
        await sleep(250);
        if (meta.isRequest) reasons.push(meta.signal.aborted && meta.signal.reason);
      }).ready;
      await expect(a.request(s, 1, { timeoutMs: 100 })).rejects.toBeInstanceOf(TransportTimeoutError);
      await expect.poll(() => reasons).toHaveLength(1);
      expect(reasons[0]).toBeInstanceOf(RequestDeadlineError);
    });

    it('does not call the handler for a request whose deadline passed while it waited for a turn', async () => {
      const [a, b] = await pair();
      const s = subject();
      const held = holder();
      const calls: unknown[] = [];
      await b.subscribe(
        s,
        (p, meta) => {
          calls.push(p);
          return held.handler(p, meta as RequestMessageMeta);
        },
        { concurrency: 1 },
      ).ready;
      const first = a.request(s, 'first', { timeoutMs: 10_000 });
      await held.started;
      await expect(a.request(s, 'late', { timeoutMs: 100 })).rejects.toBeInstanceOf(TransportTimeoutError);
      // The responder's deadline counts from arrival, a little after the caller's: let it pass there too.
      await sleep(200);
      held.release();
      await expect(first).resolves.toBe('done');
      await expect(a.request(s, 'after', { timeoutMs: 10_000 })).resolves.toBe('done');
      expect(calls).toEqual(['first', 'after']);
    });

    it('does not call the handler for a request whose caller aborted while it waited for a turn', async () => {
      const [a, b] = await pair();
      const s = subject();
      const held = holder();
      const calls: unknown[] = [];
      await b.subscribe(
        s,
        (p, meta) => {
          calls.push(p);
          return held.handler(p, meta as RequestMessageMeta);
        },
        { concurrency: 1 },
      ).ready;
      const first = a.request(s, 'first', { timeoutMs: 10_000 });
      await held.started;
      const controller = new AbortController();
      const waiting = a.request(s, 'abandoned', { timeoutMs: 10_000, signal: controller.signal });
      // Let it reach the responder and queue there, then give up on it: the cancel must find it queued.
      await sleep(100);
      controller.abort(new Error('gave up'));
      await expect(waiting).rejects.toThrow('gave up');
      await sleep(100);
      held.release();
      await expect(first).resolves.toBe('done');
      await expect(a.request(s, 'after', { timeoutMs: 10_000 })).resolves.toBe('done');
      expect(calls).toEqual(['first', 'after']);
    });

    it("cancels the handler of a request still waiting when the caller's transport closes", async () => {
      const [a, b] = await pair();
      const s = subject();
      const held = holder();
      await b.subscribe(s, held.handler).ready;
      const pending = a.request(s, 1, { timeoutMs: 30_000 }).catch((e: unknown) => e);
      try {
        await held.started;
        await a.close({ timeoutMs: 50 });
        expect(await pending).toMatchObject({ code: 'KEEL_TRANSPORT_CLOSED' });
        const signal = held.metas[0]?.signal as AbortSignal;
        await aborted(signal, 5000);
        expect(signal.reason).toBeInstanceOf(RequestCancelledError);
      } finally {
        held.release();
      }
    });

    it('ignores a cancel for an unknown request, and one that is not a cancel at all', async () => {
      const [a, b] = await pair();
      const forger = await open({ serializer: rawBytes });
      const s = subject();
      const held = holder();
      await b.subscribe(s, held.handler).ready;
      const pending = a.request(s, 1, { timeoutMs: 10_000 });
      try {
        await held.started;
        await forger.publish(cancelSubject(s), encodeCancel('no.such.request', 'abort'));
        await forger.publish(cancelSubject(s), new TextEncoder().encode('not a cancel'));
        await sleep(100);
        expect(held.metas[0]?.signal.aborted).toBe(false);
      } finally {
        held.release();
      }
      await expect(pending).resolves.toBe('done');
      expect(errors).toEqual([]);
    });

    it('does nothing when the caller aborts after its reply came', async () => {
      const [a, b] = await pair();
      const s = subject();
      const metas: RequestMessageMeta[] = [];
      await b.subscribe(s, (_p, meta) => {
        if (meta.isRequest) metas.push(meta);
        return 'ok';
      }).ready;
      const controller = new AbortController();
      await expect(a.request(s, 1, { signal: controller.signal })).resolves.toBe('ok');
      const signal = metas[0]?.signal as AbortSignal;
      controller.abort();
      await sleep(100);
      expect(signal.aborted).toBe(false);
      expect(errors).toEqual([]);
    });

    it('leaves no timer once a handler that read its signal has finished, and no listener on the caller signal', async () => {
      const [a, b] = await pair();
      const s = subject();
      await b.subscribe(s, async (_p, meta) => {
        // Reading the signal arms the deadline timer; the end of the call must clear it.
        if (meta.isRequest) meta.signal.throwIfAborted();
        await sleep(1);
        return 'ok';
      }).ready;
      const before = await baselineResources();
      const shared = new AbortController();
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => a.request(s, 1, { timeoutMs: 60_000, signal: shared.signal })),
      );
      expect(replies).toEqual(Array(20).fill('ok'));
      expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
      await expectReleased(before);
      expect(activeResources().timers).toBeLessThanOrEqual(before.timers);
    });

    if (queueGroups) {
      it('cancels the handler on the member of a queue group that took the request, and no other', async () => {
        const [a, b] = await pair();
        const c = await open();
        const s = subject();
        const first = holder();
        const second = holder();
        await b.subscribe(s, first.handler, { queue: 'workers' }).ready;
        await c.subscribe(s, second.handler, { queue: 'workers' }).ready;
        const one = new AbortController();
        const two = new AbortController();
        const pending = [
          a.request(s, 1, { signal: one.signal, timeoutMs: 30_000 }).catch((e: unknown) => e),
          a.request(s, 2, { signal: two.signal, timeoutMs: 30_000 }).catch((e: unknown) => e),
        ];
        try {
          // Both requests are running, one on each member or both on one: either way each has its signal.
          await expect.poll(() => first.metas.length + second.metas.length).toBe(2);
          const metas = [...first.metas, ...second.metas];
          one.abort();
          await expect.poll(() => metas.filter((m) => m.signal.aborted).length).toBe(1);
          await sleep(50);
          expect(metas.filter((m) => m.signal.aborted)).toHaveLength(1);
          two.abort();
          await expect.poll(() => metas.filter((m) => m.signal.aborted).length).toBe(2);
        } finally {
          first.release();
          second.release();
        }
        await Promise.all(pending);
        expect(errors).toEqual([]);
      });
    }
  });
}
