import { describe, expectTypeOf, it } from 'vitest';
import type { StandardSchemaV1 } from '../standard-schema.ts';
import { EventBus } from './event-bus.ts';
import type { EventStream } from './event-stream.ts';
import type { Subscription } from './subscription.ts';
import type { Ancestors, Payload, Topic } from './topics.ts';

interface Created {
  readonly id: string;
  readonly kind: 'circle' | 'square';
}
interface Deleted {
  readonly id: string;
}
interface Moved {
  readonly id: string;
  readonly dx: number;
}

interface Events {
  'shape.created': Created;
  'shape.deleted': Deleted;
  'shape.moved.far': Moved;
  'user.login': { readonly name: string };
  heartbeat: undefined;
}

const bus = new EventBus<Events>();

describe('EventBus types: topics', () => {
  it('lists every emitted topic, each ancestor and "*" as listenable', () => {
    expectTypeOf<Ancestors<'a.b.c'>>().toEqualTypeOf<'a' | 'a.b'>();
    expectTypeOf<Ancestors<'a'>>().toEqualTypeOf<never>();
    expectTypeOf<Topic<Events>>().toEqualTypeOf<
      | 'shape.created'
      | 'shape.deleted'
      | 'shape.moved.far'
      | 'user.login'
      | 'heartbeat'
      | 'shape'
      | 'shape.moved'
      | 'user'
      | '*'
    >();
  });

  it('refuses to emit an unknown topic, a parent topic or "*"', () => {
    // @ts-expect-error not in the map
    bus.emit('shape.resized', { id: 'x' });
    // @ts-expect-error a parent topic is listened to, not emitted
    bus.emit('shape', { id: 'x' });
    // @ts-expect-error "*" only listens
    bus.emit('*', { id: 'x' });
    // @ts-expect-error not in the map
    bus.on('shap', () => {});
    // @ts-expect-error not in the map
    void bus.emitAsync('nope', 1);
  });
});

describe('EventBus types: payloads', () => {
  it('refuses a wrong payload', () => {
    bus.emit('shape.created', { id: 'a', kind: 'circle' });
    // @ts-expect-error kind is 'circle' | 'square'
    bus.emit('shape.created', { id: 'a', kind: 'hexagon' });
    // @ts-expect-error missing id
    bus.emit('shape.deleted', {});
    // @ts-expect-error payload required
    bus.emit('shape.deleted');
    // @ts-expect-error wrong payload for emitAsync too
    void bus.emitAsync('user.login', { name: 1 });
  });

  it('lets the payload be left out only where it may be undefined', () => {
    bus.emit('heartbeat');
    bus.emit('heartbeat', undefined);
    // @ts-expect-error heartbeat carries nothing
    bus.emit('heartbeat', 1);
  });

  it('gives a listener of the exact topic its payload and topic', () => {
    bus.on('shape.created', (payload, topic) => {
      expectTypeOf(payload).toEqualTypeOf<Created>();
      expectTypeOf(topic).toEqualTypeOf<'shape.created'>();
    });
  });

  it("gives a parent listener the union of its descendants' payloads", () => {
    expectTypeOf<Payload<Events, 'shape'>>().toEqualTypeOf<Created | Deleted | Moved>();
    expectTypeOf<Payload<Events, 'shape.moved'>>().toEqualTypeOf<Moved>();
    bus.on('shape', (payload, topic) => {
      expectTypeOf(payload).toEqualTypeOf<Created | Deleted | Moved>();
      expectTypeOf(topic).toEqualTypeOf<'shape.created' | 'shape.deleted' | 'shape.moved.far'>();
    });
  });

  it('accepts a listener that takes only the payload, or nothing', () => {
    bus.on('shape', (payload) => {
      expectTypeOf(payload).toEqualTypeOf<Created | Deleted | Moved>();
    });
    bus.on('heartbeat', () => {});
  });

  it('gives "*" the union of every payload', () => {
    bus.on('*', (payload) => {
      expectTypeOf(payload).toEqualTypeOf<
        Created | Deleted | Moved | { readonly name: string } | undefined
      >();
    });
  });

  it('types once, stream, subscriptions and emitAsync', () => {
    expectTypeOf(bus.once('user')).toEqualTypeOf<Promise<{ readonly name: string }>>();
    expectTypeOf(bus.stream('shape')).toEqualTypeOf<EventStream<Created | Deleted | Moved>>();
    expectTypeOf(bus.on('heartbeat', () => {})).toEqualTypeOf<Subscription>();
    expectTypeOf(bus.emitAsync('heartbeat')).toEqualTypeOf<Promise<void>>();
    const signal = AbortSignal.timeout(10);
    void bus.emitAsync('heartbeat', undefined, { signal });
    void bus.emitAsync('user.login', { name: 'ann' }, { signal });
    // @ts-expect-error options come after the payload
    void bus.emitAsync('user.login', { signal });
    // A listener may be async.
    bus.on('user.login', async () => {});
  });

  it("accepts only a schema whose output fits the topic's payload", () => {
    const loginSchema = {} as StandardSchemaV1<unknown, { name: string }>;
    const numberSchema = {} as StandardSchemaV1<unknown, number>;
    bus.define('user.login', loginSchema);
    // @ts-expect-error the schema yields numbers, the topic carries a login
    bus.define('user.login', numberSchema);
    // @ts-expect-error only emitted topics carry schemas
    bus.define('user', loginSchema);
  });

  it('passes the emitted topic to onError', () => {
    new EventBus<Events>({
      onError: (_error, { topic }) => {
        expectTypeOf(topic).toEqualTypeOf<
          'shape.created' | 'shape.deleted' | 'shape.moved.far' | 'user.login' | 'heartbeat'
        >();
      },
    });
  });

  it('is loosely typed without an event map', () => {
    const loose = new EventBus();
    loose.emit('anything.at.all', { any: 'payload' });
    loose.on('anything', (payload, topic) => {
      expectTypeOf(payload).toEqualTypeOf<unknown>();
      expectTypeOf(topic).toEqualTypeOf<string>();
    });
  });
});
