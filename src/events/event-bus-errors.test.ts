import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { UnhandledReport } from '../diagnostics.ts';
import type { ErrorPolicy } from './error-policy.ts';
import { EventBus, type ListenerErrorContext } from './event-bus.ts';

type Events = { 'job.done': number; 'job.failed': number };

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const later = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function setup(errors?: ErrorPolicy) {
  const failures: [unknown, ListenerErrorContext<Events>][] = [];
  const ran: string[] = [];
  const bus = new EventBus<Events>({
    ...(errors === undefined ? {} : { errors }),
    onError: (error, context) => {
      failures.push([error, context]);
    },
  });
  const ok = (name: string) => () => {
    ran.push(name);
  };
  const throws = (name: string, error: unknown) => () => {
    ran.push(name);
    throw error;
  };
  const rejects =
    (name: string, error: unknown, ms = 0) =>
    async () => {
      ran.push(name);
      if (ms > 0) await later(ms);
      throw error;
    };
  const resolves = (name: string, ms: number) => async () => {
    await later(ms);
    ran.push(`${name} settled`);
  };
  return { bus, failures, ran, ok, throws, rejects, resolves };
}

let unhandled: unknown[];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  // Let any stray rejection surface before checking.
  await tick();
  await tick();
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
  vi.restoreAllMocks();
});

describe("errors: 'isolate' (the default)", () => {
  it('hands each throw to onError with the topic and listener, and runs the rest', () => {
    const { bus, failures, ran, ok, throws } = setup();
    const bad = throws('b', new Error('b'));
    bus.on('job.done', ok('a'));
    bus.on('job', bad);
    bus.on('*', ok('c'));
    expect(() => bus.emit('job.done', 1)).not.toThrow();
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(failures).toEqual([[new Error('b'), { topic: 'job.done', listener: bad }]]);
  });

  it('hands a promise rejected after a plain emit to onError, never to unhandledRejection', async () => {
    const { bus, failures, ok, rejects } = setup();
    const bad = rejects('r', new Error('late'), 5);
    bus.on('job.done', bad);
    bus.on('job.done', ok('after'));
    bus.emit('job.done', 1);
    expect(failures).toEqual([]);
    await later(20);
    expect(failures).toEqual([[new Error('late'), { topic: 'job.done', listener: bad }]]);
  });

  it('emitAsync waits for every listener, hands each failure to onError and resolves', async () => {
    const { bus, failures, ran, throws, rejects, resolves } = setup();
    bus.on('job.done', throws('sync', 's'));
    bus.on('job.done', rejects('async', 'a'));
    bus.on('job.done', resolves('slow', 15));
    await expect(bus.emitAsync('job.done', 1)).resolves.toBeUndefined();
    expect(ran).toEqual(['sync', 'async', 'slow settled']);
    expect(failures.map(([error]) => error).sort()).toEqual(['a', 's']);
  });

  it('reports to stderr by default, with the topic', async () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const bus = new EventBus<Events>();
    bus.on('job.failed', () => {
      throw new Error('sync boom');
    });
    bus.on('job.failed', async () => {
      throw new Error('async boom');
    });
    bus.emit('job.failed', 1);
    await tick();
    const text = write.mock.calls.map(([chunk]) => String(chunk)).join('');
    expect(text).toMatch(/EventBus listener of "job\.failed" failed: Error: sync boom/);
    expect(text).toMatch(/EventBus listener of "job\.failed" failed: Error: async boom/);
  });

  it('survives an onError that throws: both errors go to stderr and the round goes on', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const bus = new EventBus<Events>({
      onError: () => {
        throw new Error('handler broke');
      },
    });
    const ran: number[] = [];
    bus.on('job.done', () => {
      throw new Error('listener broke');
    });
    bus.on('job.done', (n) => {
      ran.push(n);
    });
    bus.emit('job.done', 7);
    expect(ran).toEqual([7]);
    const text = write.mock.calls.map(([chunk]) => String(chunk)).join('');
    expect(text).toMatch(/EventBus onError threw/);
    expect(text).toMatch(/handler broke/);
    expect(text).toMatch(/listener broke/);
  });
});

describe("errors: 'collect'", () => {
  it('emit runs every listener, then throws one AggregateError of the throws in order', () => {
    const { bus, ran, ok, throws } = setup('collect');
    bus.on('job.done', throws('a', 'first'));
    bus.on('job.done', ok('b'));
    bus.on('job', throws('c', 'second'));
    let error: unknown;
    try {
      bus.emit('job.done', 1);
    } catch (e) {
      error = e;
    }
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors).toEqual(['first', 'second']);
    expect((error as AggregateError).message).toBe('2 of 3 listeners of "job.done" failed');
  });

  it('emit hands a later rejection to onError, since emit has returned', async () => {
    const { bus, failures, rejects } = setup('collect');
    bus.on('job.done', rejects('a', 'late', 2));
    expect(() => bus.emit('job.done', 1)).not.toThrow();
    await later(15);
    expect(failures.map(([error]) => error)).toEqual(['late']);
  });

  it('emitAsync waits for all, then rejects with every failure, sync and async, in listener order', async () => {
    const { bus, failures, ran, throws, rejects, resolves } = setup('collect');
    bus.on('job.done', rejects('slow reject', 'slow', 15));
    bus.on('job.done', throws('sync', 'sync'));
    bus.on('job.done', resolves('slow ok', 25));
    bus.on('job.done', rejects('fast reject', 'fast'));
    const error = await bus.emitAsync('job.done', 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(ran).toContain('slow ok settled');
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors).toEqual(['slow', 'sync', 'fast']);
    expect(failures).toEqual([]);
  });

  it('emitAsync resolves when nothing failed', async () => {
    const { bus, ran, resolves } = setup('collect');
    bus.on('job.done', resolves('a', 2));
    await expect(bus.emitAsync('job.done', 1)).resolves.toBeUndefined();
    expect(ran).toEqual(['a settled']);
  });
});

describe("errors: 'fail-fast'", () => {
  it('emit stops at the first throw and throws it as it is', () => {
    const { bus, ran, ok, throws } = setup('fail-fast');
    const first = new Error('first');
    bus.on('job.done', ok('a'));
    bus.on('job.done', throws('b', first));
    bus.on('job.done', throws('c', new Error('never')));
    expect(() => bus.emit('job.done', 1)).toThrow(first);
    expect(ran).toEqual(['a', 'b']);
  });

  it('emit hands a later rejection to onError', async () => {
    const { bus, failures, rejects } = setup('fail-fast');
    bus.on('job.done', rejects('a', 'late', 2));
    bus.emit('job.done', 1);
    await later(15);
    expect(failures.map(([error]) => error)).toEqual(['late']);
  });

  it('emitAsync stops calling at a sync throw and rejects with it', async () => {
    const { bus, ran, ok, throws } = setup('fail-fast');
    bus.on('job.done', ok('a'));
    bus.on('job.done', throws('b', 'boom'));
    bus.on('job.done', ok('c'));
    await expect(bus.emitAsync('job.done', 1)).rejects.toBe('boom');
    expect(ran).toEqual(['a', 'b']);
  });

  it('emitAsync rejects at the first rejection without waiting; later failures go to onError', async () => {
    const { bus, failures, ran, rejects } = setup('fail-fast');
    // Gates instead of delays: the slow listeners cannot settle before the test opens them, so a
    // rejection that arrives while they are shut proves that nothing waited for them.
    const slow = Promise.withResolvers<void>();
    const late = Promise.withResolvers<void>();
    bus.on('job.done', async () => {
      await slow.promise;
      ran.push('slow settled');
    });
    bus.on('job.done', rejects('fast', 'fast', 2));
    bus.on('job.done', async () => {
      await late.promise;
      throw 'later';
    });
    await expect(bus.emitAsync('job.done', 1)).rejects.toBe('fast');
    expect(ran).not.toContain('slow settled');
    late.resolve();
    slow.resolve();
    await tick();
    await tick();
    expect(ran).toContain('slow settled');
    expect(failures.map(([error]) => error)).toEqual(['later']);
  });
});

describe('no unhandled rejection under any policy', () => {
  it.each(['isolate', 'collect', 'fail-fast'] as const)(
    '%s: fire-and-forget emits of rejecting listeners',
    async (errors) => {
      const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      const bus = new EventBus<Events>({ errors });
      bus.on('job.done', async () => {
        throw new Error('rejected');
      });
      bus.on('job', () => Promise.reject(new Error('plain rejected promise')));
      // A thenable that is not a Promise.
      bus.on('*', () => ({
        // biome-ignore lint/suspicious/noThenProperty: the point is a foreign thenable.
        then: (_: unknown, reject: (e: unknown) => void) => reject(new Error('thenable')),
      }));
      for (let i = 0; i < 3; i++) bus.emit('job.done', i);
      await tick();
      await tick();
      // Every one of them reached the default onError (stderr), none went unhandled.
      const text = write.mock.calls.map(([chunk]) => String(chunk)).join('');
      expect(text.match(/EventBus listener of "job\.done" failed/g)).toHaveLength(9);
    },
  );
});

describe('emitAsync with a signal', () => {
  it('delivers nothing and rejects with the reason when already aborted', async () => {
    const { bus, ran, ok } = setup();
    bus.on('job.done', ok('a'));
    await expect(bus.emitAsync('job.done', 1, { signal: AbortSignal.abort('gone') })).rejects.toBe('gone');
    expect(ran).toEqual([]);
  });

  it('stops waiting on abort; failures that arrive later go to onError', async () => {
    const { bus, failures, ran, throws, rejects, resolves } = setup('collect');
    bus.on('job.done', throws('sync', 'early'));
    bus.on('job.done', rejects('late', 'late', 15));
    bus.on('job.done', resolves('slow', 25));
    const controller = new AbortController();
    const outcome = bus.emitAsync('job.done', 1, { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort('enough');
    await expect(outcome).rejects.toBe('enough');
    expect(ran).not.toContain('slow settled');
    // What was collected before the abort can no longer be thrown: it goes to onError.
    expect(failures.map(([error]) => error)).toEqual(['early']);
    await later(40);
    expect(failures.map(([error]) => error)).toEqual(['early', 'late']);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('removes its abort listener when the listeners settle first', async () => {
    const { bus, resolves } = setup();
    bus.on('job.done', resolves('a', 2));
    const controller = new AbortController();
    await bus.emitAsync('job.done', 1, { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('removes its abort listener when a fail-fast round rejects first', async () => {
    const { bus, rejects, resolves } = setup('fail-fast');
    bus.on('job.done', rejects('a', 'boom', 2));
    bus.on('job.done', resolves('b', 20));
    const controller = new AbortController();
    await expect(bus.emitAsync('job.done', 1, { signal: controller.signal })).rejects.toBe('boom');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort();
    await later(30);
  });

  it('rejects a signal that is not an AbortSignal', () => {
    const { bus } = setup();
    expect(() => bus.emitAsync('job.done', 1, { signal: 'x' as never })).toThrow(
      /signal must be an AbortSignal/,
    );
  });
});

// A topic whose dispatch is a single listener takes a shorter path; it must keep every rule of the long one.
describe('a topic reaching exactly one listener', () => {
  it.each([
    ['isolate', undefined],
    ['collect', AggregateError],
    ['fail-fast', Error],
  ] as const)('%s: a throw follows the policy', (errors, thrown) => {
    const { bus, failures, throws } = setup(errors);
    const bad = throws('only', new Error('only'));
    bus.on('job', bad);
    let caught: unknown;
    try {
      bus.emit('job.done', 1);
    } catch (error) {
      caught = error;
    }
    if (thrown === undefined) {
      expect(caught).toBeUndefined();
      expect(failures).toEqual([[new Error('only'), { topic: 'job.done', listener: bad }]]);
    } else {
      expect(caught).toBeInstanceOf(thrown);
      expect(failures).toEqual([]);
      if (errors === 'collect') {
        expect((caught as AggregateError).errors).toEqual([new Error('only')]);
        expect((caught as AggregateError).message).toBe('1 of 1 listeners of "job.done" failed');
      } else expect(caught).toEqual(new Error('only'));
    }
  });

  it('a once listener that throws is reported with the listener it was given as, and runs once', () => {
    const { bus, failures, ran, throws } = setup();
    const bad = throws('once', new Error('once'));
    bus.on('job.done', bad, { once: true });
    bus.emit('job.done', 1);
    bus.emit('job.done', 2);
    expect(ran).toEqual(['once']);
    expect(failures).toEqual([[new Error('once'), { topic: 'job.done', listener: bad }]]);
    expect(bus.listenerCount('job.done')).toBe(0);
  });

  it('a rejection after emit returned goes to onError', async () => {
    const { bus, failures, rejects } = setup('fail-fast');
    const bad = rejects('r', new Error('late'), 2);
    bus.on('*', bad);
    expect(() => bus.emit('job.failed', 1)).not.toThrow();
    await later(20);
    expect(failures).toEqual([[new Error('late'), { topic: 'job.failed', listener: bad }]]);
  });

  it('a schema defined after subscribing still validates, and its output reaches the listener', () => {
    const { bus } = setup();
    const seen: unknown[] = [];
    bus.on('job.done', (n) => {
      seen.push(n);
    });
    bus.emit('job.done', 1);
    bus.define('job.done', {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: (value) =>
          typeof value === 'number' && value > 0
            ? { value: value * 10 }
            : { issues: [{ message: 'positive' }] },
      },
    });
    bus.emit('job.done', 2);
    expect(() => bus.emit('job.done', -1)).toThrow(/positive/);
    expect(seen).toEqual([1, 20]);
  });

  it('a second subscription on an ancestor joins the next emit', () => {
    const { bus, ran, ok } = setup();
    bus.on('job.done', ok('topic'));
    bus.emit('job.done', 1);
    const off = bus.on('job', ok('ancestor'));
    bus.emit('job.done', 2);
    off();
    bus.emit('job.done', 3);
    expect(ran).toEqual(['topic', 'topic', 'ancestor', 'topic']);
  });
});

describe('the last-resort sink', () => {
  /** Collects what reaches `keel:events.unhandled` while `body` runs. */
  async function unhandledReports(body: () => Promise<void> | void): Promise<UnhandledReport[]> {
    const reports: UnhandledReport[] = [];
    const onReport = (message: unknown): void => {
      reports.push(message as UnhandledReport);
    };
    subscribe('keel:events.unhandled', onReport);
    try {
      await body();
    } finally {
      unsubscribe('keel:events.unhandled', onReport);
    }
    return reports;
  }

  it('a listener failure with no onError is published on keel:events.unhandled and written in the one format', async () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const failure = Object.assign(new Error('sync boom', { cause: new Error('disk full') }), {
      code: 'E_TEST',
    });
    const reports = await unhandledReports(async () => {
      const bus = new EventBus<Events>();
      bus.on('job.failed', () => {
        throw failure;
      });
      bus.on('job', async () => {
        throw new Error('async boom');
      });
      bus.emit('job.failed', 1);
      await tick();
    });
    expect(reports).toEqual([
      { module: 'events', context: 'EventBus listener of "job.failed" failed', error: failure },
      {
        module: 'events',
        context: 'EventBus listener of "job.failed" failed',
        error: new Error('async boom'),
      },
    ]);
    const text = write.mock.calls.map(([chunk]) => String(chunk)).join('');
    expect(text).toMatch(/^\[keel events\] EventBus listener of "job\.failed" failed: Error: sync boom/);
    expect(text).toMatch(/code: 'E_TEST'/);
    expect(text).toMatch(/\[cause\]: Error: disk full/);
  });

  it('an onError that throws sends both failures to keel:events.unhandled, the handler’s first', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const handlerError = new Error('handler broke');
    const listenerError = new Error('listener broke');
    const reports = await unhandledReports(() => {
      const bus = new EventBus<Events>({
        onError: () => {
          throw handlerError;
        },
      });
      bus.on('job.done', () => {
        throw listenerError;
      });
      bus.emit('job.done', 1);
    });
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ module: 'events', context: 'EventBus onError threw' });
    expect((reports[0] as UnhandledReport).error).toBeInstanceOf(AggregateError);
    expect(((reports[0] as UnhandledReport).error as AggregateError).errors).toEqual([
      handlerError,
      listenerError,
    ]);
  });
});
