/**
 * The test suite of bridgeEvents that every engine passes: `runEventBridgeSuite('nats', { open })`.
 * Each "process" is a bus with its own transport connection to the engine.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidPayloadError } from '../events/event-errors.ts';
import { EventBus } from '../events/index.ts';
import type { StandardSchemaV1 } from '../standard-schema.ts';
import { bridgeEvents, type EventBridge, type EventBridgeOptions } from './event-bridge.ts';
import type { Serializer } from './serializer.ts';
import type { Transport } from './transport.ts';
import { EventBridgeMessageError } from './transport-errors.ts';

export interface EventBridgeSuiteSetup {
  /** Opens a new connection to the engine under test. */
  readonly open: () => Promise<Transport>;
}

type Events = {
  'shape.created': { id: number };
  'shape.deleted': { id: number };
  'user.created': { name: string };
  'audit.logged': { what: string };
  'zz.ping': string;
  'zz.pong': string;
};

/** One bus and what reached it. */
interface Peer {
  readonly bus: EventBus<Events>;
  readonly transport: Transport;
  readonly bridges: EventBridge[];
  /** Every event that reached the bus's "*" listener, but the suite's own sync events. */
  readonly got: { topic: string; payload: unknown }[];
  readonly errors: { error: unknown; direction: string; topic: string | undefined }[];
  /** The sync pings this peer sent itself, which it does not answer. */
  readonly pinging: Set<string>;
  bridge(options?: EventBridgeOptions): Promise<EventBridge>;
}

/** Waits until `check` passes, polling; fails with what it last saw after `ms`. */
export async function until(check: () => boolean, what: () => string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A hand-written Standard Schema for `{ id: number }`. */
const idSchema: StandardSchemaV1<unknown, { id: number }> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value) =>
      typeof (value as { id?: unknown } | null)?.id === 'number'
        ? { value: value as { id: number } }
        : { issues: [{ message: 'Expected a number', path: ['id'] }] },
  },
};

/** A serializer JSON cannot stand in for: BigInt values survive the trip. */
const bigintSerializer: Serializer = {
  name: 'json+bigint',
  encode: (value) =>
    new TextEncoder().encode(
      JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? { $big: v.toString() } : v)),
    ),
  decode: (data) =>
    JSON.parse(new TextDecoder().decode(data), (_, v) =>
      v !== null && typeof v === 'object' && typeof v.$big === 'string' ? BigInt(v.$big) : v,
    ),
};

export function runEventBridgeSuite(name: string, setup: EventBridgeSuiteSetup): void {
  describe(`bridgeEvents over ${name}`, () => {
    let opened: Transport[] = [];
    /** A subject prefix no other test uses, so tests on a shared engine never hear each other. */
    let prefix = '';
    beforeEach(() => {
      prefix = `keel.test.${randomUUID().replaceAll('-', '')}`;
    });

    afterEach(async () => {
      await Promise.all(opened.map((t) => t.close({ timeoutMs: 2000 })));
      opened = [];
    });

    const open = async (): Promise<Transport> => {
      const transport = await setup.open();
      opened.push(transport);
      return transport;
    };

    /** A bus, a connection and (by default) one bridge, on a prefix no other test uses. */
    const peer = async (options: EventBridgeOptions | null = {}): Promise<Peer> => {
      const transport = await open();
      const bus = new EventBus<Events>();
      const got: Peer['got'] = [];
      const errors: Peer['errors'] = [];
      bus.on('*', (payload, topic) => {
        if (!topic.startsWith('zz.')) got.push({ topic, payload });
      });
      // Answers the suite's sync pings (but its own), so a test can wait until everything sent before
      // has arrived.
      const pinging = new Set<string>();
      bus.on('zz.ping', (token) => {
        if (!pinging.has(token)) bus.emit('zz.pong', token);
      });
      const p: Peer = {
        bus,
        transport,
        bridges: [],
        got,
        errors,
        pinging,
        async bridge(more = {}) {
          const bridge = bridgeEvents(bus, transport, {
            prefix,
            onError: (error, { direction, topic }) => errors.push({ error, direction, topic }),
            ...more,
          });
          p.bridges.push(bridge);
          await bridge.ready;
          return bridge;
        },
      };
      if (options !== null) await p.bridge(options);
      return p;
    };

    /**
     * Waits until `to` has answered a ping from `from`: whatever either sent the other before (echoes
     * included) has arrived by then, since each engine keeps one connection's messages in order.
     */
    const settle = async (from: Peer, ...to: Peer[]): Promise<void> => {
      const token = randomUUID();
      let pongs = 0;
      using _ = from.bus.on('zz.pong', (t) => {
        if (t === token) pongs++;
      });
      from.pinging.add(token);
      from.bus.emit('zz.ping', token);
      await until(
        () => pongs >= to.length,
        () => `${to.length} pongs, got ${pongs}`,
      );
    };

    /** Counts the raw messages published under the test's prefix, as the engine carries them. */
    const tap = async (): Promise<{ subjects: string[] }> => {
      const transport = await open();
      const seen = { subjects: [] as string[] };
      await transport.subscribe(`${prefix}.>`, (_, { subject }) => {
        if (!subject.startsWith(`${prefix}.zz.`)) seen.subjects.push(subject);
      }).ready;
      return seen;
    };

    /** Collects the envelopes published under the test's prefix, as a forger on the engine reads them. */
    const capture = async (): Promise<{ envelopes: Record<string, unknown>[]; stop: () => void }> => {
      const transport = await open();
      const envelopes: Record<string, unknown>[] = [];
      const subscription = transport.subscribe(`${prefix}.>`, (envelope, { subject }) => {
        if (!subject.startsWith(`${prefix}.zz.`)) envelopes.push(envelope as Record<string, unknown>);
      });
      await subscription.ready;
      return { envelopes, stop: subscription };
    };

    /** The fields that make a forged envelope a new event rather than a copy of the one it was made from. */
    const fresh = (): Record<string, unknown> => ({
      id: randomUUID(),
      seq: 1000 + Math.floor(Math.random() * 1e9),
    });

    it('delivers events both ways', async () => {
      const [a, b] = [await peer(), await peer()];
      a.bus.emit('shape.created', { id: 1 });
      await until(
        () => b.got.length === 1,
        () => `b to get 1 event, got ${b.got.length}`,
      );
      b.bus.emit('user.created', { name: 'ada' });
      await until(
        () => a.got.length === 2,
        () => `a to get 2 events, got ${a.got.length}`,
      );
      await settle(a, b);
      // Each bus also sees its own event, once.
      expect(b.got).toEqual([
        { topic: 'shape.created', payload: { id: 1 } },
        { topic: 'user.created', payload: { name: 'ada' } },
      ]);
      expect(a.got).toEqual([
        { topic: 'shape.created', payload: { id: 1 } },
        { topic: 'user.created', payload: { name: 'ada' } },
      ]);
    });

    it('delivers a remote event to the listeners of its topic, its ancestors and "*", with its topic', async () => {
      const [a, b] = [await peer(), await peer()];
      const calls: string[] = [];
      b.bus.on('shape.created', (p, t) => calls.push(`exact ${t} ${p.id}`));
      b.bus.on('shape', (p, t) => calls.push(`shape ${t} ${p.id}`));
      b.bus.on('*', (_, t) => {
        if (!t.startsWith('zz.')) calls.push(`* ${t}`);
      });
      b.bus.on('user', () => calls.push('user'));
      a.bus.emit('shape.created', { id: 7 });
      await until(
        () => calls.length >= 3,
        () => `3 calls, got ${JSON.stringify(calls)}`,
      );
      await settle(a, b);
      expect(calls).toEqual(['exact shape.created 7', 'shape shape.created 7', '* shape.created']);
    });

    it('sends each local event once and never echoes a remote one back', async () => {
      const seen = await tap();
      const [a, b, c] = [await peer(), await peer(), await peer()];
      a.bus.emit('shape.created', { id: 1 });
      b.bus.emit('shape.deleted', { id: 1 });
      await settle(a, b, c);
      await settle(b, a, c);
      await settle(c, a, b);
      for (const p of [a, b, c]) {
        expect(p.got.map((e) => e.topic).sort()).toEqual(['shape.created', 'shape.deleted']);
      }
      expect(seen.subjects.sort()).toEqual([`${prefix}.shape.created`, `${prefix}.shape.deleted`]);
    });

    it('shares an event a listener emits while a remote event is delivered', async () => {
      const [a, b] = [await peer(), await peer()];
      b.bus.on('shape.created', ({ id }) => b.bus.emit('audit.logged', { what: `shape ${id}` }));
      a.bus.emit('shape.created', { id: 3 });
      await until(
        () => a.got.length === 2,
        () => `a to get 2 events, got ${JSON.stringify(a.got)}`,
      );
      await settle(a, b);
      expect(a.got).toEqual([
        { topic: 'shape.created', payload: { id: 3 } },
        { topic: 'audit.logged', payload: { what: 'shape 3' } },
      ]);
      // On `b`, the emit made inside a listener is delivered before the outer one goes on (bus rule).
      expect(b.got.map((e) => e.topic)).toEqual(['audit.logged', 'shape.created']);
    });

    it('with two bridges on one bus and one engine: no loop, and every bus gets each event once', async () => {
      const seen = await tap();
      const a = await peer();
      const second = await open();
      a.bridges.push(
        bridgeEvents(a.bus, second, {
          prefix,
          onError: (error) => a.errors.push({ error, direction: '', topic: '' }),
        }),
      );
      await (a.bridges[1] as EventBridge).ready;
      const b = await peer();
      a.bus.emit('shape.created', { id: 1 });
      b.bus.emit('shape.deleted', { id: 2 });
      await settle(a, b);
      await settle(b, a);
      expect(a.got.map((e) => e.topic).sort()).toEqual(['shape.created', 'shape.deleted']);
      expect(b.got.map((e) => e.topic).sort()).toEqual(['shape.created', 'shape.deleted']);
      // Each bridge of `a` publishes its copy; `b` publishes one; nothing is relayed.
      expect(seen.subjects.sort()).toEqual([
        `${prefix}.shape.created`,
        `${prefix}.shape.created`,
        `${prefix}.shape.deleted`,
      ]);
      expect(a.errors).toEqual([]);
    });

    it('reports a message that is not an event, and keeps delivering the others', async () => {
      const [a, b] = [await peer(), await peer()];
      const raw = await open();
      await raw.publish(`${prefix}.shape.created`, 'not an envelope');
      await raw.publish(`${prefix}.shape.created`, { v: 2, origin: 'x', id: 'i1', topic: 'user.created' });
      await raw.publish(`${prefix}.shape.created`, { v: 2, origin: 'x', id: 1, topic: 'shape.created' });
      await raw.publish(`${prefix}.shape.created`, { v: 1, origin: 'x', seq: 1, topic: 'shape.created' });
      a.bus.emit('shape.created', { id: 5 });
      await until(
        () => b.got.length === 1 && b.errors.length === 4,
        () => `1 event and 4 errors, got ${b.got.length} and ${b.errors.length}`,
      );
      expect(b.got).toEqual([{ topic: 'shape.created', payload: { id: 5 } }]);
      for (const { error, direction } of b.errors) {
        expect(error).toBeInstanceOf(EventBridgeMessageError);
        expect(error).toMatchObject({
          code: 'KEEL_EVENT_BRIDGE_MESSAGE',
          subject: `${prefix}.shape.created`,
        });
        expect(direction).toBe('incoming');
      }
      const messages = b.errors.map(({ error }) => (error as Error).message);
      expect(messages[0]).toMatch(/not an event envelope/);
      expect(messages[1]).toMatch(/topic "user\.created" does not match the subject/);
      expect(messages[2]).toMatch(/id must be a string of 1 to 64 characters; received 1/);
      expect(messages[3]).toMatch(/event envelope of version 1; this bridge reads version 2/);
    });

    it('refuses an origin longer than 64 characters as malformed, and delivers nothing of it', async () => {
      const seen = await capture();
      const [a, b] = [await peer(), await peer()];
      a.bus.emit('shape.created', { id: 1 });
      await until(
        () => seen.envelopes.length === 1 && b.got.length === 1,
        () => `1 envelope and 1 event, got ${seen.envelopes.length} and ${b.got.length}`,
      );
      const raw = await open();
      const forged = { ...seen.envelopes[0], origin: 'o'.repeat(65), payload: { id: 2 } };
      await raw.publish(`${prefix}.shape.created`, forged);
      await until(
        () => b.errors.length === 1,
        () => `1 error, got ${b.errors.length}`,
      );
      await settle(a, b);
      expect(b.got).toEqual([{ topic: 'shape.created', payload: { id: 1 } }]);
      expect(b.errors[0]?.error).toBeInstanceOf(EventBridgeMessageError);
      expect(String(b.errors[0]?.error)).toMatch(
        /origin must be a string of 1 to 64 characters; received "o{57}\.\.\."/,
      );
    });

    it("cannot be made to drop a sender's future events by a forger who copies its origin", async () => {
      const seen = await capture();
      const [a, b] = [await peer(), await peer()];
      a.bus.emit('shape.created', { id: 1 });
      await until(
        () => seen.envelopes.length === 1 && b.got.length === 1,
        () => `1 envelope and 1 event, got ${seen.envelopes.length} and ${b.got.length}`,
      );
      // Everything a forger can read off the wire, replayed as is and with every counter it might predict.
      const real = seen.envelopes[0] as Record<string, unknown>;
      const raw = await open();
      await raw.publish(`${prefix}.shape.created`, real);
      const next = typeof real.seq === 'number' ? real.seq : 0;
      for (let k = 1; k <= 5; k++) {
        await raw.publish(`${prefix}.shape.created`, {
          ...real,
          seq: next + k,
          id: randomUUID(),
          payload: { id: -k },
        });
      }
      await raw.publish(`${prefix}.shape.created`, {
        ...real,
        seq: 2 ** 53 - 1,
        id: randomUUID(),
        payload: { id: -9 },
      });
      await until(
        () => b.got.length === 7,
        () => `7 events, got ${JSON.stringify(b.got)}`,
      );
      a.bus.emit('shape.created', { id: 2 });
      a.bus.emit('shape.created', { id: 3 });
      const ids = () => b.got.map((e) => (e.payload as { id: number }).id);
      await until(
        () => ids().includes(3),
        () => `the sender's next events to arrive, got ${JSON.stringify(ids())}`,
        3000,
      );
      await settle(a, b);
      // The exact replay of a delivered event is a copy: dropped. The forged events are the forger's own.
      expect(ids().filter((id) => id > 0)).toEqual([1, 2, 3]);
      expect(b.errors).toEqual([]);
    });

    it('never answers a request sent to its subjects, and does not deliver it', async () => {
      const seen = await capture();
      const [a, b] = [await peer(), await peer()];
      a.bus.emit('shape.created', { id: 1 });
      await until(
        () => seen.envelopes.length === 1 && b.got.length === 1,
        () => `1 envelope and 1 event, got ${seen.envelopes.length} and ${b.got.length}`,
      );
      // Only the bridges may hear the request (this plain subscription would answer it).
      seen.stop();
      const raw = await open();
      const audits: unknown[] = [];
      await raw.subscribe(`${prefix}.audit.logged`, (payload) => {
        audits.push(payload);
      }).ready;
      const control = new AbortController();
      let answered: unknown = 'nothing';
      const request = raw
        .request(
          `${prefix}.shape.created`,
          { ...seen.envelopes[0], payload: { id: 2 }, ...fresh() },
          {
            timeoutMs: 60_000,
            signal: control.signal,
          },
        )
        .then(
          (reply) => {
            answered = { reply };
          },
          (error: unknown) => {
            if (error !== control.signal.reason) answered = { error };
          },
        );
      // Sent after the request on the same connection, so it reaches `b` after it; `b`'s answer to it
      // travels after anything `b` sent back for the request.
      b.bus.on('shape.deleted', () => b.bus.emit('audit.logged', { what: 'after' }));
      await raw.publish(`${prefix}.shape.deleted`, {
        ...seen.envelopes[0],
        topic: 'shape.deleted',
        payload: { id: 3 },
        ...fresh(),
      });
      await until(
        () => audits.length === 1,
        () => `the audit event, got ${audits.length}`,
      );
      expect(answered).toBe('nothing');
      control.abort();
      await request;
      // The request's payload (id 2) never reached the bus.
      expect(b.got.map((e) => e.topic).sort()).toEqual(['audit.logged', 'shape.created', 'shape.deleted']);
      expect(b.errors).toHaveLength(1);
      expect(b.errors[0]?.error).toBeInstanceOf(EventBridgeMessageError);
      expect(String(b.errors[0]?.error)).toMatch(/it is a request/);
    });

    it("reports a payload that fails the receiving bus's schema, and delivers the valid ones", async () => {
      const [a, b] = [await peer(), await peer()];
      b.bus.define('shape.created', idSchema);
      a.bus.emit('shape.created', { id: 'seven' } as unknown as { id: number });
      a.bus.emit('shape.created', { id: 8 });
      await until(
        () => b.got.length === 1 && b.errors.length === 1,
        () => `1 event and 1 error, got ${b.got.length} and ${b.errors.length}`,
      );
      expect(b.got).toEqual([{ topic: 'shape.created', payload: { id: 8 } }]);
      expect(b.errors[0]?.error).toBeInstanceOf(InvalidPayloadError);
      expect(b.errors[0]).toMatchObject({ direction: 'incoming', topic: 'shape.created' });
    });

    it('shares only the topics it is given, both ways', async () => {
      const seen = await tap();
      const a = await peer({ topics: ['shape', 'zz'] });
      const b = await peer();
      a.bus.emit('shape.created', { id: 1 });
      a.bus.emit('user.created', { name: 'kept local' });
      b.bus.emit('user.created', { name: 'not received' });
      b.bus.emit('shape.deleted', { id: 2 });
      await settle(a, b);
      await settle(b, a);
      expect(a.got.map((e) => e.topic)).toEqual(['shape.created', 'user.created', 'shape.deleted']);
      expect(a.got[1]).toEqual({ topic: 'user.created', payload: { name: 'kept local' } });
      expect(b.got.map((e) => e.topic)).toEqual(['user.created', 'shape.deleted', 'shape.created']);
      expect(seen.subjects.sort()).toEqual(
        [`${prefix}.shape.created`, `${prefix}.shape.deleted`, `${prefix}.user.created`].sort(),
      );
    });

    it('carries payloads with a custom serializer, and reports a bridge that reads another', async () => {
      const a = await peer({ serializer: bigintSerializer });
      const b = await peer({ serializer: bigintSerializer });
      const c = await peer();
      a.bus.emit('shape.created', { id: 2n } as unknown as { id: number });
      await until(
        () => b.got.length === 1 && c.errors.length === 1,
        () => `b's event and c's error, got ${b.got.length} and ${c.errors.length}`,
      );
      expect(b.got).toEqual([{ topic: 'shape.created', payload: { id: 2n } }]);
      expect(c.got).toEqual([]);
      expect(c.errors[0]?.error).toBeInstanceOf(EventBridgeMessageError);
      expect(String(c.errors[0]?.error)).toMatch(
        /encoded with "json\+bigint", but this bridge has no serializer option/,
      );
    });

    it('stops both ways on close, leaving no listener and no subscription', async () => {
      const seen = await tap();
      const [a, b] = [await peer(), await peer()];
      // The suite's own "*" listener, and the bridge's.
      expect(a.bus.listenerCount('*')).toBe(2);
      await (a.bridges[0] as EventBridge).close();
      expect(a.bridges[0]?.closed).toBe(true);
      expect(a.bus.listenerCount('*')).toBe(1);
      a.bus.emit('shape.created', { id: 1 });
      b.bus.emit('shape.deleted', { id: 2 });
      // `b` still answers pings through its own bridge; `a` no longer hears them, so wait through a tap.
      await until(
        () => seen.subjects.length === 1,
        () => `the tap to see 1 message, got ${seen.subjects.length}`,
      );
      const c = await peer();
      c.bus.emit('shape.created', { id: 3 });
      await settle(c, b);
      expect(a.got.map((e) => e.topic)).toEqual(['shape.created']);
      expect(seen.subjects).toEqual([`${prefix}.shape.deleted`, `${prefix}.shape.created`]);
      await expect(a.bridges[0]?.close()).resolves.toBeUndefined();
    });
  });
}
