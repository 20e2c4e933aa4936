/** PendingRequests: one timer for every deadline, each request settled once, nothing left behind. */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS } from '../abort.ts';
import type { CancelReason } from './cancel-message.ts';
import { PendingRequests } from './pending-requests.ts';

class Expired extends Error {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`expired after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

function table() {
  const cancels: { subject: string; key: string; reason: CancelReason }[] = [];
  const pending = new PendingRequests({
    read: (_subject, frame) => {
      if (!frame.ok) throw new Error(frame.error.message);
      return new TextDecoder().decode(frame.data);
    },
    cancel: (subject, key, reason) => cancels.push({ subject, key, reason }),
    timedOut: (_subject, timeoutMs) => new Expired(timeoutMs),
  });
  return { pending, cancels };
}

/** How a promise settled so far (fake timers: settled promises are seen after a flush of microtasks). */
function outcome(promise: Promise<unknown>): () => unknown {
  let seen: unknown = 'pending';
  promise.then(
    (value) => {
      seen = { value };
    },
    (error: unknown) => {
      seen = { error };
    },
  );
  return () => seen;
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe('PendingRequests', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('arms one timer for many requests, and expires each at its own deadline, never before', async () => {
    vi.useFakeTimers({ now: 0 });
    const { pending, cancels } = table();
    const slow = pending.open('s', 1000);
    slow.key = 'k-slow';
    vi.advanceTimersByTime(100);
    const fast = pending.open('s', 300);
    fast.key = 'k-fast';
    const later = pending.open('s', 2000);
    expect(vi.getTimerCount()).toBe(1);
    const seenSlow = outcome(slow.promise);
    const seenFast = outcome(fast.promise);
    const seenLater = outcome(later.promise);

    await vi.advanceTimersByTimeAsync(299);
    expect(seenFast()).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(seenFast()).toEqual({ error: new Expired(300) });
    expect(cancels).toEqual([{ subject: 's', key: 'k-fast', reason: 'deadline' }]);

    await vi.advanceTimersByTimeAsync(599);
    expect(seenSlow()).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(seenSlow()).toEqual({ error: new Expired(1000) });
    expect(seenLater()).toBe('pending');
    expect(vi.getTimerCount()).toBe(1);

    await vi.advanceTimersByTimeAsync(1100);
    // Nothing was sent for it (no key): nobody to cancel.
    expect(seenLater()).toEqual({ error: new Expired(2000) });
    expect(cancels).toHaveLength(2);
    expect(pending.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clears the timer once no request waits, and leaves it while one does', async () => {
    vi.useFakeTimers({ now: 0 });
    const { pending } = table();
    const one = pending.open('s', 1000);
    const two = pending.open('s', 1000);
    const seenTwo = outcome(two.promise);
    one.reply({ ok: true, data: bytes('a') });
    expect(vi.getTimerCount()).toBe(1);
    two.fail(new Error('gone'));
    expect(vi.getTimerCount()).toBe(0);
    await expect(one.promise).resolves.toBe('a');
    expect(seenTwo()).toEqual({ error: new Error('gone') });
  });

  it('re-arms for what is left when the earliest request ended before its deadline', async () => {
    vi.useFakeTimers({ now: 0 });
    const { pending } = table();
    const first = pending.open('s', 100);
    vi.advanceTimersByTime(50);
    const second = pending.open('s', 100);
    first.reply({ ok: true, data: bytes('1') });
    const seen = outcome(second.promise);
    await vi.advanceTimersByTimeAsync(99);
    expect(seen()).toBe('pending');
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen()).toEqual({ error: new Expired(100) });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('settles once: a reply after the deadline, or a second reply, is ignored', async () => {
    vi.useFakeTimers({ now: 0 });
    const { pending } = table();
    const request = pending.open('s', 10);
    const seen = outcome(request.promise);
    let released = 0;
    request.release = () => released++;
    await vi.advanceTimersByTimeAsync(10);
    request.reply({ ok: true, data: bytes('"late"') });
    request.fail(new Error('later'));
    request.abandon(new Error('again'), 'abort');
    await Promise.resolve();
    expect(seen()).toEqual({ error: new Expired(10) });
    expect(released).toBe(1);

    const answered = pending.open('s', 10);
    answered.release = () => released++;
    answered.reply({ ok: true, data: bytes('first') });
    answered.reply({ ok: true, data: bytes('second') });
    await expect(answered.promise).resolves.toBe('first');
    // The engine let go of it itself: nothing to release.
    expect(released).toBe(1);
  });

  it('rejects with what the reply reader throws (a failed or unreadable reply)', async () => {
    const { pending } = table();
    const request = pending.open('s', 1000);
    request.reply({
      ok: false,
      error: { code: 'X', name: 'Error', message: 'handler failed', retryable: false },
    });
    await expect(request.promise).rejects.toThrow('handler failed');
    expect(pending.size).toBe(0);
  });

  it("follows the caller's signal: an abort rejects with its reason, cancels, and leaves no listener", async () => {
    const { pending, cancels } = table();
    const controller = new AbortController();
    const request = pending.open('s', 60_000);
    request.key = 'k';
    request.watch(controller.signal);
    const seen = outcome(request.promise);
    const answered = pending.open('s', 60_000);
    answered.watch(controller.signal);
    answered.reply({ ok: true, data: bytes('1') });
    controller.abort(new Error('stop'));
    await Promise.resolve();
    expect(seen()).toEqual({ error: new Error('stop') });
    await expect(answered.promise).resolves.toBe('1');
    expect(cancels).toEqual([{ subject: 's', key: 'k', reason: 'abort' }]);
    expect(pending.size).toBe(0);

    // Requests that end on their own take their listener with them.
    const kept = new AbortController();
    const many = Array.from({ length: 3 }, () => pending.open('s', 60_000));
    for (const r of many) r.watch(kept.signal);
    expect(getEventListeners(kept.signal, 'abort')).toHaveLength(1);
    for (const r of many) r.reply({ ok: true, data: bytes('x') });
    expect(getEventListeners(kept.signal, 'abort')).toHaveLength(0);
  });

  it('waits out a deadline past the longest platform timer instead of firing at once', async () => {
    vi.useFakeTimers({ now: 0 });
    const { pending } = table();
    const request = pending.open('s', 2 ** 40);
    const seen = outcome(request.promise);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 10);
    expect(seen()).toBe('pending');
    // A nearer deadline still fires on time among far ones.
    const near = pending.open('s', 100);
    const seenNear = outcome(near.promise);
    await vi.advanceTimersByTimeAsync(100);
    expect(seenNear()).toEqual({ error: new Expired(100) });
    expect(seen()).toBe('pending');
    await vi.advanceTimersByTimeAsync(2 ** 40 - MAX_TIMER_MS);
    expect(seen()).toEqual({ error: new Expired(2 ** 40) });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps deadline order through many inserts and removals', async () => {
    vi.useFakeTimers({ now: 0 });
    const { pending } = table();
    const requests = Array.from({ length: 200 }, (_, i) => pending.open('s', 1 + ((i * 37) % 101)));
    const expired: number[] = [];
    for (const r of requests) r.promise.catch((e: Expired) => expired.push(e.timeoutMs));
    // Every third one is answered first.
    for (let i = 0; i < requests.length; i += 3) requests[i]?.reply({ ok: true, data: bytes('0') });
    await vi.advanceTimersByTimeAsync(200);
    const wanted = requests.filter((_, i) => i % 3 !== 0).map((r) => r.timeoutMs);
    expect(expired).toEqual([...wanted].sort((a, b) => a - b));
    expect(pending.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
