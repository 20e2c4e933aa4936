/** The meters: histogram buckets by index, errors by code (bounded), in-flight, snapshots. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { ActionMeter, latencyBucketsMs, Meters, maxErrorCodes } from './metrics.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Records one call that took `ms`, by moving the clock the meter reads. */
function record(meter: ActionMeter, ms: number, error?: unknown): void {
  const now = vi.spyOn(performance, 'now').mockReturnValue(0);
  const started = meter.begin();
  now.mockReturnValue(ms);
  if (error === undefined) meter.succeeded(started);
  else meter.failed(started, error);
  now.mockRestore();
}

describe('ActionMeter', () => {
  it.each([
    [0, 0],
    [0.1, 0],
    [0.11, 1],
    [1, 3],
    [99, 9],
    [10_000, latencyBucketsMs.length - 1],
    [10_001, latencyBucketsMs.length],
  ])('a call of %d ms falls in bucket %d', (ms, index) => {
    const meter = new ActionMeter('s.a', 1, 'serve');
    record(meter, ms);
    const { buckets, count, sum } = meter.snapshot().latencyMs;
    expect(count).toBe(1);
    expect(sum).toBeCloseTo(ms);
    // Cumulative: 0 below the bucket, 1 from it on (the +Inf bucket is `count`).
    expect(buckets).toEqual(latencyBucketsMs.map((_, i) => (i >= index ? 1 : 0)));
  });

  it('counts calls, errors by code, in-flight and the last error', () => {
    const meter = new ActionMeter('s.a', 2, 'call');
    const started = meter.begin();
    expect(meter.snapshot().inFlight).toBe(1);
    meter.succeeded(started);
    record(meter, 1, new InvalidArgumentError('bad'));
    record(meter, 1, new InvalidArgumentError('worse'));
    record(meter, 1, new TypeError('plain'));
    record(meter, 1, Object.assign(new Error('node'), { code: 'ECONNRESET' }));
    expect(meter.snapshot()).toMatchObject({
      action: 's.a',
      version: 2,
      side: 'call',
      calls: 5,
      errors: 4,
      inFlight: 0,
      errorsByCode: { KEEL_INVALID_ARGUMENT: 2, ERROR: 1, ECONNRESET: 1 },
      lastError: { code: 'ECONNRESET', message: 'node' },
    });
    expect(meter.lastError).toBe('ECONNRESET: node');
  });

  it(`counts codes past ${maxErrorCodes} distinct ones under "other"`, () => {
    const meter = new ActionMeter('s.a', 1, 'serve');
    for (let i = 0; i < maxErrorCodes + 5; i++) record(meter, 1, { code: `C${i}`, message: 'x' });
    const { errorsByCode, errors } = meter.snapshot();
    expect(Object.keys(errorsByCode)).toHaveLength(maxErrorCodes + 1);
    expect(errorsByCode.other).toBe(5);
    expect(errors).toBe(maxErrorCodes + 5);
  });
});

describe('Meters', () => {
  it('keeps one meter per action subject and side, with the major read from the subject', () => {
    const meters = new Meters();
    const v1 = { key: 'shapes.area', subject: 'shapes.v1.area' };
    const v2 = { key: 'shapes.area', subject: 'shapes.v2.area' };
    expect(meters.calling(v1)).toBe(meters.calling(v1));
    expect(meters.calling(v1)).not.toBe(meters.serving(v1));
    meters.serving(v2);
    const snapshot = meters.snapshot('n1');
    expect(snapshot.nodeId).toBe('n1');
    expect(snapshot.latencyBucketsMs).toBe(latencyBucketsMs);
    expect(snapshot.actions.map((a) => [a.action, a.version, a.side])).toEqual([
      ['shapes.area', 1, 'call'],
      ['shapes.area', 1, 'serve'],
      ['shapes.area', 2, 'serve'],
    ]);
  });
});
