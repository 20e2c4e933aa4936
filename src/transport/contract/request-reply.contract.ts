/** Contract: request/reply, remote failures, no responders, timeouts, aborts, undecodable replies. */
import { describe, expect, it } from 'vitest';
import type { MessageMeta } from '../transport.ts';
import {
  NoRespondersError,
  RemoteHandlerError,
  TransportConnectionError,
  TransportDecodeError,
  TransportTimeoutError,
} from '../transport-errors.ts';
import { type ContractContext, garbage, sleep } from './context.contract.ts';

export function requestReplyContract(ctx: ContractContext): void {
  const { open, pair, subject, errors } = ctx;
  describe('request and reply', () => {
    it("resolves to the handler's return value, or the value its promise resolves to", async () => {
      const [a, b] = await pair();
      const s = subject();
      const meta: MessageMeta[] = [];
      await b.subscribe<{ x: number }>(s, async ({ x }, m) => {
        meta.push(m);
        await sleep(5);
        return { doubled: x * 2 };
      }).ready;
      await expect(a.request(s, { x: 21 })).resolves.toEqual({ doubled: 42 });
      expect(meta).toEqual([
        {
          subject: s,
          isRequest: true,
          headers: {},
          deadline: expect.any(Number),
          signal: expect.any(AbortSignal),
        },
      ]);
      const sync = subject();
      await b.subscribe(sync, (p) => p).ready;
      await expect(a.request(sync, 'echo')).resolves.toBe('echo');
    });

    it('resolves to undefined when the handler returns nothing', async () => {
      const [a, b] = await pair();
      const s = subject();
      await b.subscribe(s, () => {}).ready;
      await expect(a.request(s, 1)).resolves.toBeUndefined();
    });

    it('answers many concurrent requests, each with its own reply', async () => {
      const [a, b] = await pair();
      const s = subject();
      await b.subscribe<number>(s, async (n) => {
        await sleep(n % 7);
        return n * n;
      }).ready;
      const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => a.request(s, i)));
      expect(replies).toEqual(Array.from({ length: 100 }, (_, i) => i * i));
    });

    it('rejects with RemoteHandlerError carrying the remote code when the handler throws', async () => {
      const [a, b] = await pair();
      const s = subject();
      await b.subscribe(s, (p) => {
        if (p === 'keel') throw new TransportConnectionError('its database is down');
        throw new TypeError('bad input');
      }).ready;
      const keel = await a.request(s, 'keel').catch((e: unknown) => e);
      expect(keel).toBeInstanceOf(RemoteHandlerError);
      expect(keel).toMatchObject({
        code: 'KEEL_TRANSPORT_REMOTE',
        remoteCode: 'KEEL_TRANSPORT_CONNECTION',
        remoteName: 'TransportConnectionError',
        retryable: true,
      });
      expect((keel as Error).message).toContain('its database is down');
      const plain = await a.request(s, 'plain').catch((e: unknown) => e);
      expect(plain).toMatchObject({ remoteCode: 'ERROR', remoteName: 'TypeError', retryable: false });
      expect(errors).toEqual([]);
    });

    it('rejects with a retryable NoRespondersError when nobody subscribes', async () => {
      const [a] = await pair();
      const s = subject();
      const error = await a.request(s, 1, { timeoutMs: 3000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NoRespondersError);
      expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_NO_RESPONDERS', retryable: true, subject: s });
    });

    it('rejects with a retryable TransportTimeoutError when no reply comes in time', async () => {
      const [a, b] = await pair();
      const s = subject();
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      await b.subscribe(s, () => held).ready;
      try {
        const error = await a.request(s, 1, { timeoutMs: 100 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TransportTimeoutError);
        expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_TIMEOUT', retryable: true, timeoutMs: 100 });
        expect((error as Error).message).toContain(s);
      } finally {
        release();
      }
    });

    it('waits for the reply under a timeoutMs past 2^31-1 ms instead of timing out at once', async () => {
      const [a, b] = await pair();
      const s = subject();
      await b.subscribe(s, async (n: number) => {
        await sleep(100);
        return n + 1;
      }).ready;
      await expect(a.request(s, 1, { timeoutMs: 2 ** 31 })).resolves.toBe(2);
      await expect(a.request(s, 2, { timeoutMs: 2 ** 40 })).resolves.toBe(3);
    });

    it('rejects with the signal reason when aborted, before or while waiting', async () => {
      const [a, b] = await pair();
      const s = subject();
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      await b.subscribe(s, () => held).ready;
      try {
        const reason = new Error('caller gave up');
        await expect(a.request(s, 1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
        const controller = new AbortController();
        const pending = a.request(s, 1, { signal: controller.signal, timeoutMs: 5000 });
        await sleep(20);
        controller.abort(reason);
        await expect(pending).rejects.toBe(reason);
      } finally {
        release();
      }
    });

    it('returns a RemoteHandlerError with the decode code when the request does not decode', async () => {
      const a = await open({ serializer: garbage });
      const b = await open();
      const s = subject();
      await b.subscribe(s, () => 'never').ready;
      const error = await a.request(s, 'x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RemoteHandlerError);
      expect(error).toMatchObject({ remoteCode: 'KEEL_TRANSPORT_DECODE' });
      expect(errors.map((e) => e.error.code)).toEqual(['KEEL_TRANSPORT_DECODE']);
    });

    it('rejects with TransportDecodeError when the reply does not decode; other requests are unaffected', async () => {
      const a = await open();
      const bad = await open({ serializer: garbage });
      const good = await open();
      const badSubject = subject('bad');
      const goodSubject = subject('good');
      await bad.subscribe(badSubject, () => 'reply').ready;
      await good.subscribe(goodSubject, (p) => p).ready;
      const [broken, fine] = await Promise.allSettled([a.request(badSubject, 1), a.request(goodSubject, 2)]);
      expect(broken.status === 'rejected' && broken.reason).toBeInstanceOf(TransportDecodeError);
      expect(fine).toEqual({ status: 'fulfilled', value: 2 });
    });
  });
}
