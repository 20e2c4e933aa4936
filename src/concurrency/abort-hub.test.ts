import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { onAbort } from '../abort.ts';

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

describe('onAbort (internal)', () => {
  it('puts one listener on the signal however many watch it, and removes it with the last watcher', () => {
    const { signal } = new AbortController();
    const stops = Array.from({ length: 100 }, () => onAbort(signal, () => {}));
    expect(listeners(signal)).toBe(1);
    for (const stop of stops.slice(1)) stop();
    expect(listeners(signal)).toBe(1);
    stops[0]?.();
    expect(listeners(signal)).toBe(0);
    stops[0]?.();
    expect(listeners(signal)).toBe(0);
  });

  it('calls every watcher once on abort, in order, and leaves no listener', () => {
    const controller = new AbortController();
    const calls: number[] = [];
    const stopped = vi.fn();
    for (let i = 0; i < 3; i++) onAbort(controller.signal, () => calls.push(i));
    onAbort(controller.signal, stopped)();
    controller.abort();
    expect(calls).toEqual([0, 1, 2]);
    expect(stopped).not.toHaveBeenCalled();
    expect(listeners(controller.signal)).toBe(0);
  });

  it('adds the listener again for watchers that come after the last one left', () => {
    const controller = new AbortController();
    onAbort(controller.signal, () => {})();
    const later = vi.fn();
    onAbort(controller.signal, later);
    expect(listeners(controller.signal)).toBe(1);
    controller.abort();
    expect(later).toHaveBeenCalledOnce();
  });

  it('keeps separate signals apart', () => {
    const a = new AbortController();
    const b = new AbortController();
    const onA = vi.fn();
    const onB = vi.fn();
    onAbort(a.signal, onA);
    onAbort(b.signal, onB);
    a.abort();
    expect(onA).toHaveBeenCalledOnce();
    expect(onB).not.toHaveBeenCalled();
    expect(listeners(b.signal)).toBe(1);
  });
});
