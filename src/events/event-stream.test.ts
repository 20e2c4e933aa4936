import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { EventBus } from './event-bus.ts';
import { StreamOverflowError } from './event-errors.ts';
import type { EventStream } from './event-stream.ts';

type Events = { 'log.info': string; 'log.warn': string; tick: number };

async function take<T>(stream: EventStream<T>, count: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i++) {
    const next = await stream.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

describe('EventBus.stream()', () => {
  it('yields the payloads emitted from its creation on, in order, including descendants', async () => {
    const bus = new EventBus<Events>();
    bus.emit('log.info', 'before');
    const stream = bus.stream('log');
    bus.emit('log.info', 'a');
    bus.emit('tick', 1);
    bus.emit('log.warn', 'b');
    expect(stream.buffered).toBe(2);
    expect(await take(stream, 2)).toEqual(['a', 'b']);
    await stream.return();
  });

  it('hands an event straight to a reader that is already waiting', async () => {
    const bus = new EventBus<Events>();
    const stream = bus.stream('tick');
    const first = stream.next();
    const second = stream.next();
    bus.emit('tick', 1);
    bus.emit('tick', 2);
    expect(await first).toEqual({ done: false, value: 1 });
    expect(await second).toEqual({ done: false, value: 2 });
    expect(stream.buffered).toBe(0);
    await stream.return();
  });

  it('works with for await, and unsubscribes on break', async () => {
    const bus = new EventBus<Events>();
    const stream = bus.stream('tick');
    for (let i = 1; i <= 5; i++) bus.emit('tick', i);
    const seen: number[] = [];
    for await (const n of stream) {
      seen.push(n);
      if (n === 3) break;
    }
    expect(seen).toEqual([1, 2, 3]);
    expect(bus.listenerCount('tick')).toBe(0);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it('is AsyncDisposable: `await using` ends it and releases waiting readers', async () => {
    const bus = new EventBus<Events>();
    let pending: Promise<IteratorResult<number, undefined>> | undefined;
    {
      await using stream = bus.stream('tick');
      expect(bus.listenerCount('tick')).toBe(1);
      pending = stream.next();
    }
    expect(bus.listenerCount('tick')).toBe(0);
    expect(await pending).toEqual({ done: true, value: undefined });
  });

  describe('overflow', () => {
    it("'drop-oldest' keeps the newest bufferSize events and counts the dropped", async () => {
      const bus = new EventBus<Events>();
      const stream = bus.stream('tick', { bufferSize: 3, overflow: 'drop-oldest' });
      for (let i = 1; i <= 7; i++) bus.emit('tick', i);
      expect(stream.buffered).toBe(3);
      expect(stream.dropped).toBe(4);
      expect(await take(stream, 3)).toEqual([5, 6, 7]);
      bus.emit('tick', 8);
      expect(await take(stream, 1)).toEqual([8]);
      await stream.return();
    });

    it("'drop-newest' keeps the oldest bufferSize events and counts the dropped", async () => {
      const bus = new EventBus<Events>();
      const stream = bus.stream('tick', { bufferSize: 3, overflow: 'drop-newest' });
      for (let i = 1; i <= 7; i++) bus.emit('tick', i);
      expect(stream.dropped).toBe(4);
      expect(await take(stream, 3)).toEqual([1, 2, 3]);
      bus.emit('tick', 8);
      expect(await take(stream, 1)).toEqual([8]);
      await stream.return();
    });

    it("'error' (the default) yields the buffered events, then throws StreamOverflowError and ends", async () => {
      const bus = new EventBus<Events>();
      const stream = bus.stream('tick', { bufferSize: 2 });
      for (let i = 1; i <= 4; i++) bus.emit('tick', i);
      expect(bus.listenerCount('tick')).toBe(0);
      expect(await take(stream, 2)).toEqual([1, 2]);
      const error = await stream.next().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StreamOverflowError);
      expect(error).toMatchObject({ code: 'KEEL_STREAM_OVERFLOW', topic: 'tick', bufferSize: 2 });
      expect(await stream.next()).toEqual({ done: true, value: undefined });
    });

    it('never lets the emitter see an overflow', () => {
      const bus = new EventBus<Events>({ errors: 'fail-fast' });
      bus.stream('tick', { bufferSize: 1 });
      expect(() => {
        for (let i = 0; i < 10; i++) bus.emit('tick', i);
      }).not.toThrow();
    });

    it('wraps the ring buffer correctly over many cycles', async () => {
      const bus = new EventBus<Events>();
      const stream = bus.stream('tick', { bufferSize: 4, overflow: 'drop-oldest' });
      const seen: number[] = [];
      for (let i = 0; i < 50; i++) {
        bus.emit('tick', i);
        if (i % 3 === 0) seen.push(...(await take(stream, 1)));
      }
      seen.push(...(await take(stream, stream.buffered)));
      // Everything read came in order, with nothing read twice.
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.length + stream.dropped).toBe(50);
      await stream.return();
    });
  });

  describe('abort', () => {
    it('rejects a waiting reader with the reason, unsubscribes and removes its abort listener', async () => {
      const bus = new EventBus<Events>();
      const controller = new AbortController();
      const stream = bus.stream('tick', { signal: controller.signal });
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      const waiting = stream.next();
      const reason = new Error('stop');
      controller.abort(reason);
      await expect(waiting).rejects.toBe(reason);
      expect(bus.listenerCount('tick')).toBe(0);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      expect(await stream.next()).toEqual({ done: true, value: undefined });
    });

    it('rejects the next read after an abort, discarding what was buffered', async () => {
      const bus = new EventBus<Events>();
      const controller = new AbortController();
      const stream = bus.stream('tick', { signal: controller.signal });
      bus.emit('tick', 1);
      controller.abort('why');
      await expect(stream.next()).rejects.toBe('why');
      expect(await stream.next()).toEqual({ done: true, value: undefined });
    });

    it('starts ended for an already aborted signal, subscribing nothing', async () => {
      const bus = new EventBus<Events>();
      const stream = bus.stream('tick', { signal: AbortSignal.abort('early') });
      expect(bus.listenerCount()).toBe(0);
      await expect(stream.next()).rejects.toBe('early');
    });

    it('removes its abort listener when returned', async () => {
      const bus = new EventBus<Events>();
      const controller = new AbortController();
      const stream = bus.stream('tick', { signal: controller.signal });
      await stream.return();
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    });
  });

  it('rejects bad options, naming the option, what is allowed and what came', () => {
    const bus = new EventBus<Events>();
    expect(() => bus.stream('tick', { bufferSize: 0 })).toThrow(
      /bufferSize must be an integer ≥ 1; received 0/,
    );
    expect(() => bus.stream('tick', { bufferSize: Number.POSITIVE_INFINITY })).toThrow(InvalidArgumentError);
    expect(() => bus.stream('tick', { overflow: 'block' as never })).toThrow(
      /overflow must be one of 'drop-oldest', 'drop-newest', 'error'; received "block"/,
    );
    expect(() => bus.stream('tick', { signal: 1 as never })).toThrow(/signal must be an AbortSignal/);
    expect(() => bus.stream('a..b' as 'tick')).toThrow(InvalidArgumentError);
    expect(bus.listenerCount()).toBe(0);
  });

  it('takes nothing more once ended, even from the emit that ended it', async () => {
    const bus = new EventBus<Events>();
    const streams: EventStream<number>[] = [];
    bus.on('tick', () => {
      for (const s of streams) void s.return();
    });
    streams.push(bus.stream('tick'));
    bus.emit('tick', 1);
    expect(streams[0]?.buffered).toBe(0);
    expect(await streams[0]?.next()).toEqual({ done: true, value: undefined });
  });

  it('streams "*"', async () => {
    const bus = new EventBus<Events>();
    const stream = bus.stream('*');
    bus.emit('tick', 1);
    bus.emit('log.info', 'x');
    expect(await take(stream, 2)).toEqual([1, 'x']);
    await stream.return();
  });
});
