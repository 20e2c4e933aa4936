import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Deadlines, type Timed } from './deadlines.ts';

const timers = (): number => process.getActiveResourcesInfo().filter((k) => k === 'Timeout').length;

/** Waits until `done()` holds, polling; fails after `ms`. */
async function until(done: () => boolean, ms = 2000): Promise<void> {
  const by = Date.now() + ms;
  while (!done()) {
    if (Date.now() > by) throw new Error(`not reached within ${ms} ms`);
    await sleep(5);
  }
}

function entry(name: string, inMs: number, expired: string[]): Timed & { name: string } {
  return { name, deadline: Date.now() + inMs, expire: () => expired.push(name) };
}

describe('Deadlines', () => {
  const watches: Deadlines[] = [];
  afterEach(() => {
    for (const w of watches.splice(0)) w.clear();
  });
  const watch = () => {
    const w = new Deadlines();
    watches.push(w);
    return w;
  };

  it('expires each entry once its deadline passes, in deadline order, on one platform timer', async () => {
    const w = watch();
    const expired: string[] = [];
    const before = timers();
    w.add(entry('c', 60, expired));
    w.add(entry('a', 20, expired));
    w.add(entry('b', 40, expired));
    expect(timers()).toBe(before + 1);
    await until(() => expired.length === 3);
    expect(expired).toEqual(['a', 'b', 'c']);
    expect(w.size).toBe(0);
    await sleep(30);
    expect(expired).toHaveLength(3);
    expect(timers()).toBe(before);
  });

  it('never expires an entry deleted in time, and holds no timer while nothing is pending', async () => {
    const w = watch();
    const expired: string[] = [];
    const before = timers();
    const e = entry('gone', 20, expired);
    w.add(e);
    expect(timers()).toBe(before + 1);
    w.delete(e);
    // The timer may stay armed, but it no longer keeps the process alive.
    expect(timers()).toBe(before);
    await sleep(50);
    expect(expired).toEqual([]);
  });

  it('a deadline past the longest platform timer holds no timer once its entry is deleted', () => {
    const w = watch();
    const before = timers();
    const far = entry('far', 40 * 24 * 60 * 60 * 1000, []);
    w.add(far);
    expect(timers()).toBe(before + 1);
    w.delete(far);
    expect(timers()).toBe(before);
  });

  it('holds the process again when an entry comes back after an idle spell', async () => {
    const w = watch();
    const expired: string[] = [];
    const before = timers();
    const first = entry('first', 1000, expired);
    w.add(first);
    w.delete(first);
    expect(timers()).toBe(before);
    w.add(entry('second', 2000, expired));
    expect(timers()).toBe(before + 1);
  });

  it('arms earlier for an entry due before the rest, and keeps the later ones', async () => {
    const w = watch();
    const expired: string[] = [];
    w.add(entry('late', 10_000, expired));
    w.add(entry('soon', 20, expired));
    await until(() => expired.length === 1);
    expect(expired).toEqual(['soon']);
    expect(w.size).toBe(1);
  });

  it('clear() forgets every entry and leaves no timer', async () => {
    const w = watch();
    const expired: string[] = [];
    const before = timers();
    w.add(entry('a', 20, expired));
    w.add(entry('b', 30, expired));
    w.clear();
    expect(w.size).toBe(0);
    expect(timers()).toBe(before);
    await sleep(50);
    expect(expired).toEqual([]);
  });

  it('an entry added while others expire is timed too', async () => {
    const w = watch();
    const expired: string[] = [];
    w.add({
      deadline: Date.now() + 10,
      expire: () => {
        expired.push('first');
        w.add(entry('added', 20, expired));
      },
    });
    await until(() => expired.length === 2);
    expect(expired).toEqual(['first', 'added']);
  });

  it('times a deadline beyond what one platform timer holds, and lets go of it once deleted', () => {
    vi.useFakeTimers();
    try {
      const w = watch();
      const expired: string[] = [];
      const day = 24 * 60 * 60 * 1000;
      w.add(entry('far', 40 * day, expired));
      vi.advanceTimersByTime(30 * day);
      expect(expired).toEqual([]);
      vi.advanceTimersByTime(10 * day);
      expect(expired).toEqual(['far']);
      const gone = entry('gone', 40 * day, expired);
      w.add(gone);
      w.delete(gone);
      vi.advanceTimersByTime(50 * day);
      expect(expired).toEqual(['far']);
    } finally {
      vi.useRealTimers();
    }
  });
});
