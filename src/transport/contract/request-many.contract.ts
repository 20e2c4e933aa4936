/** Contract: scatter-gather with requestMany — every responder's reply, its ends, failures, aborts and cancels. */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { GatheredReply, MessageMeta } from '../transport.ts';
import {
  RemoteHandlerError,
  RequestCancelledError,
  RequestDeadlineError,
  TransportClosedError,
} from '../transport-errors.ts';
import { type ContractContext, sleep } from './context.contract.ts';

/** The values of the replies that carry one, sorted. */
const values = (replies: GatheredReply[]) =>
  replies
    .filter((r) => r.ok)
    .map((r) => (r as { value: unknown }).value)
    .sort();

/** Resolves with a request's signal reason once it aborts (bounded by `ms`). */
function abortedWithin(meta: MessageMeta, ms: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (!meta.isRequest) return reject(new Error('not a request'));
    const timer = setTimeout(() => reject(new Error(`the handler signal did not abort within ${ms} ms`)), ms);
    meta.signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve(meta.signal.reason);
      },
      { once: true },
    );
  });
}

export function requestManyContract(ctx: ContractContext): void {
  const { open, pair, subject, errors, queueGroups } = ctx;
  describe('requestMany (scatter-gather)', () => {
    it('gathers one reply from every subscription, across connections, and ends at maxReplies', async () => {
      const [a, b] = await pair();
      const c = await open();
      const s = subject();
      await Promise.all([
        b.subscribe(s, (p: number) => `b1:${p}`).ready,
        b.subscribe(s, (p: number) => `b2:${p}`).ready,
        c.subscribe(s, async (p: number) => {
          await sleep(20);
          return `c:${p}`;
        }).ready,
      ]);
      const started = Date.now();
      const replies = await a.requestMany(s, 7, { timeoutMs: 10_000, maxReplies: 3 });
      expect(values(replies)).toEqual(['b1:7', 'b2:7', 'c:7']);
      // maxReplies ended it, not the 10 s timeout.
      expect(Date.now() - started).toBeLessThan(10_000);
      // Without maxReplies it gathers until timeoutMs.
      const all = await a.requestMany(s, 8, { timeoutMs: 1000 });
      expect(values(all)).toEqual(['b1:8', 'b2:8', 'c:8']);
    });

    if (queueGroups) {
      it('gets one reply per queue group, as request does', async () => {
        const [a, b] = await pair();
        const c = await open();
        const s = subject();
        await Promise.all([
          b.subscribe(s, () => 'member', { queue: 'g' }).ready,
          c.subscribe(s, () => 'member', { queue: 'g' }).ready,
          c.subscribe(s, () => 'alone').ready,
        ]);
        const replies = await a.requestMany(s, null, { timeoutMs: 1000 });
        expect(values(replies)).toEqual(['alone', 'member']);
      });
    }

    it('resolves to [] at once when nobody subscribes', async () => {
      const [a] = await pair();
      const started = Date.now();
      await expect(a.requestMany(subject(), 1, { timeoutMs: 10_000 })).resolves.toEqual([]);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('ends stallMs after the last reply, and cancels a responder still working (its signal aborts)', async () => {
      const [a, b] = await pair();
      const s = subject();
      const slow: Promise<unknown>[] = [];
      await Promise.all([
        b.subscribe(s, () => 'fast').ready,
        b.subscribe(s, async (_p, meta) => {
          const aborted = abortedWithin(meta, 5000);
          slow.push(aborted);
          await aborted.catch(() => {});
          return 'slow';
        }).ready,
      ]);
      const started = Date.now();
      const replies = await a.requestMany(s, null, { timeoutMs: 10_000, stallMs: 200 });
      expect(values(replies)).toEqual(['fast']);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await slow[0]).toBeInstanceOf(RequestCancelledError);
    });

    it('at timeoutMs resolves to the replies so far; a responder still working hears of the deadline', async () => {
      const [a, b] = await pair();
      const s = subject();
      const slow: Promise<unknown>[] = [];
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      await Promise.all([
        b.subscribe(s, () => 'fast').ready,
        b.subscribe(s, async (_p, meta) => {
          slow.push(abortedWithin(meta, 5000));
          await held;
          return 'slow';
        }).ready,
      ]);
      try {
        const replies = await a.requestMany(s, null, { timeoutMs: 1000 });
        expect(values(replies)).toEqual(['fast']);
        expect(await slow[0]).toBeInstanceOf(RequestDeadlineError);
      } finally {
        release();
      }
    });

    it("gives a responder's failure as its reply's error, beside the others' values", async () => {
      const [a, b] = await pair();
      const s = subject();
      await Promise.all([
        b.subscribe(s, () => 'fine').ready,
        b.subscribe(s, () => {
          throw new TypeError('broken responder');
        }).ready,
      ]);
      const replies = await a.requestMany(s, null, { timeoutMs: 5000, maxReplies: 2 });
      expect(values(replies)).toEqual(['fine']);
      const failed = replies.find((r) => !r.ok) as { error: unknown };
      expect(failed.error).toBeInstanceOf(RemoteHandlerError);
      expect(failed.error).toMatchObject({ remoteName: 'TypeError' });
      expect(errors).toEqual([]);
    });

    it('rejects with the signal reason when aborted, before or while gathering; the responder is cancelled', async () => {
      const [a, b] = await pair();
      const s = subject();
      const seen: Promise<unknown>[] = [];
      await b.subscribe(s, async (_p, meta) => {
        const aborted = abortedWithin(meta, 5000);
        seen.push(aborted);
        await aborted.catch(() => {});
        return 'late';
      }).ready;
      const reason = new Error('enough');
      await expect(a.requestMany(s, 1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      const controller = new AbortController();
      const gathering = a.requestMany(s, 1, { signal: controller.signal, timeoutMs: 10_000 });
      for (const until = Date.now() + 5000; seen.length === 0; await sleep(5)) {
        if (Date.now() > until) throw new Error('the handler did not start within 5000 ms');
      }
      controller.abort(reason);
      await expect(gathering).rejects.toBe(reason);
      expect(await seen[0]).toBeInstanceOf(RequestCancelledError);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    });

    it('rejects with TransportClosedError when the transport closes before it ends', async () => {
      const [a, b] = await pair();
      const s = subject();
      await b.subscribe(s, () => 'x').ready;
      const gathering = a.requestMany(s, 1, { timeoutMs: 30_000 });
      await a.close({ timeoutMs: 100 });
      await expect(gathering).rejects.toBeInstanceOf(TransportClosedError);
      await expect(a.requestMany(s, 1)).rejects.toBeInstanceOf(TransportClosedError);
    });

    it('refuses bad options and subjects by name', async () => {
      const [a] = await pair();
      const s = subject();
      await expect(a.requestMany(s, 1, { max: 2 } as never)).rejects.toThrow(
        /Transport\.requestMany\(\) options: unknown option "max"; known options: timeoutMs, maxReplies, stallMs, signal, headers/,
      );
      await expect(a.requestMany(s, 1, { maxReplies: 0 })).rejects.toThrow(
        /maxReplies must be an integer ≥ 1/,
      );
      await expect(a.requestMany(s, 1, { stallMs: -1 })).rejects.toThrow(/stallMs must be an integer ≥ 1/);
      await expect(a.requestMany(s, 1, { timeoutMs: Number.POSITIVE_INFINITY })).rejects.toThrow(
        /timeoutMs must be an integer ≥ 1/,
      );
      await expect(a.requestMany('a.*', 1)).rejects.toThrow(/Transport\.requestMany\(\) subject/);
    });
  });
}
