/**
 * The one test suite every Transport passes: `runTransportContract('nats', { open })` from a test file.
 * `open` returns a new connection to the same engine each time, so messages cross connections.
 */
import { createHook } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, type KeelError } from '../errors.ts';
import type { Serializer } from './serializer.ts';
import type { MessageMeta, Transport, TransportOptions } from './transport.ts';
import {
  NoRespondersError,
  RemoteHandlerError,
  TransportClosedError,
  TransportConnectionError,
  TransportDecodeError,
  TransportEncodeError,
  TransportHandlerError,
  TransportTimeoutError,
  TransportUnsupportedError,
} from './transport-errors.ts';

export interface TransportContractSetup {
  /** Opens a new connection to the engine under test. */
  readonly open: (options?: TransportOptions) => Promise<Transport>;
  /** Whether the engine offers queue groups; when not, subscribing with `queue` must throw. @default true */
  readonly queueGroups?: boolean;
}

/** Collects what a subscription receives and waits for a count, failing after `ms`. */
function collector<T = unknown>() {
  const items: { payload: T; meta: MessageMeta }[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    items,
    handler: (payload: T, meta: MessageMeta) => {
      items.push({ payload, meta });
      for (const w of [...waiters]) if (items.length >= w.n) w.resolve();
    },
    async waitFor(n: number, ms = 5000): Promise<void> {
      if (items.length >= n) return;
      let timer: NodeJS.Timeout | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          waiters.push({ n, resolve });
          timer = setTimeout(() => reject(new Error(`received ${items.length} of ${n} within ${ms} ms`)), ms);
        });
      } finally {
        clearTimeout(timer);
        waiters.splice(0, waiters.length);
      }
    },
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sockets open right now, to compare before and after the suite. */
function openSockets(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPWRAP')
    .length;
}

/**
 * Follows the timers the transport and its driver create (not the test runner's, not this suite's own
 * waits), so the suite can prove that none outlives close().
 */
function timerTracker() {
  const live = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (type !== 'Timeout') return;
      const lines = (new Error().stack ?? '').split('\n');
      // The frame that called setTimeout or setInterval.
      const at = lines.findIndex((line) => /at (setTimeout|setInterval) \(node:/.test(line));
      const caller = at < 0 ? '' : (lines[at + 1] ?? '');
      if (caller.includes('vitest') || caller.includes('transport.contract.ts')) return;
      live.set(id, caller.trim());
    },
    destroy(id) {
      live.delete(id);
    },
  });
  return {
    start: () => hook.enable(),
    stop: () => hook.disable(),
    live: () => [...live.values()],
  };
}

/** A serializer that writes bytes no JSON parser accepts, to play a foreign or broken sender. */
const garbage: Serializer = {
  name: 'garbage',
  encode: () => new TextEncoder().encode('{not json'),
  decode: () => 'garbage',
};

export function runTransportContract(name: string, setup: TransportContractSetup): void {
  const queueGroups = setup.queueGroups ?? true;

  describe(`Transport contract: ${name}`, () => {
    let opened: Transport[] = [];
    let errors: { error: KeelError; subject: string }[] = [];
    let sockets = 0;
    const timers = timerTracker();

    const open = async (options: TransportOptions = {}) => {
      const transport = await setup.open({
        onError: (error, { subject }) => errors.push({ error, subject }),
        ...options,
      });
      opened.push(transport);
      return transport;
    };
    const pair = async () => [await open(), await open()] as const;
    const subject = (suffix = 'x') => `keel.contract.${randomUUID()}.${suffix}`;

    beforeAll(() => {
      sockets = openSockets();
      timers.start();
    });
    afterEach(async () => {
      // A transport a test closed already has its outcome checked there.
      await Promise.all(
        opened.map((t) => (t.closed ? t.close().catch(() => {}) : t.close({ timeoutMs: 2000 }))),
      );
      opened = [];
      errors = [];
    });
    afterAll(async () => {
      // Sockets and timers may take a turn of the event loop to be released after close().
      await sleep(50);
      timers.stop();
      expect(openSockets(), 'sockets left open').toBeLessThanOrEqual(sockets);
      expect(timers.live(), 'timers left running').toEqual([]);
    });

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
          meta: { subject: s, isRequest: false },
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

    describe('queue groups', () => {
      if (queueGroups) {
        it('gives each message to one member of a group, and a copy to subscribers outside it', async () => {
          const [a, b] = await pair();
          const c = await open();
          const s = subject();
          const m1 = collector<number>();
          const m2 = collector<number>();
          const outside = collector<number>();
          await Promise.all([
            b.subscribe(s, m1.handler, { queue: 'workers' }).ready,
            c.subscribe(s, m2.handler, { queue: 'workers' }).ready,
            c.subscribe(s, outside.handler).ready,
          ]);
          const n = 200;
          for (let i = 0; i < n; i++) await a.publish(s, i);
          await outside.waitFor(n);
          await sleep(100);
          const seen = [...m1.items, ...m2.items].map((i) => i.payload).sort((x, y) => x - y);
          expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
          expect(m1.items.length).toBeGreaterThan(0);
          expect(m2.items.length).toBeGreaterThan(0);
        });

        it('balances requests across a group', async () => {
          const [a, b] = await pair();
          const c = await open();
          const s = subject();
          await b.subscribe(s, () => 'b', { queue: 'svc' }).ready;
          await c.subscribe(s, () => 'c', { queue: 'svc' }).ready;
          const replies = await Promise.all(Array.from({ length: 60 }, () => a.request(s, null)));
          expect(new Set(replies)).toEqual(new Set(['b', 'c']));
        });
      } else {
        it('refuses a queue group with TransportUnsupportedError naming the alternative', async () => {
          const [, b] = await pair();
          expect(() => b.subscribe(subject(), () => {}, { queue: 'workers' })).toThrow(
            TransportUnsupportedError,
          );
          expect(() => b.subscribe(subject(), () => {}, { queue: 'workers' })).toThrow(/nats:\/\//);
        });
      }
    });

    describe('request and reply', () => {
      it("resolves to the handler's return value, or the value its promise resolves to", async () => {
        const [a, b] = await pair();
        const s = subject();
        const meta: MessageMeta[] = [];
        await b.subscribe<{ x: number }>(s, async ({ x }, m) => {
          meta.push(m);
          await sleep(5);
          return { doubled: x * 2 };
        }).ready;
        await expect(a.request(s, { x: 21 })).resolves.toEqual({ doubled: 42 });
        expect(meta).toEqual([{ subject: s, isRequest: true }]);
        const sync = subject();
        await b.subscribe(sync, (p) => p).ready;
        await expect(a.request(sync, 'echo')).resolves.toBe('echo');
      });

      it('resolves to undefined when the handler returns nothing', async () => {
        const [a, b] = await pair();
        const s = subject();
        await b.subscribe(s, () => {}).ready;
        await expect(a.request(s, 1)).resolves.toBeUndefined();
      });

      it('answers many concurrent requests, each with its own reply', async () => {
        const [a, b] = await pair();
        const s = subject();
        await b.subscribe<number>(s, async (n) => {
          await sleep(n % 7);
          return n * n;
        }).ready;
        const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => a.request(s, i)));
        expect(replies).toEqual(Array.from({ length: 100 }, (_, i) => i * i));
      });

      it('rejects with RemoteHandlerError carrying the remote code when the handler throws', async () => {
        const [a, b] = await pair();
        const s = subject();
        await b.subscribe(s, (p) => {
          if (p === 'keel') throw new TransportConnectionError('its database is down');
          throw new TypeError('bad input');
        }).ready;
        const keel = await a.request(s, 'keel').catch((e: unknown) => e);
        expect(keel).toBeInstanceOf(RemoteHandlerError);
        expect(keel).toMatchObject({
          code: 'KEEL_TRANSPORT_REMOTE',
          remoteCode: 'KEEL_TRANSPORT_CONNECTION',
          remoteName: 'TransportConnectionError',
          retryable: true,
        });
        expect((keel as Error).message).toContain('its database is down');
        const plain = await a.request(s, 'plain').catch((e: unknown) => e);
        expect(plain).toMatchObject({ remoteCode: 'ERROR', remoteName: 'TypeError', retryable: false });
        expect(errors).toEqual([]);
      });

      it('rejects with a retryable NoRespondersError when nobody subscribes', async () => {
        const [a] = await pair();
        const s = subject();
        const error = await a.request(s, 1, { timeoutMs: 3000 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(NoRespondersError);
        expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_NO_RESPONDERS', retryable: true, subject: s });
      });

      it('rejects with a retryable TransportTimeoutError when no reply comes in time', async () => {
        const [a, b] = await pair();
        const s = subject();
        let release = () => {};
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        await b.subscribe(s, () => held).ready;
        try {
          const error = await a.request(s, 1, { timeoutMs: 100 }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(TransportTimeoutError);
          expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_TIMEOUT', retryable: true, timeoutMs: 100 });
          expect((error as Error).message).toContain(s);
        } finally {
          release();
        }
      });

      it('rejects with the signal reason when aborted, before or while waiting', async () => {
        const [a, b] = await pair();
        const s = subject();
        let release = () => {};
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        await b.subscribe(s, () => held).ready;
        try {
          const reason = new Error('caller gave up');
          await expect(a.request(s, 1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
          const controller = new AbortController();
          const pending = a.request(s, 1, { signal: controller.signal, timeoutMs: 5000 });
          await sleep(20);
          controller.abort(reason);
          await expect(pending).rejects.toBe(reason);
        } finally {
          release();
        }
      });

      it('returns a RemoteHandlerError with the decode code when the request does not decode', async () => {
        const a = await open({ serializer: garbage });
        const b = await open();
        const s = subject();
        await b.subscribe(s, () => 'never').ready;
        const error = await a.request(s, 'x').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RemoteHandlerError);
        expect(error).toMatchObject({ remoteCode: 'KEEL_TRANSPORT_DECODE' });
        expect(errors.map((e) => e.error.code)).toEqual(['KEEL_TRANSPORT_DECODE']);
      });

      it('rejects with TransportDecodeError when the reply does not decode; other requests are unaffected', async () => {
        const a = await open();
        const bad = await open({ serializer: garbage });
        const good = await open();
        const badSubject = subject('bad');
        const goodSubject = subject('good');
        await bad.subscribe(badSubject, () => 'reply').ready;
        await good.subscribe(goodSubject, (p) => p).ready;
        const [broken, fine] = await Promise.allSettled([
          a.request(badSubject, 1),
          a.request(goodSubject, 2),
        ]);
        expect(broken.status === 'rejected' && broken.reason).toBeInstanceOf(TransportDecodeError);
        expect(fine).toEqual({ status: 'fulfilled', value: 2 });
      });
    });

    describe('bad arguments', () => {
      it('rejects invalid subjects, naming what is allowed and what came', async () => {
        const [a] = await pair();
        for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a.>.b', 'a*', 42]) {
          expect(() => a.subscribe(bad as string, () => {})).toThrow(InvalidArgumentError);
        }
        await expect(a.publish('a.*', 1)).rejects.toThrow(/subject must be .*; received "a\.\*"/);
        await expect(a.publish('a.>', 1)).rejects.toBeInstanceOf(InvalidArgumentError);
        await expect(a.request('', 1)).rejects.toThrow(/received ""/);
      });

      it('rejects a handler that is not a function, a bad queue, timeoutMs and signal', async () => {
        const [a] = await pair();
        expect(() => a.subscribe('a', 'nope' as never)).toThrow(
          /handler must be a function; received "nope"/,
        );
        expect(() => a.subscribe('a', () => {}, { queue: '' })).toThrow(/queue must be a non-empty string/);
        await expect(a.request('a', 1, { timeoutMs: 0 })).rejects.toThrow(
          /timeoutMs must be an integer ≥ 1; received 0/,
        );
        await expect(a.request('a', 1, { timeoutMs: Number.NaN })).rejects.toThrow(/received NaN/);
        await expect(a.request('a', 1, { signal: 'x' as never })).rejects.toThrow(
          /signal must be an AbortSignal/,
        );
      });
    });

    describe('close', () => {
      it('lets a running handler finish and deliver its reply before the connection closes', async () => {
        const [a, b] = await pair();
        const s = subject();
        let started = () => {};
        const running = new Promise<void>((resolve) => {
          started = resolve;
        });
        await b.subscribe(s, async () => {
          started();
          await sleep(150);
          return 'finished';
        }).ready;
        const reply = a.request(s, null, { timeoutMs: 3000 });
        await running;
        await b.close();
        await expect(reply).resolves.toBe('finished');
      });

      it('waits for its own pending requests, then refuses new work with TransportClosedError', async () => {
        const [a, b] = await pair();
        const s = subject();
        await b.subscribe(s, async () => {
          await sleep(100);
          return 'late';
        }).ready;
        const reply = a.request(s, null);
        await sleep(10);
        const closing = a.close();
        expect(a.closed).toBe(true);
        await expect(a.publish(s, 1)).rejects.toBeInstanceOf(TransportClosedError);
        await expect(a.request(s, 1)).rejects.toMatchObject({ code: 'KEEL_TRANSPORT_CLOSED' });
        expect(() => a.subscribe(s, () => {})).toThrow(TransportClosedError);
        await expect(reply).resolves.toBe('late');
        await closing;
        expect(a.close()).toBe(closing);
      });

      it("stops waiting when close()'s signal aborts, then rejects with the reason", async () => {
        const [a, b] = await pair();
        const s = subject();
        let release = () => {};
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        await b.subscribe(s, () => held).ready;
        try {
          const pending = a.request(s, 1, { timeoutMs: 5000 });
          await sleep(20);
          const reason = new Error('shut down now');
          const controller = new AbortController();
          const closing = a.close({ signal: controller.signal, timeoutMs: 5000 });
          controller.abort(reason);
          await expect(closing).rejects.toBe(reason);
          await expect(pending).rejects.toBeInstanceOf(TransportClosedError);
          await expect(a.close()).rejects.toBe(reason);
        } finally {
          release();
        }
      });

      it('rejects bad close options, naming them', async () => {
        const [a] = await pair();
        await expect(a.close({ timeoutMs: -1 })).rejects.toThrow(
          /timeoutMs must be an integer ≥ 1; received -1/,
        );
        await expect(a.close({ signal: {} as never })).rejects.toThrow(/signal must be an AbortSignal/);
        expect(a.closed).toBe(false);
      });

      it('stops delivering to the subscriptions of a closed transport', async () => {
        const [a, b] = await pair();
        const s = subject();
        const got = collector();
        const marker = collector();
        await b.subscribe(s, got.handler).ready;
        await a.subscribe(s, marker.handler).ready;
        await b.close();
        await a.publish(s, 1);
        await marker.waitFor(1);
        await sleep(30);
        expect(got.items).toEqual([]);
      });
    });
  });
}
