/** bridgeEvents over memory transports (two transports on one hub name play two processes). */
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { UnhandledReport } from '../diagnostics.ts';
import { InvalidArgumentError } from '../errors.ts';
import { EventBus } from '../events/index.ts';
import { runEventBridgeSuite, until } from './event-bridge.contract.ts';
import { bridgeEvents, type EventBridgeErrorContext } from './event-bridge.ts';
import { linkOf } from './event-bridge-link.ts';
import { openTransport } from './open-transport.ts';
import type { Transport } from './transport.ts';
import { EventBridgeMessageError, TransportClosedError, TransportEncodeError } from './transport-errors.ts';

const hub = `memory://bridge-${randomUUID()}`;
runEventBridgeSuite('memory', { open: () => openTransport(hub) });

describe('bridgeEvents', () => {
  let opened: Transport[] = [];
  afterEach(async () => {
    await Promise.all(opened.map((t) => t.close()));
    opened = [];
  });
  const open = async (): Promise<Transport> => {
    const transport = await openTransport(hub);
    opened.push(transport);
    return transport;
  };
  const prefix = () => `keel.unit.${randomUUID().replaceAll('-', '')}`;

  it('rejects bad arguments, naming the option, what is allowed and what came', async () => {
    const transport = await open();
    const bus = new EventBus();
    const bad = (options: object) => () => bridgeEvents(bus, transport, options);
    expect(() => bridgeEvents({} as EventBus, transport)).toThrow(
      'bridgeEvents() bus must be an EventBus; received an object',
    );
    expect(() => bridgeEvents(bus, 'nats://x' as unknown as Transport)).toThrow(
      /transport must be a Transport \(from openTransport\); received "nats:\/\/x"/,
    );
    expect(bad({ prefix: 'a..b' })).toThrow(/^bridgeEvents\(\) prefix must be .*; received "a\.\.b"/);
    expect(bad({ prefix: 'events.>' })).toThrow(InvalidArgumentError);
    expect(bad({ topics: [] })).toThrow(
      /^bridgeEvents\(\) topics must be a non-empty array .*; received an array of length 0/,
    );
    expect(bad({ topics: 'shape' })).toThrow(/^bridgeEvents\(\) topics must be .*; received "shape"/);
    expect(bad({ topics: ['shape', '*'] })).toThrow(
      /^bridgeEvents\(\) topics\[1\] must be a topic that can be emitted/,
    );
    expect(bad({ topics: ['a b'] })).toThrow(
      /^bridgeEvents\(\) topics\[0\] \(as the subject .*\) must be .*"keel\.events\.a b"/,
    );
    expect(bad({ serializer: { name: 'x', encode: 1 } })).toThrow(
      /^bridgeEvents\(\) serializer must be an object with a non-empty name, encode\(value\) and decode\(bytes\); received an object/,
    );
    expect(bad({ onError: 'log' })).toThrow('bridgeEvents() onError must be a function; received "log"');
    expect(bad({ signal: true })).toThrow('bridgeEvents() signal must be an AbortSignal; received true');
    expect(bad({ prefx: 'x' })).toThrow(
      'bridgeEvents() options: unknown option "prefx"; known options: prefix, topics, serializer, onError, signal',
    );
    expect(bus.listenerCount()).toBe(0);
  });

  it('refuses a prefix under the reply inboxes or the NATS system subjects, naming it', async () => {
    const transport = await open();
    const bus = new EventBus();
    for (const prefix of [
      '_INBOX',
      '_INBOX.events',
      '_INBOX_app.events',
      '_KEEL_INBOX.events',
      '$SYS',
      '$SYS.ACCOUNT',
      '$JS.API',
      '$SRV.PING',
      '$KV.events',
    ]) {
      const call = () => bridgeEvents(bus, transport, { prefix });
      expect(call, prefix).toThrow(InvalidArgumentError);
      expect(call, prefix).toThrow(`received ${JSON.stringify(prefix)}`);
      expect(call, prefix).toThrow(/^bridgeEvents\(\) prefix must not /);
    }
    // Only the first token counts: a dollar or an inbox name further down is an ordinary token.
    await bridgeEvents(bus, transport, { prefix: 'app.$SYS._INBOX' }).close();
    expect(bus.listenerCount()).toBe(0);
  });

  it('throws TransportClosedError on a closed transport, leaving nothing behind', async () => {
    const transport = await open();
    await transport.close();
    const bus = new EventBus();
    expect(() => bridgeEvents(bus, transport)).toThrow(TransportClosedError);
    expect(bus.listenerCount()).toBe(0);
  });

  it('closes when its signal aborts, and subscribes nothing with an aborted one', async () => {
    const [ta, tb] = [await open(), await open()];
    const p = prefix();
    const [a, b] = [new EventBus(), new EventBus()];
    const got: string[] = [];
    b.on('*', (_, topic) => got.push(topic));
    const control = new AbortController();
    const bridgeA = bridgeEvents(a, ta, { prefix: p });
    const bridgeB = bridgeEvents(b, tb, { prefix: p, signal: control.signal });
    await Promise.all([bridgeA.ready, bridgeB.ready]);
    control.abort();
    expect(bridgeB.closed).toBe(true);
    expect(getEventListeners(control.signal, 'abort')).toHaveLength(0);
    expect(b.listenerCount('*')).toBe(1);
    // A third bus hears the next event: by then `b` would have too.
    const c = new EventBus();
    const heard: string[] = [];
    c.on('*', (_, topic) => heard.push(topic));
    await bridgeEvents(c, await open(), { prefix: p }).ready;
    a.emit('x.y', 1);
    await until(
      () => heard.length === 1,
      () => `c to hear 1 event, got ${heard.length}`,
    );
    expect(got).toEqual([]);

    const early = bridgeEvents(b, tb, { prefix: p, signal: AbortSignal.abort() });
    expect(early.closed).toBe(true);
    expect(b.listenerCount('*')).toBe(1);
    await bridgeA.close();
  });

  it('stops watching its signal once closed', async () => {
    const transport = await open();
    const { signal } = new AbortController();
    const bridge = bridgeEvents(new EventBus(), transport, { signal });
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    await bridge.close();
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('is Disposable and AsyncDisposable', async () => {
    const transport = await open();
    const bus = new EventBus();
    {
      using _ = bridgeEvents(bus, transport);
      expect(bus.listenerCount('*')).toBe(1);
    }
    expect(bus.listenerCount('*')).toBe(0);
    {
      await using _ = bridgeEvents(bus, transport);
      expect(bus.listenerCount('*')).toBe(1);
    }
    expect(bus.listenerCount('*')).toBe(0);
  });

  it('keeps the bus listener until the last bridge of the bus closes; both share one origin', async () => {
    const [t1, t2] = [await open(), await open()];
    const bus = new EventBus();
    const one = bridgeEvents(bus, t1, { prefix: prefix() });
    const two = bridgeEvents(bus, t2, { prefix: prefix() });
    expect(one.origin).toBe(two.origin);
    expect(one.origin).not.toBe(bridgeEvents(new EventBus(), t1).origin);
    expect(bus.listenerCount('*')).toBe(1);
    await one.close();
    expect(bus.listenerCount('*')).toBe(1);
    await two.close();
    expect(bus.listenerCount('*')).toBe(0);
  });

  it('does not relay between two engines: an event from one is not sent on to the other', async () => {
    const xUrl = `memory://x-${randomUUID()}`;
    const [x, xOther] = [await openTransport(xUrl), await openTransport(xUrl)];
    const y = await openTransport(`memory://y-${randomUUID()}`);
    opened.push(x, xOther, y);
    const seenOnY: string[] = [];
    await y.subscribe('keel.events.>', (_, { subject }) => {
      seenOnY.push(subject);
    }).ready;
    const bus = new EventBus();
    const got: string[] = [];
    bus.on('*', (_, topic) => got.push(topic));
    await bridgeEvents(bus, x).ready;
    await bridgeEvents(bus, y).ready;
    const sender = new EventBus();
    bridgeEvents(sender, xOther);
    sender.emit('shape.created', { id: 1 });
    await until(
      () => got.length === 1,
      () => `1 event, got ${got.length}`,
    );
    // A local event goes out on both; it arrives on y after anything sent before it.
    bus.emit('shape.deleted', { id: 1 });
    await until(
      () => seenOnY.length === 1,
      () => `1 message on y, got ${seenOnY.length}`,
    );
    expect(got).toEqual(['shape.created', 'shape.deleted']);
    expect(seenOnY).toEqual(['keel.events.shape.deleted']);
  });

  it('reports an event it cannot send and keeps sending the others', async () => {
    const [ta, tb] = [await open(), await open()];
    const p = prefix();
    const errors: { error: unknown; context: EventBridgeErrorContext }[] = [];
    const a = new EventBus();
    const b = new EventBus();
    const got: unknown[] = [];
    b.on('*', (payload) => got.push(payload));
    const onError = (error: unknown, context: EventBridgeErrorContext) => errors.push({ error, context });
    bridgeEvents(a, ta, { prefix: p, onError });
    await bridgeEvents(b, tb, { prefix: p }).ready;
    a.emit('shape.created', { id: 1n });
    a.emit('shape with space', 1);
    a.emit('shape.created', { id: 2 });
    await until(
      () => got.length === 1 && errors.length === 2,
      () => `1 event and 2 errors, got ${got.length} and ${errors.length}`,
    );
    expect(got).toEqual([{ id: 2 }]);
    expect(errors[0]?.error).toBeInstanceOf(TransportEncodeError);
    expect(errors[0]?.context).toEqual({
      direction: 'outgoing',
      subject: `${p}.shape.created`,
      topic: 'shape.created',
      origin: undefined,
    });
    expect(errors[1]?.error).toBeInstanceOf(InvalidArgumentError);
    expect(errors[1]?.context.topic).toBe('shape with space');
  });

  it('subscribes once to topics given twice or under an ancestor in the list', async () => {
    const transport = await open();
    const subscribe = vi.spyOn(transport, 'subscribe');
    bridgeEvents(new EventBus(), transport, {
      prefix: 'p',
      topics: ['shape.created', 'shape', 'user', 'user'],
    });
    expect(subscribe.mock.calls.map(([subject]) => subject)).toEqual([
      'p.shape',
      'p.shape.>',
      'p.user',
      'p.user.>',
    ]);
  });

  it('reports once and closes when its transport was closed under it', async () => {
    const transport = await open();
    const bus = new EventBus();
    const errors: unknown[] = [];
    const bridge = bridgeEvents(bus, transport, { onError: (error) => errors.push(error) });
    await transport.close();
    bus.emit('shape.created', 1);
    bus.emit('shape.created', 2);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TransportClosedError);
    expect(bridge.closed).toBe(true);
    expect(bus.listenerCount()).toBe(0);
  });

  it('reports what the bus throws while delivering under fail-fast, and delivers the next event', async () => {
    const [ta, tb] = [await open(), await open()];
    const p = prefix();
    const a = new EventBus();
    const b = new EventBus<{ 'shape.created': { id: number } }>({ errors: 'fail-fast' });
    const boom = new Error('boom');
    const got: unknown[] = [];
    b.on('shape', (payload) => {
      if (payload.id === 1) throw boom;
      got.push(payload);
    });
    const errors: unknown[] = [];
    bridgeEvents(a, ta, { prefix: p });
    await bridgeEvents(b, tb, { prefix: p, onError: (error) => errors.push(error) }).ready;
    a.emit('shape.created', { id: 1 });
    a.emit('shape.created', { id: 2 });
    await until(
      () => got.length === 1,
      () => `1 event, got ${got.length}`,
    );
    expect(errors).toEqual([boom]);
  });

  it('reports failures through the last-resort sink by default, and when onError throws', async () => {
    const [ta, tb] = [await open(), await open()];
    const p = prefix();
    const reports: UnhandledReport[] = [];
    const record = (report: unknown) => reports.push(report as UnhandledReport);
    const channel = diagnostics.channel('keel:transport.unhandled');
    channel.subscribe(record);
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await bridgeEvents(new EventBus(), tb, { prefix: p }).ready;
      const thrown = new Error('handler broke');
      await bridgeEvents(new EventBus(), tb, {
        prefix: p,
        onError: () => {
          throw thrown;
        },
      }).ready;
      await ta.publish(`${p}.shape.created`, 42);
      await until(
        () => write.mock.calls.length === 2,
        () => `2 writes, got ${write.mock.calls.length}`,
      );
      const written = write.mock.calls.map(([text]) => String(text));
      expect(written[0]).toMatch(
        /^\[keel transport\] Event bridge could not deliver a message on "keel\.unit\.\w+\.shape\.created": EventBridgeMessageError: .*not an event envelope/,
      );
      expect(written[0]).toContain("code: 'KEEL_EVENT_BRIDGE_MESSAGE'");
      expect(written[1]).toMatch(/^\[keel transport\] Event bridge onError threw/);
      expect(written[1]).toContain('handler broke');
      expect(reports.map((r) => r.module)).toEqual(['transport', 'transport']);
      expect(reports[0]?.error).toBeInstanceOf(EventBridgeMessageError);
      expect(reports[1]?.error).toBeInstanceOf(AggregateError);
      const [first, second] = (reports[1]?.error as AggregateError | undefined)?.errors ?? [];
      expect(first).toBe(thrown);
      expect(second).toBeInstanceOf(EventBridgeMessageError);
    } finally {
      write.mockRestore();
      channel.unsubscribe(record);
    }
  });

  it('keeps nothing of a message whose origin is too long', async () => {
    const [ta, tb] = [await open(), await open()];
    const p = prefix();
    const bus = new EventBus();
    const got: unknown[] = [];
    bus.on('*', (payload) => got.push(payload));
    const errors: unknown[] = [];
    await bridgeEvents(bus, tb, { prefix: p, onError: (error) => errors.push(error) }).ready;
    const origin = 'o'.repeat(512 * 1024);
    const common = { origin, topic: 'shape.created', payload: 1 };
    await ta.publish(`${p}.shape.created`, { v: 1, seq: 1, ...common });
    await ta.publish(`${p}.shape.created`, { v: 2, id: randomUUID(), ...common });
    await until(
      () => errors.length + got.length === 2,
      () => `2 errors, got ${errors.length} and ${got.length} events`,
    );
    expect(got).toEqual([]);
    for (const error of errors) expect(error).toBeInstanceOf(EventBridgeMessageError);
    expect(linkOf(bus).trackedOrigins).toBe(0);
  });

  it('tracks at most 1024 origins for de-duplication, forgetting the least recently seen first', () => {
    const link = linkOf(new EventBus());
    for (let i = 0; i < 1024; i++) expect(link.firstSight(`o${i}`, 'e1')).toBe(true);
    // `o0` is seen again, so `o1` is now the least recently seen and goes first.
    expect(link.firstSight('o0', 'e2')).toBe(true);
    expect(link.firstSight('o1024', 'e1')).toBe(true);
    expect(link.trackedOrigins).toBe(1024);
    expect(link.firstSight('o0', 'e1')).toBe(false);
    expect(link.firstSight('o1', 'e1')).toBe(true);
  });

  it('does not send back a remote event that a listener re-emits on the same topic', async () => {
    const [ta, tb] = [await open(), await open()];
    const p = prefix();
    const a = new EventBus();
    const b = new EventBus<{ count: number; done: undefined }>();
    const subjects: string[] = [];
    await ta.subscribe(`${p}.>`, (_, { subject }) => {
      subjects.push(subject);
    }).ready;
    let nested = 0;
    b.on('count', (n) => {
      if (n < 3) {
        nested++;
        b.emit('count', n + 1);
      }
    });
    bridgeEvents(a, ta, { prefix: p });
    await bridgeEvents(b, tb, { prefix: p }).ready;
    a.emit('count', 1);
    await until(
      () => nested === 2,
      () => `2 nested emits, got ${nested}`,
    );
    b.emit('done');
    await until(
      () => subjects.length === 2,
      () => `2 messages, got ${subjects.length}`,
    );
    expect(subjects).toEqual([`${p}.count`, `${p}.done`]);
  });
});
