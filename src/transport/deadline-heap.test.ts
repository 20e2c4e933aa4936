/** DeadlineHeap: items handed over at their deadline, earliest first, under one timer that never outlives them. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineHeap, type Timed } from './deadline-heap.ts';

interface Item extends Timed {
  readonly name: string;
}

const item = (name: string, due: number): Item => ({ name, due, slot: -1 });

describe('DeadlineHeap', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands items over at their deadline, earliest first, with one timer and none once empty', () => {
    vi.useFakeTimers({ now: 0 });
    const due: string[] = [];
    const heap = new DeadlineHeap<Item>((i) => due.push(i.name));
    const now = performance.now();
    heap.add(item('c', now + 300));
    heap.add(item('a', now + 100));
    heap.add(item('b', now + 200));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(99);
    expect(due).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(due).toEqual(['a']);
    vi.advanceTimersByTime(200);
    expect(due).toEqual(['a', 'b', 'c']);
    expect(heap.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lets removed items go without handing them over, and clears the timer when the last goes', () => {
    vi.useFakeTimers({ now: 0 });
    const due: string[] = [];
    const heap = new DeadlineHeap<Item>((i) => due.push(i.name));
    const a = item('a', performance.now() + 100);
    const b = item('b', performance.now() + 200);
    heap.add(a);
    heap.add(b);
    heap.remove(a);
    heap.remove(a);
    expect(a.slot).toBe(-1);
    vi.advanceTimersByTime(150);
    expect(due).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);
    heap.remove(b);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(due).toEqual([]);
  });

  it('accepts an item added from onDue', () => {
    vi.useFakeTimers({ now: 0 });
    const due: string[] = [];
    const heap: DeadlineHeap<Item> = new DeadlineHeap<Item>((i) => {
      due.push(i.name);
      if (i.name === 'first') heap.add(item('again', performance.now() + 50));
    });
    heap.add(item('first', performance.now() + 10));
    vi.advanceTimersByTime(10);
    vi.advanceTimersByTime(50);
    expect(due).toEqual(['first', 'again']);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("DeadlineHeap with idle: 'unref'", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps its timer while empty, unref()ed, and takes it up again for the next item', () => {
    vi.useFakeTimers({ now: 0 });
    const due: string[] = [];
    const heap = new DeadlineHeap<Item>((i) => due.push(i.name), { idle: 'unref' });
    const a = item('a', performance.now() + 100);
    heap.add(a);
    heap.remove(a);
    // Still armed, but holding nothing: re-arming per item would cost a timer set and cleared each.
    expect(vi.getTimerCount()).toBe(1);
    heap.add(item('b', performance.now() + 150));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(150);
    expect(due).toEqual(['b']);
    heap.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() clears the timer: nothing falls due after it', () => {
    vi.useFakeTimers({ now: 0 });
    const due: string[] = [];
    const heap = new DeadlineHeap<Item>((i) => due.push(i.name), { idle: 'unref' });
    heap.add(item('a', performance.now() + 10));
    heap.close();
    vi.advanceTimersByTime(100);
    expect(due).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an onDue that throws is reported, and the other items still fall due', () => {
    vi.useFakeTimers({ now: 0 });
    const due: string[] = [];
    const heap = new DeadlineHeap<Item>(
      (i) => {
        if (i.name === 'bad') throw new Error('owner broke');
        due.push(i.name);
      },
      { idle: 'unref' },
    );
    const now = performance.now();
    heap.add(item('bad', now + 10));
    heap.add(item('a', now + 10));
    heap.add(item('b', now + 20));
    vi.advanceTimersByTime(20);
    expect(due).toEqual(['a', 'b']);
    expect(heap.size).toBe(0);
  });

  it('an empty heap does not hold the process open, an item does', () => {
    const script = join(import.meta.dirname, '../../test/fixtures/deadlines-process.ts');
    const idle = spawnSync(process.execPath, [script, 'idle'], { encoding: 'utf8', timeout: 20_000 });
    expect(idle.status).toBe(0);
    // The item's deadline (3 s) passed before the process could exit: its timer held it open.
    expect(idle.stdout.trim()).toBe('exited early');
    const held = spawnSync(process.execPath, [script, 'pending'], { encoding: 'utf8', timeout: 20_000 });
    expect(held.status).toBe(0);
    expect(held.stdout.trim()).toBe('expired');
  }, 20_000);
});
