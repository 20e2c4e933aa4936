/** The memory transport passes the shared contract, and its URL rules hold. */
import { unsubscribe as unwatchChannel, subscribe as watchChannel } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../errors.ts';
import { UnknownKindError } from '../../registry/index.ts';
import { openTransport } from '../open-transport.ts';
import { runTransportContract } from '../transport.contract.ts';
import { SubscriptionOverflowError, TransportHandlerError } from '../transport-errors.ts';

runTransportContract('memory', { open: (options) => openTransport('memory://contract', options) });

describe('memory transport', () => {
  it('runs the example of docs/transport.md', async () => {
    await using transport = await openTransport('memory://');
    using sub = transport.subscribe<{ radius: number }>(
      'shapes.area',
      ({ radius }) => Math.PI * radius ** 2,
      { queue: 'shapes' },
    );
    await sub.ready;
    const area = await transport.request<number>('shapes.area', { radius: 2 }, { timeoutMs: 1000 });
    expect(area).toBeCloseTo(4 * Math.PI);
    const created: unknown[] = [];
    using events = transport.subscribe('shapes.created', (event) => {
      created.push(event);
    });
    await transport.publish('shapes.created', { id: 7, kind: 'circle' });
    await expect.poll(() => created).toEqual([{ id: 7, kind: 'circle' }]);
    expect(events.subject).toBe('shapes.created');
  });

  it('connects transports of the same name and isolates different names', async () => {
    await using a = await openTransport('memory://one');
    await using b = await openTransport('memory://one');
    await using c = await openTransport('memory://two');
    const got: unknown[] = [];
    const other: unknown[] = [];
    b.subscribe('greeting', (p) => {
      got.push(p);
    });
    c.subscribe('greeting', (p) => {
      other.push(p);
    });
    await a.publish('greeting', 'hi');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(got).toEqual(['hi']);
    expect(other).toEqual([]);
  });

  it('does not call a handler inside the publisher call', async () => {
    await using t = await openTransport('memory://');
    let called = false;
    t.subscribe('s', () => {
      called = true;
    });
    const publishing = t.publish('s', 1);
    expect(called).toBe(false);
    await publishing;
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(called).toBe(true);
  });

  it('round-robins a queue group evenly', async () => {
    await using t = await openTransport('memory://');
    const counts = [0, 0, 0];
    for (let i = 0; i < 3; i++) {
      t.subscribe(
        'jobs',
        () => {
          counts[i]!++;
        },
        { queue: 'q' },
      );
    }
    for (let i = 0; i < 30; i++) await t.publish('jobs', i);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(counts).toEqual([10, 10, 10]);
  });

  it('rejects memory URLs with a port, a path or credentials, and unknown schemes', async () => {
    await expect(openTransport('memory://x:1234')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(openTransport('memory://x/path')).rejects.toThrow(/memory:\/\/ or memory:\/\/name/);
    await expect(openTransport('amqp://localhost')).rejects.toBeInstanceOf(UnknownKindError);
    await expect(openTransport('not a url')).rejects.toThrow(/transport URL must be a valid URL string/);
  });

  it('rejects bad options, naming them', async () => {
    await expect(openTransport('memory://', { serializer: {} as never })).rejects.toThrow(
      /serializer must be an object with name, encode\(value\) and decode\(bytes\)/,
    );
    await expect(openTransport('memory://', { onError: 1 as never })).rejects.toThrow(
      /onError must be a function; received 1/,
    );
    await expect(openTransport('memory://', { name: 'my service' })).rejects.toThrow(
      /name must be a non-empty string without spaces; received "my service"/,
    );
    await expect(openTransport('memory://', { connectTimeoutMs: 0 })).rejects.toThrow(
      /connectTimeoutMs must be an integer ≥ 1; received 0/,
    );
  });

  it('refuses an unknown openTransport() option, naming the call and the known options', async () => {
    await expect(openTransport('memory://', { conectTimeoutMs: 10 } as never)).rejects.toThrow(
      'openTransport() options: unknown option "conectTimeoutMs"; known options: serializer, onError, name, signal, connectTimeoutMs',
    );
    await expect(openTransport('memory://', { connectTimeoutMs: 0 })).rejects.toThrow(
      'openTransport() connectTimeoutMs must be an integer ≥ 1; received 0',
    );
  });

  it('with reply: false, hands a request to the handler as a message and sends nothing back', async () => {
    await using t = await openTransport('memory://');
    const seen: boolean[] = [];
    using sub = t.subscribe(
      'quiet',
      (_payload, meta) => {
        seen.push(meta.isRequest);
        return 'an answer nobody gets';
      },
      { reply: false },
    );
    await sub.ready;
    await expect(t.request('quiet', 1, { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'KEEL_TRANSPORT_TIMEOUT',
    });
    expect(seen).toEqual([true]);
    expect(() => t.subscribe('quiet', () => {}, { reply: 'no' as never })).toThrow(
      'Transport.subscribe() reply must be a boolean; received "no"',
    );
  });

  it('holds at most 10,000 waiting messages by default, dropping the rest', async () => {
    const reported: unknown[] = [];
    await using t = await openTransport('memory://', { onError: (error) => reported.push(error) });
    let open = () => {};
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    let handled = 0;
    const sub = t.subscribe('flood', async () => {
      await opened;
      handled++;
    });
    try {
      for (let i = 0; i < 10_100; i++) await t.publish('flood', i);
      await expect.poll(() => sub.dropped).toBe(10_100 - 64 - 10_000);
    } finally {
      open();
    }
    await expect.poll(() => handled).toBe(64 + 10_000);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toBeInstanceOf(SubscriptionOverflowError);
    expect(reported[0]).toMatchObject({ concurrency: 64, maxPending: 10_000 });
  });
});

describe('last-resort reports', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** Captures stderr and the keel:transport.unhandled channel while `run` goes on. */
  async function capture(run: (published: readonly unknown[]) => Promise<void>) {
    const writes: string[] = [];
    const published: unknown[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      writes.push(String(chunk));
      return true;
    });
    const listener = (message: unknown) => published.push(message);
    watchChannel('keel:transport.unhandled', listener);
    try {
      await run(published);
    } finally {
      unwatchChannel('keel:transport.unhandled', listener);
      vi.restoreAllMocks();
    }
    return { writes, published };
  }

  it('without onError, a failure goes to reportUnhandled with its code and cause', async () => {
    const { writes, published } = await capture(async (seen) => {
      await using t = await openTransport('memory://');
      t.subscribe('fails', () => {
        throw new Error('boom');
      });
      await t.publish('fails', 1);
      await expect.poll(() => seen.length).toBe(1);
    });
    expect(published[0]).toMatchObject({ module: 'transport', context: 'on "fails"' });
    expect((published[0] as { error: unknown }).error).toBeInstanceOf(TransportHandlerError);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\[keel transport\] on "fails": TransportHandlerError/);
    expect(writes[0]).toContain("code: 'KEEL_TRANSPORT_HANDLER'");
    expect(writes[0]).toContain('[cause]: Error: boom');
  });

  it('an onError that throws is reported once, naming what it was reporting', async () => {
    const { writes, published } = await capture(async (seen) => {
      await using t = await openTransport('memory://', {
        onError: () => {
          throw new Error('onError is broken');
        },
      });
      t.subscribe('fails', () => {
        throw new Error('boom');
      });
      await t.publish('fails', 1);
      await expect.poll(() => seen.length).toBe(1);
    });
    expect(published[0]).toMatchObject({
      module: 'transport',
      context: 'onError threw while reporting KEEL_TRANSPORT_HANDLER on "fails"',
    });
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain('Error: onError is broken');
  });
});
