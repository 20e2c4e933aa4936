import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, KeelError } from '../errors.ts';
import type { StandardSchemaV1 } from '../standard-schema.ts';
import { EventBus } from './event-bus.ts';
import { AsyncSchemaError, DuplicateSchemaError, InvalidPayloadError } from './event-errors.ts';

interface Events {
  'shape.created': { id: string; kind: string };
  'shape.deleted': { id: string };
  'shape.moved.far': { id: string; by: number };
  user: { name: string };
  'user.login': { name: string; at: number };
  tick: number;
  ping: undefined;
}

type Call = [who: string, payload: unknown, topic: string];

function recorder() {
  const calls: Call[] = [];
  const listener =
    (who: string) =>
    (payload: unknown, topic: string): void => {
      calls.push([who, payload, topic]);
    };
  return { calls, listener };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('docs/events.md', () => {
  it('runs the first example', () => {
    interface DocEvents {
      'shape.created': { id: string; kind: 'circle' | 'rectangle' | 'triangle' };
      'shape.deleted': { id: string };
      'user.login': { name: string };
      heartbeat: undefined;
    }
    const bus = new EventBus<DocEvents>();
    const seen: string[] = [];
    {
      using _ = bus.on('shape', (shape, topic) => {
        seen.push(`${topic} ${shape.id}`);
      });
      bus.emit('shape.created', { id: 's1', kind: 'circle' });
      bus.emit('heartbeat');
    }
    bus.emit('shape.deleted', { id: 's1' });
    expect(seen).toEqual(['shape.created s1']);
  });
});

describe('EventBus delivery', () => {
  it('calls a listener with the payload and the emitted topic', () => {
    const bus = new EventBus<Events>();
    const { calls, listener } = recorder();
    bus.on('tick', listener('a'));
    bus.emit('tick', 1);
    bus.emit('tick', 2);
    expect(calls).toEqual([
      ['a', 1, 'tick'],
      ['a', 2, 'tick'],
    ]);
  });

  it('calls listeners with no `this` of the bus', () => {
    const bus = new EventBus<Events>();
    let self: unknown = 'unset';
    bus.on('tick', function (this: unknown) {
      self = this;
    });
    bus.emit('tick', 1);
    expect(self).toBeUndefined();
  });

  it('delivers nothing to other topics, nor to a sibling sharing a prefix', () => {
    const bus = new EventBus<Record<string, number>>();
    const { calls, listener } = recorder();
    bus.on('user', listener('user'));
    bus.on('shape.created', listener('created'));
    bus.emit('users.x', 1);
    bus.emit('shape.createdAt', 2);
    bus.emit('shape', 3);
    expect(calls).toEqual([]);
  });

  it('lets a payload be left out where its type allows undefined', () => {
    const bus = new EventBus<Events>();
    const { calls, listener } = recorder();
    bus.on('ping', listener('p'));
    bus.emit('ping');
    expect(calls).toEqual([['p', undefined, 'ping']]);
  });

  it('keeps a listener subscribed twice as two subscriptions, each ended by its own handle', () => {
    const bus = new EventBus<Events>();
    const { calls, listener } = recorder();
    const a = listener('a');
    const first = bus.on('tick', a);
    bus.on('tick', listener('b'));
    bus.on('tick', a);
    expect(bus.listenerCount('tick')).toBe(3);
    first();
    bus.emit('tick', 1);
    expect(calls.map(([who]) => who)).toEqual(['b', 'a']);
  });
});

describe('EventBus topic tree', () => {
  it('reaches the exact topic, then each ancestor nearest first, then "*"', () => {
    const bus = new EventBus<Events>();
    const { calls, listener } = recorder();
    bus.on('*', listener('*'));
    bus.on('shape', listener('shape'));
    bus.on('shape.moved', listener('shape.moved'));
    bus.on('shape.moved.far', listener('shape.moved.far'));
    bus.emit('shape.moved.far', { id: 's1', by: 3 });
    const payload = { id: 's1', by: 3 };
    expect(calls).toEqual([
      ['shape.moved.far', payload, 'shape.moved.far'],
      ['shape.moved', payload, 'shape.moved.far'],
      ['shape', payload, 'shape.moved.far'],
      ['*', payload, 'shape.moved.far'],
    ]);
  });

  it('gives a parent listener every descendant event, and "*" every event', () => {
    const bus = new EventBus<Events>();
    const { calls, listener } = recorder();
    bus.on('shape', listener('shape'));
    bus.on('*', listener('*'));
    bus.emit('shape.created', { id: 'a', kind: 'circle' });
    bus.emit('shape.deleted', { id: 'a' });
    bus.emit('user.login', { name: 'ann', at: 1 });
    expect(calls.map(([who, , topic]) => `${who}<-${topic}`)).toEqual([
      'shape<-shape.created',
      '*<-shape.created',
      'shape<-shape.deleted',
      '*<-shape.deleted',
      '*<-user.login',
    ]);
  });

  it('delivers a topic that is also a parent to its own listeners and the ancestors only', () => {
    const bus = new EventBus<Events>();
    const { calls, listener } = recorder();
    bus.on('user.login', listener('login'));
    bus.on('user', listener('user'));
    bus.emit('user', { name: 'ann' });
    expect(calls).toEqual([['user', { name: 'ann' }, 'user']]);
  });

  it('updates dispatch when an ancestor gains or loses listeners after a topic was emitted', () => {
    const bus = new EventBus<Record<string, number>>();
    const { calls, listener } = recorder();
    bus.emit('a.b.c', 0);
    const offA = bus.on('a', listener('a'));
    bus.emit('a.b.c', 1);
    const offAll = bus.on('*', listener('*'));
    bus.emit('a.b.c', 2);
    offA();
    bus.emit('a.b.c', 3);
    offAll();
    bus.emit('a.b.c', 4);
    expect(calls.map(([who, p]) => `${who}${p}`)).toEqual(['a1', 'a2', '*2', '*3']);
  });

  it('stays correct across the sweeps that forget topics that were only emitted', () => {
    const bus = new EventBus<Record<string, number>>();
    const { calls, listener } = recorder();
    bus.on('orders', listener('orders'));
    bus.on('orders.kept.deep', listener('deep'));
    for (let i = 0; i < 5000; i++) bus.emit(`orders.${i}`, i);
    // Still correct after the sweeps: the subscribed topics and their ancestors survive.
    calls.length = 0;
    bus.emit('orders.kept.deep', 1);
    bus.emit('orders.9999', 2);
    expect(calls).toEqual([
      ['deep', 1, 'orders.kept.deep'],
      ['orders', 1, 'orders.kept.deep'],
      ['orders', 2, 'orders.9999'],
    ]);
    expect(bus.listenerCount()).toBe(2);
  });

  it('keeps schemas and stays correct for swept topics that gain listeners later', () => {
    const bus = new EventBus<Record<string, unknown>>().define('orders.kept', userSchema);
    const { calls, listener } = recorder();
    for (let i = 0; i < 3000; i++) bus.emit(`orders.${i}.placed`, i);
    expect(() => bus.emit('orders.kept', { name: 1 })).toThrow(InvalidPayloadError);
    bus.on('orders.7', listener('seven'));
    bus.on('orders', listener('orders'));
    bus.emit('orders.7.placed', 'x');
    bus.emit('orders.2999.placed', 'y');
    expect(calls).toEqual([
      ['seven', 'x', 'orders.7.placed'],
      ['orders', 'x', 'orders.7.placed'],
      ['orders', 'y', 'orders.2999.placed'],
    ]);
  });

  it('rejects malformed topics, and "*" where an emit is meant', () => {
    const bus = new EventBus<Record<string, number>>();
    for (const topic of ['', '.a', 'a.', 'a..b', 'a.*', '*.a', 42, undefined, null]) {
      expect(() => bus.emit(topic as string, 1)).toThrow(InvalidArgumentError);
      expect(() => bus.on(topic as string, () => {})).toThrow(InvalidArgumentError);
    }
    expect(() => bus.emit('*', 1)).toThrow(/"\*" only listens/);
    expect(() => bus.emitAsync('*', 1)).toThrow(InvalidArgumentError);
    expect(() =>
      bus.define(
        '*',
        schemaOf(() => true),
      ),
    ).toThrow(InvalidArgumentError);
    expect(() => bus.emit('a..b', 1)).toThrow(/non-empty segments joined by dots.*received "a\.\.b"/);
  });

  it('treats names like __proto__ and constructor as ordinary topics', () => {
    const bus = new EventBus<Record<string, number>>();
    const { calls, listener } = recorder();
    bus.on('__proto__', listener('proto'));
    bus.on('constructor.x', listener('ctor'));
    bus.emit('__proto__', 1);
    bus.emit('constructor.x', 2);
    bus.emit('toString', 3);
    expect(calls.map(([who]) => who)).toEqual(['proto', 'ctor']);
  });
});

describe('EventBus subscriptions', () => {
  it('ends a subscription when its handle is called, idempotently', () => {
    const bus = new EventBus<Events>();
    const { calls, listener } = recorder();
    const off = bus.on('tick', listener('a'));
    off();
    off();
    bus.emit('tick', 1);
    expect(calls).toEqual([]);
    expect(bus.listenerCount('tick')).toBe(0);
  });

  it('ends a subscription at the end of a `using` block', () => {
    const bus = new EventBus<Events>();
    const { calls, listener } = recorder();
    {
      using _sub = bus.on('tick', listener('a'));
      bus.emit('tick', 1);
    }
    bus.emit('tick', 2);
    expect(calls).toEqual([['a', 1, 'tick']]);
  });

  it('ends a subscription when its signal aborts, and removes its abort listener when ended otherwise', () => {
    const bus = new EventBus<Events>();
    const { calls, listener } = recorder();
    const controller = new AbortController();
    bus.on('tick', listener('a'), { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    bus.emit('tick', 1);
    controller.abort();
    bus.emit('tick', 2);
    expect(calls).toEqual([['a', 1, 'tick']]);
    expect(bus.listenerCount('tick')).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);

    const other = new AbortController();
    const off = bus.on('tick', listener('b'), { signal: other.signal });
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(1);
    off();
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
  });

  it('subscribes nothing under an already aborted signal', () => {
    const bus = new EventBus<Events>();
    const { calls, listener } = recorder();
    const off = bus.on('tick', listener('a'), { signal: AbortSignal.abort() });
    bus.emit('tick', 1);
    expect(calls).toEqual([]);
    expect(bus.listenerCount('tick')).toBe(0);
    expect(() => off()).not.toThrow();
  });

  it('calls a `once` listener at most once, even when it emits its own topic', () => {
    const bus = new EventBus<Events>();
    let calls = 0;
    bus.on(
      'tick',
      (n) => {
        calls++;
        if (n < 3) bus.emit('tick', n + 1);
      },
      { once: true },
    );
    bus.emit('tick', 1);
    bus.emit('tick', 1);
    expect(calls).toBe(1);
    expect(bus.listenerCount('tick')).toBe(0);
  });

  it('counts listeners per exact topic, on "*", and over the whole bus', () => {
    const bus = new EventBus<Events>();
    const offs = [
      bus.on('shape', () => {}),
      bus.on('shape.created', () => {}),
      bus.on('shape.created', () => {}),
      bus.on('*', () => {}),
    ];
    expect(bus.listenerCount('shape')).toBe(1);
    expect(bus.listenerCount('shape.created')).toBe(2);
    expect(bus.listenerCount('shape.deleted')).toBe(0);
    expect(bus.listenerCount('*')).toBe(1);
    expect(bus.listenerCount()).toBe(4);
    for (const off of offs) off();
    expect(bus.listenerCount()).toBe(0);
    expect(() => bus.listenerCount('a..b' as 'shape')).toThrow(InvalidArgumentError);
  });

  it('rejects a listener that is not a function and bad options, naming what came', () => {
    const bus = new EventBus<Events>();
    expect(() => bus.on('tick', 'nope' as never)).toThrow(/listener must be a function; received "nope"/);
    expect(() => bus.on('tick', () => {}, { once: 'yes' as never })).toThrow(
      /once must be a boolean; received "yes"/,
    );
    expect(() => bus.on('tick', () => {}, { signal: {} as never })).toThrow(/signal must be an AbortSignal/);
    expect(bus.listenerCount()).toBe(0);
  });
});

describe('EventBus.once()', () => {
  it('resolves with the next payload and unsubscribes', async () => {
    const bus = new EventBus<Events>();
    const next = bus.once('shape');
    expect(bus.listenerCount('shape')).toBe(1);
    bus.emit('shape.deleted', { id: 'x' });
    bus.emit('shape.deleted', { id: 'y' });
    await expect(next).resolves.toEqual({ id: 'x' });
    expect(bus.listenerCount('shape')).toBe(0);
  });

  it('rejects with the signal reason on abort, unsubscribes and removes its abort listener', async () => {
    const bus = new EventBus<Events>();
    const controller = new AbortController();
    const next = bus.once('tick', { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(next).rejects.toBe(reason);
    expect(bus.listenerCount('tick')).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('removes its abort listener once it resolves', async () => {
    const bus = new EventBus<Events>();
    const controller = new AbortController();
    const next = bus.once('tick', { signal: controller.signal });
    bus.emit('tick', 5);
    await expect(next).resolves.toBe(5);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort();
    await expect(next).resolves.toBe(5);
  });

  it('rejects at once for an aborted signal, subscribing nothing', async () => {
    const bus = new EventBus<Events>();
    const reason = new Error('already');
    await expect(bus.once('tick', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(bus.listenerCount()).toBe(0);
  });

  it('throws synchronously for a bad topic or signal', () => {
    const bus = new EventBus<Events>();
    expect(() => bus.once('a..b' as 'tick')).toThrow(InvalidArgumentError);
    expect(() => bus.once('tick', { signal: 'x' as never })).toThrow(InvalidArgumentError);
  });
});

/** A tiny Standard Schema, written by hand: `check` returns the issues of a value. */
function schemaOf<T>(
  check: (value: unknown) => true | { message: string; path?: PropertyKey[] }[],
  transform: (value: unknown) => T = (value) => value as T,
): StandardSchemaV1<unknown, T> {
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (value) => {
        const result = check(value);
        return result === true ? { value: transform(value) } : { issues: result };
      },
    },
  };
}

const userSchema = schemaOf<{ name: string }>((value) => {
  const name = (value as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? true : [{ message: 'Expected a string', path: ['name'] }];
});

describe('EventBus.define()', () => {
  it('delivers a valid payload as the schema outputs it', () => {
    const bus = new EventBus<Events>();
    bus.define(
      'tick',
      schemaOf(
        (value) => (typeof value === 'number' ? true : [{ message: 'Expected a number' }]),
        (value) => Math.round(value as number),
      ),
    );
    const { calls, listener } = recorder();
    bus.on('tick', listener('a'));
    bus.emit('tick', 1.6);
    expect(calls).toEqual([['a', 2, 'tick']]);
  });

  it('delivers nothing for an invalid payload and throws a KeelError naming the topic and path', () => {
    const bus = new EventBus<Events>().define('user', userSchema);
    const { calls, listener } = recorder();
    bus.on('user', listener('user'));
    bus.on('*', listener('*'));
    let error: unknown;
    try {
      bus.emit('user', { name: 42 } as never);
    } catch (e) {
      error = e;
    }
    expect(calls).toEqual([]);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect(error).toBeInstanceOf(KeelError);
    const invalid = error as InvalidPayloadError;
    expect(invalid.code).toBe('KEEL_INVALID_PAYLOAD');
    expect(invalid.topic).toBe('user');
    expect(invalid.paths).toEqual(['name']);
    expect(invalid.message).toMatch(/topic "user".*name: Expected a string/);
  });

  it('names nested paths and the root', () => {
    const bus = new EventBus<Record<string, unknown>>();
    bus.define(
      'order',
      schemaOf(() => [{ message: 'Required', path: ['items', 0, 'sku'] }, { message: 'Expected an object' }]),
    );
    expect(() => bus.emit('order', {})).toThrow(
      /order.*items\[0\]\.sku: Required; \(root\): Expected an object/,
    );
  });

  it('validates only the exact topic, not its descendants or ancestors', () => {
    const bus = new EventBus<Record<string, unknown>>().define('user', userSchema);
    const { calls, listener } = recorder();
    bus.on('user', listener('user'));
    bus.emit('user.login', 'not a user');
    expect(calls).toEqual([['user', 'not a user', 'user.login']]);
  });

  it('rejects emitAsync with the same error, delivering nothing', async () => {
    const bus = new EventBus<Events>().define('user', userSchema);
    const { calls, listener } = recorder();
    bus.on('user', listener('user'));
    await expect(bus.emitAsync('user', { name: 1 } as never)).rejects.toBeInstanceOf(InvalidPayloadError);
    await bus.emitAsync('user', { name: 'ann' });
    expect(calls).toEqual([['user', { name: 'ann' }, 'user']]);
  });

  it('runs an asynchronous schema under emitAsync, and refuses it under emit', async () => {
    const bus = new EventBus<Events>();
    bus.define('tick', {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) =>
          typeof value === 'number' ? { value: value * 10 } : { issues: [{ message: 'Expected a number' }] },
      },
    });
    const { calls, listener } = recorder();
    bus.on('tick', listener('a'));
    await bus.emitAsync('tick', 2);
    expect(() => bus.emit('tick', 3)).toThrow(AsyncSchemaError);
    await expect(bus.emitAsync('tick', 'x' as never)).rejects.toThrow(
      /topic "tick".*\(root\): Expected a number/,
    );
    expect(calls).toEqual([['a', 20, 'tick']]);
  });

  it('refuses a second schema for a topic, and anything that is not a Standard Schema', () => {
    const bus = new EventBus<Events>().define('user', userSchema);
    expect(() => bus.define('user', userSchema)).toThrow(DuplicateSchemaError);
    expect(() => bus.define('tick', {} as never)).toThrow(/Standard Schema v1 validator.*received an object/);
  });
});

describe('EventBus options', () => {
  it('rejects a bad error policy, onError or maxListeners, naming the option and what came', () => {
    expect(() => new EventBus({ errors: 'ignore' as never })).toThrow(
      /errors must be one of 'isolate', 'collect', 'fail-fast'; received "ignore"/,
    );
    expect(() => new EventBus({ onError: 1 as never })).toThrow(/onError must be a function; received 1/);
    expect(() => new EventBus({ maxListeners: 0 })).toThrow(
      /maxListeners must be an integer ≥ 1 or Infinity/,
    );
    expect(() => new EventBus({ maxListeners: 1.5 })).toThrow(InvalidArgumentError);
  });

  it('refuses an unknown option in every call, naming the call, the key and the known keys', async () => {
    expect(() => new EventBus({ error: 'collect' } as never)).toThrow(
      'EventBus options: unknown option "error"; known options: errors, onError, maxListeners',
    );
    const bus = new EventBus<Events>();
    expect(() => bus.on('tick', () => {}, { onece: true } as never)).toThrow(
      'EventBus.on() options: unknown option "onece"; known options: signal, once',
    );
    expect(() => bus.once('tick', { timeout: 5 } as never)).toThrow(
      'EventBus.once() options: unknown option "timeout"; known options: signal',
    );
    expect(() => bus.emitAsync('tick', 1, { errors: 'collect' } as never)).toThrow(
      'EventBus.emitAsync() options: unknown option "errors"; known options: signal',
    );
    expect(() => bus.stream('tick', { buffer: 1 } as never)).toThrow(
      'EventBus.stream() options: unknown option "buffer"; known options: signal, bufferSize, overflow',
    );
    expect(() => bus.on('tick', () => {}, { once: 1 } as never)).toThrow(
      'EventBus.on() once must be a boolean; received 1',
    );
    expect(() => bus.once('tick', { signal: 1 } as never)).toThrow(/^EventBus\.once\(\) signal must be/);
    expect(() => bus.stream('tick', { bufferSize: 0 })).toThrow(/^EventBus\.stream\(\) bufferSize must be/);
    // Nothing was subscribed by the refused calls.
    expect(bus.listenerCount()).toBe(0);
  });
});

describe('EventBus leak guard', () => {
  it('warns once per topic past maxListeners, naming the topic and the count', async () => {
    // A process warning, as node:events does; Node's own printing of it is captured here, not shown.
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const bus = new EventBus<Events>({ maxListeners: 2 });
      const offs = [bus.on('tick', () => {}), bus.on('tick', () => {})];
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
      offs.push(
        bus.on('tick', () => {}),
        bus.on('tick', () => {}),
      );
      offs.push(
        bus.on('user', () => {}),
        bus.on('user', () => {}),
        bus.on('user', () => {}),
      );
      for (const off of offs) off();
      offs.push(
        bus.on('tick', () => {}),
        bus.on('tick', () => {}),
        bus.on('tick', () => {}),
      );
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((w) => w.message)).toEqual([
        expect.stringMatching(/3 listeners on topic "tick" \(maxListeners is 2\)/),
        expect.stringMatching(/3 listeners on topic "user"/),
      ]);
      expect(warnings[0]).toMatchObject({ name: 'MaxListenersExceededWarning', code: 'KEEL_MAX_LISTENERS' });
      // Nothing else was written: a warning is not a failure for the last-resort sink.
      const text = write.mock.calls.map(([chunk]) => String(chunk)).join('');
      expect(text).not.toMatch(/\[keel/);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('defaults to 100 and can be turned off with Infinity', async () => {
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const bus = new EventBus<Events>();
    for (let i = 0; i < 100; i++) bus.on('tick', () => {});
    expect(emitWarning).not.toHaveBeenCalled();
    bus.on('tick', () => {});
    expect(emitWarning).toHaveBeenCalledTimes(1);
    expect(String(emitWarning.mock.calls[0]?.[0])).toMatch(/101 listeners on topic "tick"/);

    const quiet = new EventBus<Events>({ maxListeners: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 1000; i++) quiet.on('tick', () => {});
    expect(emitWarning).toHaveBeenCalledTimes(1);
  });
});
