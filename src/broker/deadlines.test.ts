import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DeadlineEntry, Deadlines } from './deadlines.ts';

class Entry implements DeadlineEntry {
  readonly expires: number;
  expiredAt: number | undefined;
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
  constructor(ms: number) {
    this.expires = performance.now() + ms;
  }
  expire(now: number): void {
    this.expiredAt = now;
  }
}

const waitFor = async (check: () => boolean, ms = 2000) => {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 2));
  }
};

describe('Deadlines', () => {
  it('ends each entry at its own deadline, never before it, whatever order they came in', async () => {
    const list = new Deadlines();
    const late = new Entry(60);
    const soon = new Entry(15);
    const middle = new Entry(35);
    list.add(late);
    list.add(soon);
    list.add(middle);
    expect(list.size).toBe(3);
    await waitFor(() => late.expiredAt !== undefined);
    for (const e of [soon, middle, late]) expect(e.expiredAt).toBeGreaterThanOrEqual(e.expires);
    expect((soon.expiredAt as number) < (middle.expiredAt as number)).toBe(true);
    expect((middle.expiredAt as number) < (late.expiredAt as number)).toBe(true);
    expect(list.size).toBe(0);
    list.close();
  });

  it('a removed entry never expires, and the rest keep their order', async () => {
    const list = new Deadlines();
    const a = new Entry(10);
    const b = new Entry(10);
    const c = new Entry(10);
    list.add(a);
    list.add(b);
    list.add(c);
    list.remove(b);
    list.remove(b); // twice is a no-op
    expect(list.entries()).toEqual([a, c]);
    list.remove(a);
    expect(list.entries()).toEqual([c]);
    await waitFor(() => c.expiredAt !== undefined);
    expect(b.expiredAt).toBeUndefined();
    expect(a.expiredAt).toBeUndefined();
    list.close();
  });

  it('an entry expiring while others are pending leaves the timer armed for the next one', async () => {
    const list = new Deadlines();
    const first = new Entry(5);
    const second = new Entry(40);
    list.add(first);
    list.add(second);
    await waitFor(() => first.expiredAt !== undefined);
    expect(second.expiredAt).toBeUndefined();
    await waitFor(() => second.expiredAt !== undefined);
    expect(second.expiredAt).toBeGreaterThanOrEqual(second.expires);
    list.close();
  });

  it('an entry added from inside expire() still gets its turn', async () => {
    const list = new Deadlines();
    const later = new Entry(30);
    const first: DeadlineEntry = {
      expires: performance.now() + 5,
      prevDeadline: undefined,
      nextDeadline: undefined,
      expire: () => list.add(later),
    };
    const pending = new Entry(60);
    list.add(first);
    list.add(pending);
    await waitFor(() => later.expiredAt !== undefined && pending.expiredAt !== undefined);
    expect(later.expiredAt).toBeGreaterThanOrEqual(later.expires);
    list.close();
  });

  it('entries that fell due together while the event loop was busy end in the order of their deadlines', async () => {
    const list = new Deadlines();
    const order: number[] = [];
    for (const ms of [40, 10, 30, 20]) {
      const entry = new Entry(ms);
      entry.expire = () => order.push(ms);
      list.add(entry);
    }
    const busyUntil = Date.now() + 80;
    while (Date.now() < busyUntil) {}
    await waitFor(() => order.length === 4);
    expect(order).toEqual([10, 20, 30, 40]);
  });

  it('close() clears the timer: nothing expires after it', async () => {
    const list = new Deadlines();
    const e = new Entry(10);
    list.add(e);
    list.close();
    await new Promise((r) => setTimeout(r, 40));
    expect(e.expiredAt).toBeUndefined();
  });

  it('an idle list does not hold the process open, a pending entry does', () => {
    const script = join(import.meta.dirname, '../../test/fixtures/deadlines-process.ts');
    const idle = spawnSync(process.execPath, [script, 'idle'], { encoding: 'utf8', timeout: 20_000 });
    expect(idle.status).toBe(0);
    // The entry's deadline (3 s) passed before the process could exit: its timer held it open.
    expect(idle.stdout.trim()).toBe('exited early');
    const held = spawnSync(process.execPath, [script, 'pending'], { encoding: 'utf8', timeout: 20_000 });
    expect(held.status).toBe(0);
    expect(held.stdout.trim()).toBe('expired');
    // Two processes, one of them waiting 3 s: more than the default test timeout on a busy machine.
  }, 20_000);
});
