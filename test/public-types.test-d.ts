import { describe, expectTypeOf, it } from 'vitest';
import type {
  Ancestors,
  Reached,
  SchemaInput,
  SchemaOutput,
  StandardSchemaV1,
  Subscription,
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
});
