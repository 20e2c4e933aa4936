import { describe, expectTypeOf, it } from 'vitest';
import type {
  Ancestors,
  JobListener,
  JobQueue,
  Reached,
  SchemaInput,
  SchemaOutput,
  StandardSchemaV1,
  Subscription,
  Unsubscribe,
} from '../src/index.ts';
import { EventBus } from '../src/index.ts';

describe('public type names', () => {
  it('SchemaOutput sits beside SchemaInput: what a schema yields and what it accepts', () => {
    type Parse = StandardSchemaV1<string, number>;
    expectTypeOf<SchemaInput<Parse>>().toEqualTypeOf<string>();
    expectTypeOf<SchemaOutput<Parse>>().toEqualTypeOf<number>();
  });

  it('the handle EventBus.on() returns is the exported Subscription', () => {
    const bus = new EventBus<{ tick: number }>();
    expectTypeOf(bus.on('tick', () => {})).toEqualTypeOf<Subscription>();
  });

  it('Ancestors and Reached, which Topic and Listener are built from, are public too', () => {
    type Events = { 'order.item.added': number; 'order.paid': string };
    expectTypeOf<Ancestors<'order.item.added'>>().toEqualTypeOf<'order' | 'order.item'>();
    expectTypeOf<Reached<Events, 'order.item'>>().toEqualTypeOf<'order.item.added'>();
  });

  it('JobQueue.on() takes a JobListener and returns the exported Unsubscribe', () => {
    type On = JobQueue['on'];
    expectTypeOf<ReturnType<On>>().toEqualTypeOf<Unsubscribe>();
    expectTypeOf<JobListener<{ readonly error: unknown }>>().toBeFunction();
  });
});
