import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keelChannel, reportUnhandled } from './diagnostics.ts';
import { KeelError } from './errors.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('reportUnhandled', () => {
  it('writes one block to stderr with the module, the context, the code and the cause', () => {
    const writes: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      writes.push(String(chunk));
      return true;
    });
    const cause = new Error('socket closed');
    reportUnhandled('transport', 'subscription orders.*', new KeelError('KEEL_TEST', 'lost it', { cause }));
    expect(writes).toHaveLength(1);
    const text = writes[0] ?? '';
    expect(text.startsWith('[keel transport] subscription orders.*: ')).toBe(true);
    expect(text).toContain('lost it');
    expect(text).toContain("code: 'KEEL_TEST'");
    expect(text).toContain('[cause]: Error: socket closed');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('publishes the report on keel:<module>.unhandled for a subscriber, then still writes it', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const seen: unknown[] = [];
    const listener = (message: unknown) => seen.push(message);
    subscribe('keel:events.unhandled', listener);
    try {
      const error = new Error('listener failed');
      reportUnhandled('events', 'EventBus listener for "a"', error);
      expect(seen).toEqual([{ module: 'events', context: 'EventBus listener for "a"', error }]);
      expect(write).toHaveBeenCalledTimes(1);
    } finally {
      unsubscribe('keel:events.unhandled', listener);
    }
  });

  it('renders values that are not errors without throwing', () => {
    const writes: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      writes.push(String(chunk));
      return true;
    });
    reportUnhandled('jobs', 'worker', { reason: 'odd' });
    reportUnhandled('jobs', 'worker', undefined);
    expect(writes).toEqual(["[keel jobs] worker: { reason: 'odd' }\n", '[keel jobs] worker: undefined\n']);
  });
});

describe('keelChannel', () => {
  it('is the node:diagnostics_channel channel of that name, with no subscribers by default', () => {
    const ch = keelChannel('keel:test.event');
    expect(ch.name).toBe('keel:test.event');
    expect(ch.hasSubscribers).toBe(false);
    expect(keelChannel('keel:test.event')).toBe(ch);
  });
});
