/** The broker's types: handlers must match their contract, clients and calls are typed end to end. */
import { describe, expectTypeOf, it } from 'vitest';
import type { StandardSchemaV1 } from '../standard-schema.ts';
import type { Broker } from './broker.ts';
import { defineContract } from './contract.ts';
import { createBroker } from './create-broker.ts';
import { defineService } from './service.ts';
import type { Client, ServiceContext } from './service-context.ts';

declare const Radius: StandardSchemaV1<{ radius: number }, { radius: number }>;
declare const Area: StandardSchemaV1<number, number>;
declare const Created: StandardSchemaV1<{ id: string }, { id: string }>;
declare const Trimmed: StandardSchemaV1<string, string[]>;

const shapes = defineContract({
  name: 'shapes',
  version: 1,
  actions: {
    area: { params: Radius, result: Area, idempotent: true },
    split: { params: Trimmed, result: Area },
  },
  events: { created: { payload: Created } },
});
const audit = defineContract({
  name: 'audit',
  version: 2,
  actions: { count: { params: Area, result: Area } },
});

describe('defineService', () => {
  it('accepts handlers whose params and result match the contract', () => {
    const service = defineService(shapes, {
      actions: {
        area: (params, ctx) => {
          expectTypeOf(params).toEqualTypeOf<{ radius: number }>();
          expectTypeOf(ctx).toEqualTypeOf<ServiceContext>();
          return Math.PI * params.radius ** 2;
        },
        // The handler gets what the schema outputs, not what the caller sent.
        split: async (words) => {
          expectTypeOf(words).toEqualTypeOf<string[]>();
          return words.length;
        },
      },
      events: { 'shapes.created': (payload) => expectTypeOf(payload).toEqualTypeOf<{ id: string }>() },
    });
    expectTypeOf(service.contract).toEqualTypeOf(shapes);
  });

  it('refuses a handler whose params or result do not match, or a missing one', () => {
    defineService(shapes, {
      actions: {
        // @ts-expect-error: area takes { radius: number }
        area: (params: { side: number }) => params.side,
        split: () => 1,
      },
    });
    defineService(shapes, {
      actions: {
        // @ts-expect-error: area returns a number
        area: () => 'wide',
        split: () => 1,
      },
    });
    // @ts-expect-error: split has no handler
    defineService(shapes, { actions: { area: () => 1 } });
  });

  it('types listeners of events of the contracts it listens to, and refuses others', () => {
    defineService(audit, {
      actions: { count: (n) => n },
      listens: [shapes],
      events: { 'shapes.created': (payload) => expectTypeOf(payload).toEqualTypeOf<{ id: string }>() },
    });
    defineService(audit, {
      actions: { count: (n) => n },
      listens: [shapes],
      // @ts-expect-error: no contract in listens has this event
      events: { 'shapes.deleted': () => {} },
    });
  });

  it('takes limits only for the actions of the contract', () => {
    defineService(
      shapes,
      { actions: { area: () => 1, split: () => 1 } },
      { actions: { area: { concurrency: 4, timeoutMs: 500 } } },
    );
    defineService(
      shapes,
      { actions: { area: () => 1, split: () => 1 } },
      // @ts-expect-error: no action "volume"
      { actions: { volume: { concurrency: 1 } } },
    );
  });
});

describe('clients and calls', () => {
  it('types a client by its contract', async () => {
    const broker = await createBroker({ transport: 'memory://', contracts: [shapes] });
    const client = broker.client(shapes);
    expectTypeOf(client).toEqualTypeOf<Client<typeof shapes>>();
    expectTypeOf(client.area({ radius: 1 })).toEqualTypeOf<Promise<number>>();
    expectTypeOf(client.split).parameter(0).toEqualTypeOf<string>();
    // @ts-expect-error: params must match
    client.area({ side: 1 });
    // @ts-expect-error: no such action
    client.volume;
  });

  it('types broker.call and emit against the contracts the broker was made with', async () => {
    const broker = await createBroker({
      transport: 'memory://',
      services: [defineService(audit, { actions: { count: (n) => n } })],
      contracts: [shapes],
    });
    expectTypeOf(broker).toEqualTypeOf<Broker<typeof audit | typeof shapes>>();
    expectTypeOf(broker.call('shapes.area', { radius: 2 })).toEqualTypeOf<Promise<number>>();
    expectTypeOf(broker.call('audit.count', 3)).toEqualTypeOf<Promise<number>>();
    // @ts-expect-error: unknown action
    broker.call('shapes.volume', {});
    // @ts-expect-error: wrong params
    broker.call('audit.count', 'three');
    await broker.emit('shapes.created', { id: 'a' });
    // @ts-expect-error: wrong payload
    await broker.emit('shapes.created', { id: 1 });
    // @ts-expect-error: unknown event
    await broker.emit('shapes.deleted', { id: 'a' });
  });

  it('types broker.on: the listener gets the event payload as its schema outputs it', async () => {
    const broker = await createBroker({ transport: 'memory://', contracts: [shapes] });
    using observer = broker.on('shapes.created', (payload) => {
      expectTypeOf(payload).toEqualTypeOf<{ id: string }>();
    });
    expectTypeOf(observer.ready).toEqualTypeOf<Promise<void>>();
    // @ts-expect-error: unknown event
    broker.on('shapes.deleted', () => {});
    // @ts-expect-error: unknown option
    broker.on('shapes.created', () => {}, { once: true });
  });
});
