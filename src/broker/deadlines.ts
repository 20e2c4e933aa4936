/** Deadlines: one platform timer for many pending calls, so a call arms and clears no timer of its own. */
import { MAX_TIMER_MS } from '../abort.ts';
import { reportUnhandled } from '../diagnostics.ts';

/** A pending call the list can end when its time is up. */
export interface DeadlineEntry {
  /** When the call's time is up, on the `performance.now()` clock. */
  readonly expires: number;
  /** Ends the call: its time is up (`now` read by the list). */
  expire(now: number): void;
  /** @internal The list's links; undefined while the entry is not in a list. */
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
}

/**
 * The pending calls of one broker in insertion order, and one timer armed for the earliest deadline
 * among them. Adding and removing are constant time; the timer is re-armed only when an entry expires
 * sooner than the one it waits for, and it is checked against the whole list only when it fires, so a
 * stream of calls with the same budget costs no timer work at all. The timer holds the process open only
 * while an entry is pending, as a timer of each call's own would.
 */
export class Deadlines {
  #head: DeadlineEntry | undefined;
  #tail: DeadlineEntry | undefined;
  #size = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires, on the `performance.now()` clock. */
  #armedFor = Number.POSITIVE_INFINITY;

  /** Entries pending. */
  get size(): number {
    return this.#size;
  }

  add(entry: DeadlineEntry): void {
    const tail = this.#tail;
    entry.prevDeadline = tail;
    entry.nextDeadline = undefined;
    if (tail === undefined) this.#head = entry;
    else tail.nextDeadline = entry;
    this.#tail = entry;
    if (this.#size++ === 0) this.#timer?.ref();
    if (entry.expires < this.#armedFor) this.#arm(entry.expires);
  }

  /** Takes `entry` out (a no-op when it is not in the list). */
  remove(entry: DeadlineEntry): void {
    const { prevDeadline: prev, nextDeadline: next } = entry;
    if (prev === undefined) {
      if (this.#head !== entry) return;
      this.#head = next;
    } else prev.nextDeadline = next;
    if (next === undefined) this.#tail = prev;
    else next.prevDeadline = prev;
    entry.prevDeadline = undefined;
    entry.nextDeadline = undefined;
    // An idle list keeps its timer (re-arming costs more than leaving it) but stops holding the process.
    if (--this.#size === 0) this.#timer?.unref();
  }

  /** Every pending entry, oldest first (a copy: the caller may end them as it goes). */
  entries(): DeadlineEntry[] {
    const all: DeadlineEntry[] = [];
    for (let e = this.#head; e !== undefined; e = e.nextDeadline) all.push(e);
    return all;
  }

  /** Clears the timer; entries still pending stay (a broker ends them before it closes this). */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    // Platform timers end at about 24.8 days; a later deadline is looked at again then.
    const delay = Math.min(Math.max(Math.ceil(at - performance.now()), 1), MAX_TIMER_MS);
    this.#armedFor = at;
    this.#timer = setTimeout(() => this.#fire(), delay);
    if (this.#size === 0) this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    const due: DeadlineEntry[] = [];
    for (let e = this.#head; e !== undefined; e = e.nextDeadline) {
      // A timer may fire a fraction of a millisecond early on this clock; such an entry waits for the next.
      if (e.expires <= now) due.push(e);
      else if (e.expires < next) next = e.expires;
    }
    // Entries that fell due together (the event loop was busy) end in the order of their deadlines, as
    // a timer of each call's own would end them.
    if (due.length > 1) due.sort((a, b) => a.expires - b.expires);
    for (const entry of due) {
      this.remove(entry);
      try {
        entry.expire(now);
      } catch (error) {
        reportUnhandled('broker', 'ending a call at its deadline', error);
      }
    }
    // An entry added while the due ones ended may have armed the timer already, for a later time.
    if (next < this.#armedFor) this.#arm(next);
  }
}
