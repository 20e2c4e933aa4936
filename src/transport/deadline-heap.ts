/** DeadlineHeap: many deadlines under one platform timer, in a binary heap by due time. */
import { MAX_TIMER_MS } from '../abort.ts';
import { reportUnhandled } from '../diagnostics.ts';

/** Something with a deadline: `due` on the `performance.now()` clock, and its place in a heap (-1: none). */
export interface Timed {
  due: number;
  slot: number;
}

export interface DeadlineHeapOptions {
  /**
   * What the timer does while the heap is empty. `clear`: it is cleared, so nothing is left running.
   * `unref`: it stays armed but stops holding the process open (`close()` clears it), so items that come
   * and go one at a time (a caller awaiting each call in turn) cost no timer work at all.
   * @default 'clear'
   */
  readonly idle?: 'clear' | 'unref' | undefined;
}

/**
 * Holds items until they are removed or their deadline passes, when it hands them to `onDue` (out of the
 * heap already), earliest first and never before `due`. One platform timer is armed for the earliest; an
 * item removed first leaves the heap without touching the timer (the timer, finding nothing due, re-arms
 * for the new earliest), and the timer is cleared once the heap is empty, so nothing is left running
 * (or, with `idle: 'unref'`, kept without holding the process).
 * Per item: a heap insert and removal, O(log n) and usually O(1) at the insert (items with one budget
 * arrive in deadline order), instead of a platform timer set and cleared.
 */
export class DeadlineHeap<T extends Timed> {
  readonly #heap: T[] = [];
  readonly #onDue: (item: T) => void;
  readonly #keepIdle: boolean;
  // Waits are capped at MAX_TIMER_MS (see #arm), so a platform timer always holds them.
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The time the timer is armed for (Infinity when none is). */
  #armedFor = Number.POSITIVE_INFINITY;
  readonly #fire = (): void => this.#expire();

  constructor(onDue: (item: T) => void, options: DeadlineHeapOptions = {}) {
    this.#onDue = onDue;
    this.#keepIdle = options.idle === 'unref';
  }

  get size(): number {
    return this.#heap.length;
  }

  /** The items held, in no particular order. */
  items(): T[] {
    return [...this.#heap];
  }

  /** Holds `item` until its `due` (which it must have been given) or until it is removed. */
  add(item: T): void {
    item.slot = this.#heap.length;
    this.#heap.push(item);
    this.#up(item.slot);
    if (item.due < this.#armedFor) this.#arm(item.due);
    else if (item.slot === 0 && this.#heap.length === 1) this.#timer?.ref();
  }

  /** Clears the timer; items still held stay (their owner ends them). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  /** Lets go of `item` (nothing happens if it is not held). */
  remove(item: T): void {
    const at = item.slot;
    if (at < 0) return;
    item.slot = -1;
    const heap = this.#heap;
    const last = heap.pop() as T;
    if (at < heap.length) {
      heap[at] = last;
      last.slot = at;
      this.#down(at);
      this.#up(last.slot);
    }
    if (heap.length === 0 && this.#timer !== undefined) {
      if (this.#keepIdle) this.#timer.unref();
      else this.close();
    }
  }

  #arm(due: number): void {
    clearTimeout(this.#timer);
    // Never early: a timer may fire a fraction of a millisecond before `due` by this clock, and then it
    // re-arms for what is left. Past the longest platform timer, it wakes up on the way.
    const wait = Math.min(Math.max(Math.ceil(due - performance.now()), 1), MAX_TIMER_MS);
    this.#armedFor = wait === MAX_TIMER_MS ? performance.now() + wait : due;
    this.#timer = setTimeout(this.#fire, wait);
  }

  #expire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    const heap = this.#heap;
    while (heap.length > 0 && (heap[0] as T).due <= now) {
      const item = heap[0] as T;
      this.remove(item);
      try {
        this.#onDue(item);
      } catch (error) {
        // One item's failure must not leave the others waiting past their deadlines.
        reportUnhandled('transport', 'ending an item at its deadline', error);
      }
    }
    const next = heap[0];
    // onDue may have added an item, and armed the timer for it.
    if (next !== undefined && this.#timer === undefined) this.#arm(next.due);
  }

  #up(at: number): void {
    const heap = this.#heap;
    const item = heap[at] as T;
    while (at > 0) {
      const parentAt = (at - 1) >> 1;
      const parent = heap[parentAt] as T;
      if (parent.due <= item.due) break;
      heap[at] = parent;
      parent.slot = at;
      at = parentAt;
    }
    heap[at] = item;
    item.slot = at;
  }

  #down(at: number): void {
    const heap = this.#heap;
    const item = heap[at] as T;
    const half = heap.length >> 1;
    while (at < half) {
      let childAt = 2 * at + 1;
      let child = heap[childAt] as T;
      const rightAt = childAt + 1;
      if (rightAt < heap.length && (heap[rightAt] as T).due < child.due) {
        childAt = rightAt;
        child = heap[rightAt] as T;
      }
      if (item.due <= child.due) break;
      heap[at] = child;
      child.slot = at;
      at = childAt;
    }
    heap[at] = item;
    item.slot = at;
  }
}
