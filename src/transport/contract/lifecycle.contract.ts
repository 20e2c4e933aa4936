/** Contract: bad arguments, and the draining close. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.ts';
import { TransportClosedError } from '../transport-errors.ts';
import { type ContractContext, collector, sleep } from './context.contract.ts';

export function lifecycleContract(ctx: ContractContext): void {
  const { pair, subject } = ctx;
  describe('bad arguments', () => {
    it('rejects invalid subjects, naming what is allowed and what came', async () => {
      const [a] = await pair();
      for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a.>.b', 'a*', 42]) {
        expect(() => a.subscribe(bad as string, () => {})).toThrow(InvalidArgumentError);
      }
      await expect(a.publish('a.*', 1)).rejects.toThrow(/subject must be .*; received "a\.\*"/);
      await expect(a.publish('a.>', 1)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(a.request('', 1)).rejects.toThrow(/received ""/);
    });

    it('rejects a handler that is not a function, a bad queue, timeoutMs and signal', async () => {
      const [a] = await pair();
      expect(() => a.subscribe('a', 'nope' as never)).toThrow(/handler must be a function; received "nope"/);
      expect(() => a.subscribe('a', () => {}, { queue: '' })).toThrow(/queue must be a non-empty string/);
      await expect(a.request('a', 1, { timeoutMs: 0 })).rejects.toThrow(
        /timeoutMs must be an integer ≥ 1; received 0/,
      );
      await expect(a.request('a', 1, { timeoutMs: Number.NaN })).rejects.toThrow(/received NaN/);
      await expect(a.request('a', 1, { signal: 'x' as never })).rejects.toThrow(
        /signal must be an AbortSignal/,
      );
    });
  });

  describe('options', () => {
    it('refuses unknown option keys, naming the call and the known options', async () => {
      const [a] = await pair();
      const s = subject();
      await expect(a.publish(s, 1, { sigal: undefined } as never)).rejects.toThrow(
        'Transport.publish() options: unknown option "sigal"; known options: signal, headers',
      );
      expect(() => a.subscribe(s, () => {}, { concurency: 2 } as never)).toThrow(
        'Transport.subscribe() options: unknown option "concurency"; known options: queue, signal, concurrency, maxPending',
      );
      await expect(a.request(s, 1, { timeout: 10 } as never)).rejects.toThrow(
        'Transport.request() options: unknown option "timeout"; known options: timeoutMs, signal, headers',
      );
      await expect(a.close({ grace: 10 } as never)).rejects.toThrow(
        'Transport.close() options: unknown option "grace"; known options: timeoutMs, signal',
      );
      expect(a.closed).toBe(false);
    });

    it('names the call in the message of a bad option', async () => {
      const [a] = await pair();
      await expect(a.request('a', 1, { timeoutMs: 0 })).rejects.toThrow(
        'Transport.request() timeoutMs must be an integer ≥ 1; received 0',
      );
      await expect(a.publish('a', 1, { signal: 'x' as never })).rejects.toThrow(
        'Transport.publish() signal must be an AbortSignal; received "x"',
      );
      expect(() => a.subscribe('a', () => {}, { queue: 'a b' })).toThrow(
        /^Transport\.subscribe\(\) queue must be a non-empty string/,
      );
      expect(() => a.subscribe('a', 1 as never)).toThrow('Transport.subscribe() handler must be a function');
      await expect(a.close({ timeoutMs: 0 })).rejects.toThrow(
        'Transport.close() timeoutMs must be an integer ≥ 1; received 0',
      );
      expect(a.closed).toBe(false);
    });
  });

  describe('close', () => {
    it('lets an in-flight request finish under a timeoutMs past 2^31-1 ms', async () => {
      const [a, b] = await pair();
      const s = subject();
      await b.subscribe(s, async () => {
        await sleep(150);
        return 'answered';
      }).ready;
      const reply = a.request(s, null, { timeoutMs: 5000 });
      const outcome = reply.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      await sleep(20);
      await a.close({ timeoutMs: 2 ** 31 });
      expect(await outcome).toEqual({ value: 'answered' });
    });

    it('lets a running handler finish and deliver its reply before the connection closes', async () => {
      const [a, b] = await pair();
      const s = subject();
      let started = () => {};
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      await b.subscribe(s, async () => {
        started();
        await sleep(150);
        return 'finished';
      }).ready;
      const reply = a.request(s, null, { timeoutMs: 3000 });
      await running;
      await b.close();
      await expect(reply).resolves.toBe('finished');
    });

    it('waits for its own pending requests, then refuses new work with TransportClosedError', async () => {
      const [a, b] = await pair();
      const s = subject();
      await b.subscribe(s, async () => {
        await sleep(100);
        return 'late';
      }).ready;
      const reply = a.request(s, null);
      await sleep(10);
      const closing = a.close();
      expect(a.closed).toBe(true);
      await expect(a.publish(s, 1)).rejects.toBeInstanceOf(TransportClosedError);
      await expect(a.request(s, 1)).rejects.toMatchObject({ code: 'KEEL_TRANSPORT_CLOSED' });
      expect(() => a.subscribe(s, () => {})).toThrow(TransportClosedError);
      await expect(reply).resolves.toBe('late');
      await closing;
      expect(a.close()).toBe(closing);
    });

    it('close() lets a request that this same transport answers get its reply', async () => {
      const [a] = await pair();
      const s = subject();
      await a.subscribe(s, async (n: number) => {
        await sleep(20);
        return n + 1;
      }).ready;
      const reply = a.request(s, 1, { timeoutMs: 2000 });
      const replied = expect(reply).resolves.toBe(2);
      const started = Date.now();
      await a.close({ timeoutMs: 2000 });
      await replied;
      // The reply came as soon as the handler answered, not at a deadline.
      expect(Date.now() - started).toBeLessThan(1500);
    });

    it("stops waiting when close()'s signal aborts, then rejects with the reason", async () => {
      const [a, b] = await pair();
      const s = subject();
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      await b.subscribe(s, () => held).ready;
      try {
        const pending = a.request(s, 1, { timeoutMs: 5000 });
        // Read the request's outcome from the start: it settles while close() is still shutting down.
        const pendingOutcome = expect(pending).rejects.toBeInstanceOf(TransportClosedError);
        await sleep(20);
        const reason = new Error('shut down now');
        const controller = new AbortController();
        const closing = a.close({ signal: controller.signal, timeoutMs: 5000 });
        controller.abort(reason);
        await expect(closing).rejects.toBe(reason);
        await pendingOutcome;
        await expect(a.close()).rejects.toBe(reason);
      } finally {
        release();
      }
    });

    it('rejects bad close options, naming them', async () => {
      const [a] = await pair();
      await expect(a.close({ timeoutMs: -1 })).rejects.toThrow(
        /timeoutMs must be an integer ≥ 1; received -1/,
      );
      await expect(a.close({ signal: {} as never })).rejects.toThrow(/signal must be an AbortSignal/);
      expect(a.closed).toBe(false);
    });

    it('stops delivering to the subscriptions of a closed transport', async () => {
      const [a, b] = await pair();
      const s = subject();
      const got = collector();
      const marker = collector();
      await b.subscribe(s, got.handler).ready;
      await a.subscribe(s, marker.handler).ready;
      await b.close();
      await a.publish(s, 1);
      await marker.waitFor(1);
      await sleep(30);
      expect(got.items).toEqual([]);
    });
  });
}
