/** The memory transport passes the shared contract, and its URL rules hold. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.ts';
import { UnknownKindError } from '../../registry/index.ts';
import { openTransport } from '../open-transport.ts';
import { runTransportContract } from '../transport.contract.ts';

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
});
