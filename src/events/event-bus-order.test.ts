import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ErrorPolicy } from './error-policy.ts';
import { EventBus } from './event-bus.ts';

/**
 * Order and re-entrancy, checked against a reference model: random listeners that subscribe, unsubscribe
 * and emit from inside a delivery must produce exactly the calls the documented rules predict.
 */

const LISTEN = ['a', 'a.b', 'a.b.c', 'b', '*'] as const;
const EMIT = ['a', 'a.b', 'a.b.c', 'b', 'b.x'] as const;

type Action =
  | { readonly kind: 'sub'; readonly topic: string; readonly behaviour: number; readonly once: boolean }
  | { readonly kind: 'unsub'; readonly target: number }
  | { readonly kind: 'emit'; readonly topic: string };

interface Api {
  subscribe(topic: string, fn: (payload: unknown, topic: string) => void, once: boolean): () => void;
  emit(topic: string, payload: unknown): void;
}

/** The rules, written as plainly as possible. */
class Model implements Api {
  readonly #subs: {
    readonly topic: string;
    readonly fn: (payload: unknown, topic: string) => void;
    readonly once: boolean;
    active: boolean;
    fired: boolean;
  }[] = [];

  subscribe(topic: string, fn: (payload: unknown, topic: string) => void, once: boolean): () => void {
    const sub = { topic, fn, once, active: true, fired: false };
    this.#subs.push(sub);
    return () => {
      sub.active = false;
    };
  }

  emit(topic: string, payload: unknown): void {
    const levels: string[] = [];
    for (let t = topic; ; t = t.slice(0, t.lastIndexOf('.'))) {
      levels.push(t);
      if (!t.includes('.')) break;
    }
    levels.push('*');
    // The list is fixed when the emit starts.
    const snapshot = levels.flatMap((level) => this.#subs.filter((s) => s.active && s.topic === level));
    for (const sub of snapshot) {
      if (sub.once) {
        if (sub.fired) continue;
        sub.fired = true;
        sub.active = false;
      }
      sub.fn(payload, topic);
    }
  }
}

class Real implements Api {
  readonly bus = new EventBus<Record<string, unknown>>({ errors: 'fail-fast' });
  subscribe(topic: string, fn: (payload: unknown, topic: string) => void, once: boolean): () => void {
    return this.bus.on(topic, fn, { once });
  }
  emit(topic: string, payload: unknown): void {
    this.bus.emit(topic, payload);
  }
}

/** Runs a program against an implementation and returns the calls it made, as `listener@topic#emit`. */
function execute(api: Api, behaviours: readonly (readonly Action[])[], program: readonly Action[]): string[] {
  const log: string[] = [];
  const subscriptions: (() => void)[] = [];
  let budget = 60;
  let emits = 0;
  let depth = 0;
  const perform = (action: Action): void => {
    if (budget-- <= 0) return;
    if (action.kind === 'sub') {
      const id = subscriptions.length;
      const actions = behaviours[action.behaviour % behaviours.length] ?? [];
      subscriptions.push(
        api.subscribe(
          action.topic,
          (payload, topic) => {
            log.push(`L${id}@${topic}#${payload}`);
            if (depth >= 3) return;
            depth++;
            try {
              for (const next of actions) perform(next);
            } finally {
              depth--;
            }
          },
          action.once,
        ),
      );
    } else if (action.kind === 'unsub') {
      if (subscriptions.length > 0) subscriptions[action.target % subscriptions.length]?.();
    } else {
      api.emit(action.topic, emits++);
    }
  };
  for (const action of program) perform(action);
  return log;
}

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    kind: fc.constant('sub' as const),
    topic: fc.constantFrom(...LISTEN),
    behaviour: fc.nat(),
    once: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('unsub' as const), target: fc.nat() }),
  fc.record({ kind: fc.constant('emit' as const), topic: fc.constantFrom(...EMIT) }),
);

describe('EventBus order and re-entrancy (property-based)', () => {
  it('matches the model for any mix of subscribe, unsubscribe and nested emits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(action, { maxLength: 3 }), { minLength: 1, maxLength: 6 }),
        fc.array(action, { minLength: 1, maxLength: 25 }),
        (behaviours, program) => {
          expect(execute(new Real(), behaviours, program)).toEqual(execute(new Model(), behaviours, program));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a nested emit is delivered completely before the outer emit continues', () => {
    const bus = new EventBus<Record<string, string>>();
    const log: string[] = [];
    bus.on('outer', () => {
      log.push('outer 1');
      bus.emit('inner', 'x');
      log.push('outer 1 after');
    });
    bus.on('outer', () => {
      log.push('outer 2');
    });
    bus.on('inner', () => {
      log.push('inner 1');
    });
    bus.on('*', (_, topic) => {
      log.push(`* ${topic}`);
    });
    bus.emit('outer', 'y');
    expect(log).toEqual(['outer 1', 'inner 1', '* inner', 'outer 1 after', 'outer 2', '* outer']);
  });

  it('a listener added during an emit waits for the next emit; one removed still runs in this emit', () => {
    const bus = new EventBus<Record<string, number>>();
    const log: string[] = [];
    let offLate: (() => void) | undefined;
    bus.on('t', (n) => {
      log.push(`first ${n}`);
      if (n === 1) {
        bus.on('t', (m) => {
          log.push(`added ${m}`);
        });
        offLate?.();
      }
    });
    offLate = bus.on('t', (n) => {
      log.push(`late ${n}`);
    });
    bus.emit('t', 1);
    bus.emit('t', 2);
    expect(log).toEqual(['first 1', 'late 1', 'first 2', 'added 2']);
  });

  it('every policy reports failures in dispatch order; fail-fast stops at the first', () => {
    // Dispatch order of an emit of x.y: the topic, its parent, then "*".
    const topics = ['x.y', 'x', '*'] as const;
    fc.assert(
      fc.property(
        fc.array(fc.record({ topic: fc.constantFrom(...topics), fails: fc.boolean() }), { maxLength: 12 }),
        fc.constantFrom<ErrorPolicy>('isolate', 'collect', 'fail-fast'),
        (listeners, policy) => {
          const reported: unknown[] = [];
          const ran: number[] = [];
          const bus = new EventBus<Record<string, null>>({
            errors: policy,
            onError: (error) => {
              reported.push(error);
            },
          });
          listeners.forEach(({ topic, fails }, id) => {
            bus.on(topic, () => {
              ran.push(id);
              if (fails) throw id;
            });
          });
          const order = [...topics].flatMap((t) =>
            listeners.flatMap((l, id) => (l.topic === t ? [{ id, fails: l.fails }] : [])),
          );
          const failing = order.filter((l) => l.fails).map((l) => l.id);
          let thrown: unknown;
          let threw = false;
          try {
            bus.emit('x.y', null);
          } catch (error) {
            threw = true;
            thrown = error;
          }
          if (policy === 'isolate') {
            expect(threw).toBe(false);
            expect(ran).toEqual(order.map((l) => l.id));
            expect(reported).toEqual(failing);
          } else if (policy === 'collect') {
            expect(ran).toEqual(order.map((l) => l.id));
            expect(threw).toBe(failing.length > 0);
            if (threw) expect((thrown as AggregateError).errors).toEqual(failing);
            expect(reported).toEqual([]);
          } else {
            const stop = order.findIndex((l) => l.fails);
            expect(ran).toEqual((stop === -1 ? order : order.slice(0, stop + 1)).map((l) => l.id));
            expect(threw).toBe(stop !== -1);
            if (threw) expect(thrown).toBe(failing[0]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
