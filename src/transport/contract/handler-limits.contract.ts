/** Contract: a subscription runs a bounded number of handlers, holds a bounded backlog, and drops past it. */
import { describe, expect, it } from 'vitest';
import { RemoteHandlerError, SubscriptionOverflowError } from '../transport-errors.ts';
import { type ContractContext, collector, sleep } from './context.contract.ts';

/** A gate handlers wait on, and a count of how many are inside at once. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const state = { inside: 0, most: 0, started: 0 };
  return {
    state,
    open,
    enter: async (): Promise<void> => {
      state.inside++;
      state.started++;
      state.most = Math.max(state.most, state.inside);
      await opened;
      state.inside--;
    },
  };
}

export function handlerLimitsContract(ctx: ContractContext): void {
  const { pair, subject, errors } = ctx;
  describe('handler limits', () => {
    it('runs at most 64 handlers of one subscription at once when no concurrency is given', async () => {
      const [a, b] = await pair();
      const s = subject();
      const g = gate();
      const done = collector<number>();
      await b.subscribe<number>(s, async (n, meta) => {
        await g.enter();
        done.handler(n, meta);
      }).ready;
      try {
        for (let i = 0; i < 100; i++) await a.publish(s, i);
        await expect.poll(() => g.state.started, { timeout: 5000 }).toBe(64);
        // The others wait for a turn rather than start: give them every chance to.
        await sleep(100);
        expect(g.state.started).toBe(64);
      } finally {
        g.open();
      }
      await done.waitFor(100);
      expect(g.state.most).toBe(64);
      expect(done.items.map((i) => i.payload).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 100 }, (_, i) => i),
      );
      expect(errors).toEqual([]);
    });

    it('holds maxPending messages past concurrency, drops and counts the rest, and reports the burst once', async () => {
      const [a, b] = await pair();
      const s = subject();
      const g = gate();
      const done = collector<number>();
      const sub = b.subscribe<number>(
        s,
        async (n, meta) => {
          await g.enter();
          done.handler(n, meta);
        },
        { concurrency: 1, maxPending: 2 },
      );
      await sub.ready;
      try {
        for (let i = 0; i < 10; i++) await a.publish(s, i);
        await expect.poll(() => sub.dropped, { timeout: 5000 }).toBe(7);
        expect(g.state.started).toBe(1);
      } finally {
        g.open();
      }
      // The one running and the two waiting are handled, in order; the seven past them are not.
      await done.waitFor(3);
      await sleep(50);
      expect(done.items.map((i) => i.payload)).toEqual([0, 1, 2]);
      expect(g.state.most).toBe(1);
      const overflows = errors.filter((e) => e.error.code === 'KEEL_TRANSPORT_OVERFLOW');
      expect(overflows).toHaveLength(1);
      expect(overflows[0]?.error).toBeInstanceOf(SubscriptionOverflowError);
      expect(overflows[0]?.error).toMatchObject({
        subject: s,
        concurrency: 1,
        maxPending: 2,
        retryable: true,
      });
      expect(overflows[0]?.subject).toBe(s);
      expect(errors).toHaveLength(1);
    });

    it('reports a new burst once the backlog has cleared', async () => {
      const [a, b] = await pair();
      const s = subject();
      let g = gate();
      const sub = b.subscribe(s, () => g.enter(), { concurrency: 1, maxPending: 0 });
      await sub.ready;
      try {
        for (let i = 0; i < 3; i++) await a.publish(s, i);
        await expect.poll(() => sub.dropped, { timeout: 5000 }).toBe(2);
      } finally {
        g.open();
      }
      await sleep(50);
      g = gate();
      try {
        for (let i = 0; i < 3; i++) await a.publish(s, i);
        await expect.poll(() => sub.dropped, { timeout: 5000 }).toBe(4);
      } finally {
        g.open();
      }
      expect(errors.map((e) => e.error.code)).toEqual(['KEEL_TRANSPORT_OVERFLOW', 'KEEL_TRANSPORT_OVERFLOW']);
    });

    it('answers a request past the limit at once with a retryable overflow error', async () => {
      const [a, b] = await pair();
      const s = subject();
      const g = gate();
      await b.subscribe(s, () => g.enter().then(() => 'served'), { concurrency: 1, maxPending: 0 }).ready;
      try {
        const first = a.request(s, 1, { timeoutMs: 10_000 });
        await expect.poll(() => g.state.started, { timeout: 5000 }).toBe(1);
        const error = await a.request(s, 2, { timeoutMs: 10_000 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RemoteHandlerError);
        expect(error).toMatchObject({ remoteCode: 'KEEL_TRANSPORT_OVERFLOW', retryable: true });
        g.open();
        await expect(first).resolves.toBe('served');
      } finally {
        g.open();
      }
    });

    it('drops what still waits when the subscription ends, answering waiting requests at once', async () => {
      const [a, b] = await pair();
      const s = subject();
      const g = gate();
      const sub = b.subscribe(s, () => g.enter().then(() => 'served'), { concurrency: 1, maxPending: 1 });
      await sub.ready;
      try {
        const first = a.request(s, 1, { timeoutMs: 10_000 });
        await expect.poll(() => g.state.started, { timeout: 5000 }).toBe(1);
        const second = a.request(s, 2, { timeoutMs: 10_000 }).catch((e: unknown) => e);
        // Requests from one connection arrive in order: once the third is refused, the second waits.
        const third = await a.request(s, 3, { timeoutMs: 10_000 }).catch((e: unknown) => e);
        expect(third).toMatchObject({ remoteCode: 'KEEL_TRANSPORT_OVERFLOW' });
        sub();
        expect(await second).toBeInstanceOf(RemoteHandlerError);
        expect(await second).toMatchObject({ remoteCode: 'KEEL_TRANSPORT_NO_RESPONDERS', retryable: true });
        expect(sub.dropped).toBe(2);
        g.open();
        await expect(first).resolves.toBe('served');
      } finally {
        g.open();
      }
      expect(g.state.started).toBe(1);
    });

    it('lets Infinity lift the bounds, and rejects other bad values, naming them', async () => {
      const [a, b] = await pair();
      const s = subject();
      const g = gate();
      await b.subscribe(s, () => g.enter(), { concurrency: Number.POSITIVE_INFINITY }).ready;
      try {
        for (let i = 0; i < 80; i++) await a.publish(s, i);
        await expect.poll(() => g.state.started, { timeout: 5000 }).toBe(80);
      } finally {
        g.open();
      }
      expect(() => b.subscribe(s, () => {}, { concurrency: 0 })).toThrow(
        /Transport\.subscribe\(\) concurrency must be an integer ≥ 1 or Infinity; received 0/,
      );
      expect(() => b.subscribe(s, () => {}, { maxPending: -1 })).toThrow(
        /Transport\.subscribe\(\) maxPending must be an integer ≥ 0 or Infinity; received -1/,
      );
      expect(() => b.subscribe(s, () => {}, { maxPending: 1.5 })).toThrow(/received 1\.5/);
    });
  });
}
