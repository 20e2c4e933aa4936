/** Contract: publish/subscribe, wildcards, order, unsubscribe, undecodable and unencodable payloads. */
import { describe, expect, it } from 'vitest';
import { TransportDecodeError, TransportEncodeError, TransportHandlerError } from '../transport-errors.ts';
import { type ContractContext, collector, garbage, sleep } from './context.contract.ts';

export function publishSubscribeContract(ctx: ContractContext): void {
  const { open, pair, subject, errors } = ctx;
  describe('publish and subscribe', () => {
    it('delivers a payload to a subscriber on another connection, decoded, with its subject', async () => {
      const [a, b] = await pair();
      const s = subject();
      const got = collector();
      await b.subscribe(s, got.handler).ready;
      await a.publish(s, { id: 1, tags: ['x'], nested: { ok: true } });
      await got.waitFor(1);
      expect(got.items[0]).toEqual({
        payload: { id: 1, tags: ['x'], nested: { ok: true } },
        meta: { subject: s, isRequest: false, headers: {} },
      });
    });

    it('gives every plain subscription its own copy', async () => {
      const [a, b] = await pair();
      const s = subject();
      const one = collector();
      const two = collector();
      const three = collector();
      await Promise.all([
        a.subscribe(s, one.handler).ready,
        b.subscribe(s, two.handler).ready,
        b.subscribe(s, three.handler).ready,
      ]);
      await a.publish(s, 'hello');
      await Promise.all([one.waitFor(1), two.waitFor(1), three.waitFor(1)]);
      await sleep(30);
      expect([one.items.length, two.items.length, three.items.length]).toEqual([1, 1, 1]);
    });

    it('keeps the order of one publisher on one subject', async () => {
      const [a, b] = await pair();
      const s = subject();
      const got = collector<number>();
      await b.subscribe(s, got.handler).ready;
      for (let i = 0; i < 300; i++) await a.publish(s, i);
      await got.waitFor(300);
      expect(got.items.map((item) => item.payload)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    });

    it('carries null, numbers, strings, arrays and undefined', async () => {
      const [a, b] = await pair();
      const s = subject();
      const got = collector();
      await b.subscribe(s, got.handler).ready;
      const values = [null, 0, -1.5, '', 'text', [1, [2]], undefined, false];
      for (const v of values) await a.publish(s, v);
      await got.waitFor(values.length);
      expect(got.items.map((item) => item.payload)).toEqual(values);
    });

    it('matches * to one token and > to one or more trailing tokens', async () => {
      const [a, b] = await pair();
      const base = subject('root');
      const star = collector();
      const tail = collector();
      await Promise.all([
        b.subscribe(`${base}.*.created`, star.handler).ready,
        b.subscribe(`${base}.>`, tail.handler).ready,
      ]);
      await a.publish(`${base}.orders.created`, 1);
      await a.publish(`${base}.orders.deep.created`, 2);
      await a.publish(`${base}.orders`, 3);
      await a.publish(base, 4);
      await tail.waitFor(3);
      await star.waitFor(1);
      await sleep(50);
      expect(star.items.map((i) => [i.payload, i.meta.subject])).toEqual([[1, `${base}.orders.created`]]);
      expect(tail.items.map((i) => i.payload)).toEqual([1, 2, 3]);
    });

    it('stops delivering after unsubscribe, which is idempotent', async () => {
      const [a, b] = await pair();
      const s = subject();
      const got = collector();
      const marker = collector();
      const sub = b.subscribe(s, got.handler);
      await sub.ready;
      await b.subscribe(s, marker.handler).ready;
      await a.publish(s, 1);
      await got.waitFor(1);
      sub();
      sub();
      await a.publish(s, 2);
      await marker.waitFor(2);
      await sleep(30);
      expect(got.items.map((i) => i.payload)).toEqual([1]);
    });

    it('unsubscribes at the end of a `using` block and when the signal aborts', async () => {
      const [a, b] = await pair();
      const s = subject();
      const scoped = collector();
      const aborted = collector();
      const marker = collector();
      const controller = new AbortController();
      await b.subscribe(s, marker.handler).ready;
      await b.subscribe(s, aborted.handler, { signal: controller.signal }).ready;
      {
        using sub = b.subscribe(s, scoped.handler);
        await sub.ready;
        await a.publish(s, 1);
        await scoped.waitFor(1);
      }
      controller.abort();
      await a.publish(s, 2);
      await marker.waitFor(2);
      await sleep(30);
      expect(scoped.items.map((i) => i.payload)).toEqual([1]);
      expect(aborted.items.map((i) => i.payload)).toEqual([1]);
    });

    it('reports a handler failure to onError and keeps delivering', async () => {
      const [a, b] = await pair();
      const s = subject();
      const got = collector();
      await b.subscribe(s, (payload, meta) => {
        if (payload === 'bad') throw new Error('boom');
        got.handler(payload, meta);
      }).ready;
      await a.publish(s, 'bad');
      await a.publish(s, 'good');
      await got.waitFor(1);
      await sleep(20);
      expect(got.items.map((i) => i.payload)).toEqual(['good']);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.error).toBeInstanceOf(TransportHandlerError);
      expect(errors[0]?.error.message).toContain('boom');
      expect(errors[0]?.subject).toBe(s);
    });

    it('rejects a message that does not decode, reports it, and delivers the next one', async () => {
      const a = await open({ serializer: garbage });
      const good = await open();
      const b = await open();
      const s = subject();
      const got = collector();
      await b.subscribe(s, got.handler).ready;
      await a.publish(s, 'anything');
      await good.publish(s, 'fine');
      await got.waitFor(1);
      await sleep(20);
      expect(got.items.map((i) => i.payload)).toEqual(['fine']);
      expect(errors).toHaveLength(1);
      expect(errors[0]?.error).toBeInstanceOf(TransportDecodeError);
      expect(errors[0]?.error.code).toBe('KEEL_TRANSPORT_DECODE');
      expect(errors[0]?.error.message).toContain(s);
    });

    it('rejects a payload the serializer cannot encode, without sending anything', async () => {
      const [a, b] = await pair();
      const s = subject();
      const got = collector();
      await b.subscribe(s, got.handler).ready;
      await expect(a.publish(s, { n: 1n })).rejects.toBeInstanceOf(TransportEncodeError);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(a.publish(s, cyclic)).rejects.toMatchObject({ code: 'KEEL_TRANSPORT_ENCODE' });
      await a.publish(s, 'after');
      await got.waitFor(1);
      expect(got.items.map((i) => i.payload)).toEqual(['after']);
    });
  });
}
