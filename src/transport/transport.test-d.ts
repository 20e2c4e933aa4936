/** The Transport contract's types: typed handlers and replies, subscriptions usable with `using`. */
import { describe, expectTypeOf, it } from 'vitest';
import type { Subscription } from '../events/index.ts';
import { openTransport } from './open-transport.ts';
import type {
  GatheredReply,
  MessageHeaders,
  MessageMeta,
  PublishedMessageMeta,
  RequestMessageMeta,
  Transport,
  TransportSubscription,
} from './transport.ts';

declare const transport: Transport;

describe('Transport types', () => {
  it('types the replies requestMany gathers: each a value or an error', async () => {
    const replies = await transport.requestMany<number>('shapes.count', null, { maxReplies: 3 });
    expectTypeOf(replies).toEqualTypeOf<GatheredReply<number>[]>();
    const [first] = replies;
    if (first?.ok) expectTypeOf(first.value).toEqualTypeOf<number>();
    else if (first) expectTypeOf(first.error.code).toEqualTypeOf<`KEEL_${string}`>();
    // @ts-expect-error: unknown option
    transport.requestMany('a', 1, { max: 2 });
  });

  it('opens to a Transport', () => {
    expectTypeOf(openTransport('memory://')).toEqualTypeOf<Promise<Transport>>();
    expectTypeOf<Transport>().toMatchTypeOf<AsyncDisposable>();
  });

  it('types the handler by the payload type given, and returns a disposable, callable subscription', () => {
    const sub = transport.subscribe<{ radius: number }>('shapes.area', (payload, meta) => {
      expectTypeOf(payload).toEqualTypeOf<{ radius: number }>();
      expectTypeOf(meta).toEqualTypeOf<MessageMeta>();
      return payload.radius * 2;
    });
    expectTypeOf(sub).toEqualTypeOf<TransportSubscription>();
    expectTypeOf(sub).toMatchTypeOf<Subscription>();
    expectTypeOf(sub).toMatchTypeOf<Disposable>();
    expectTypeOf(sub.ready).toEqualTypeOf<Promise<void>>();
    expectTypeOf(sub).returns.toBeVoid();
    expectTypeOf(sub.dropped).toEqualTypeOf<number>();
  });

  it('takes the handler bounds as numbers', () => {
    transport.subscribe('a', async () => {}, { concurrency: 8, maxPending: Number.POSITIVE_INFINITY });
    // @ts-expect-error: concurrency is a number
    transport.subscribe('a', () => {}, { concurrency: 'many' });
  });

  it('types the reply by the type the caller claims', () => {
    expectTypeOf(transport.request<number>('shapes.area', { radius: 1 })).toEqualTypeOf<Promise<number>>();
    expectTypeOf(transport.request('shapes.area')).toEqualTypeOf<Promise<unknown>>();
    // @ts-expect-error: a subject is a string
    void transport.publish(42, {});
    // @ts-expect-error: timeoutMs is a number
    void transport.request('a', 1, { timeoutMs: '5s' });
  });

  it('gives every message read-only headers, and a request its signal and deadline', () => {
    transport.subscribe('shapes.area', (_payload, meta) => {
      expectTypeOf(meta.headers).toEqualTypeOf<MessageHeaders>();
      expectTypeOf(meta.headers).toEqualTypeOf<Readonly<Record<string, string>>>();
      // @ts-expect-error: headers are read-only
      meta.headers.x = 'y';
      // Readable without narrowing, for passing on: absent for a published message.
      expectTypeOf(meta.signal).toEqualTypeOf<AbortSignal | undefined>();
      expectTypeOf(meta.deadline).toEqualTypeOf<number | undefined>();
      if (meta.isRequest) {
        expectTypeOf(meta).toEqualTypeOf<RequestMessageMeta>();
        expectTypeOf(meta.signal).toEqualTypeOf<AbortSignal>();
        expectTypeOf(meta.deadline).toEqualTypeOf<number>();
      } else {
        expectTypeOf(meta).toEqualTypeOf<PublishedMessageMeta>();
        expectTypeOf(meta.signal).toEqualTypeOf<undefined>();
      }
    });
  });

  it('takes headers as a record of strings on publish and request', () => {
    void transport.publish('a', 1, { headers: { 'x-trace': 'abc' } });
    void transport.request('a', 1, { headers: { 'x-trace': 'abc' }, timeoutMs: 100 });
    // @ts-expect-error: header values are strings
    void transport.publish('a', 1, { headers: { 'x-count': 1 } });
    // @ts-expect-error: header values are strings
    void transport.request('a', 1, { headers: { 'x-ok': true } });
  });
});
