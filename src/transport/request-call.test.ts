/** RequestCall: a received request's deadline and signal, made lazily, cleaned up when the call ends. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RequestCall } from './request-call.ts';
import { RequestCancelledError, RequestDeadlineError } from './transport-errors.ts';

describe('RequestCall', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts the deadline from arrival; Infinity without a budget', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    expect(new RequestCall('s', 'k', {}, 250, undefined).deadline).toBe(1_000_250);
    expect(new RequestCall('s', 'k', {}, undefined, undefined).deadline).toBe(Number.POSITIVE_INFINITY);
  });

  it('arms no timer until the signal is read, then aborts it at the deadline', () => {
    vi.useFakeTimers({ now: 0 });
    const call = new RequestCall('s', 'k', {}, 1000, undefined);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(400);
    const signal = call.signal;
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(599);
    expect(signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(signal.reason).toBeInstanceOf(RequestDeadlineError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('starts a signal first read after the deadline aborted', () => {
    vi.useFakeTimers({ now: 0 });
    const call = new RequestCall('s', 'k', {}, 10, undefined);
    vi.advanceTimersByTime(10);
    expect(call.refusal).toBeInstanceOf(RequestDeadlineError);
    expect(call.signal.reason).toBeInstanceOf(RequestDeadlineError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('remembers a cancel that came before the signal was read', () => {
    const inFlight = new Map<string, RequestCall>();
    const call = new RequestCall('s', 'k', {}, 60_000, inFlight);
    // Only a call that outlives its delivery is registered.
    expect(inFlight.size).toBe(0);
    call.track();
    expect(inFlight.get('k')).toBe(call);
    inFlight.get('k')?.cancel('abort');
    expect(call.refusal).toBeInstanceOf(RequestCancelledError);
    expect(call.signal.reason).toBeInstanceOf(RequestCancelledError);
    // The first reason stays.
    call.cancel('deadline');
    expect(call.signal.reason).toBeInstanceOf(RequestCancelledError);
  });

  it('maps a cancel sent at the caller deadline to RequestDeadlineError, and clears the timer', () => {
    vi.useFakeTimers({ now: 0 });
    const call = new RequestCall('s', 'k', {}, 60_000, undefined);
    const signal = call.signal;
    expect(vi.getTimerCount()).toBe(1);
    call.cancel('deadline');
    expect(signal.reason).toBeInstanceOf(RequestDeadlineError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('once ended, leaves no timer, leaves the registry, and ignores cancels', () => {
    vi.useFakeTimers({ now: 0 });
    const inFlight = new Map<string, RequestCall>();
    const call = new RequestCall('s', 'k', {}, 60_000, inFlight);
    call.track();
    const signal = call.signal;
    call.end();
    expect(vi.getTimerCount()).toBe(0);
    expect(inFlight.size).toBe(0);
    call.cancel('abort');
    vi.advanceTimersByTime(120_000);
    expect(signal.aborted).toBe(false);
  });

  it('does not remove a newer call registered under the same key', () => {
    const inFlight = new Map<string, RequestCall>();
    const older = new RequestCall('s', 'k', {}, 1000, inFlight);
    older.track();
    const newer = new RequestCall('s', 'k', {}, 1000, inFlight);
    newer.track();
    older.end();
    expect(inFlight.get('k')).toBe(newer);
    // An ended call is not registered again.
    older.track();
    expect(inFlight.get('k')).toBe(newer);
  });

  it('waits past 2^31-1 ms without firing early', () => {
    vi.useFakeTimers({ now: 0 });
    const call = new RequestCall('s', 'k', {}, 2 ** 32, undefined);
    const signal = call.signal;
    vi.advanceTimersByTime(2 ** 31);
    expect(signal.aborted).toBe(false);
    call.end();
    expect(vi.getTimerCount()).toBe(0);
  });
});
