/** The benchmark harness: its verdict arithmetic on hand-made results, and how it sizes its samples. */
import { describe, expect, it, vi } from 'vitest';
import {
  MIN_ROUNDS,
  measure,
  type Result,
  ratio,
  type Spread,
  spread,
  spreadVsBest,
  target,
  verdict,
} from '../bench/harness.ts';

/** A result whose rounds took the given times per operation. */
const result = (name: string, samplesNs: readonly number[]): Result => ({
  name,
  medianNs: [...samplesNs].sort((a, b) => a - b)[Math.floor(samplesNs.length / 2)] as number,
  minNs: Math.min(...samplesNs),
  heapBytes: undefined,
  samplesNs,
});

/** A spread with the given quartiles; the rest is filler the verdict does not read. */
const quartiles = (q1: number, q3: number): Spread => ({
  median: (q1 + q3) / 2,
  q1,
  q3,
  min: q1 / 2,
  max: q3 * 2,
  runs: 9,
});

describe('measure', () => {
  it('does not size its samples from one paused timing', async () => {
    // The kept calibration pass (the second) starts with one operation; pausing that one call stands for
    // the process losing its core. A sample sized from it would hold a handful of operations.
    const sizes: number[] = [];
    let oneOpCalls = 0;
    let sink = 0;
    const candidate = {
      name: 'paused once',
      run: (n: number) => {
        sizes.push(n);
        if (n === 1 && ++oneOpCalls === 2) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
        for (let i = 0; i < n; i++) sink += Math.sqrt(i);
      },
    };
    await measure({ title: 'pause', unit: 'op', candidates: [candidate], rounds: 5, sampleMs: 4 });
    expect(oneOpCalls).toBeGreaterThanOrEqual(2);
    // The five measured rounds are the last five calls; each must hold far more than a handful.
    for (const n of sizes.slice(-5)) expect(n).toBeGreaterThan(100);
    expect(sink).toBeGreaterThan(0);
  });
});

describe('spread', () => {
  it('takes the ratio of two candidates round by round, not the ratio of their medians', () => {
    // Each round disturbs both candidates alike, so a is always half of b though the medians differ.
    const results = [result('a', [10, 100, 20, 200, 30]), result('b', [20, 200, 40, 400, 60])];
    expect(spread(results, 'a', 'b')).toEqual({ median: 0.5, q1: 0.5, q3: 0.5, min: 0.5, max: 0.5, runs: 5 });
  });

  it('gives the median, interquartile range and range of the per-round ratios', () => {
    const results = [result('a', [1, 2, 3, 4, 5, 6, 7, 8, 9]), result('b', [1, 1, 1, 1, 1, 1, 1, 1, 1])];
    expect(spread(results, 'a', 'b')).toEqual({ median: 5, q1: 3, q3: 7, min: 1, max: 9, runs: 9 });
  });

  it('pairs rounds by position, over the rounds both candidates have', () => {
    const results = [result('a', [2, 4, 6, 8, 10, 99]), result('b', [1, 2, 3, 4, 5])];
    expect(spread(results, 'a', 'b')).toMatchObject({ median: 2, min: 2, max: 2, runs: 5 });
  });

  it(`refuses a spread over fewer than ${MIN_ROUNDS} rounds`, () => {
    const results = [result('a', [1, 2, 3, 4]), result('b', [1, 2, 3, 4])];
    expect(() => spread(results, 'a', 'b')).toThrow(`a / b: 4 rounds; a spread needs at least ${MIN_ROUNDS}`);
  });

  it('names a candidate that has no result', () => {
    const results = [result('a', [1, 1, 1, 1, 1])];
    expect(() => spread(results, 'a', 'missing')).toThrow('no result named missing');
    expect(() => spread(results, 'missing', 'a')).toThrow('no result named missing');
  });
});

describe('spreadVsBest', () => {
  const rounds = [
    result('keel', [5, 5, 5, 5, 5]),
    result('x', [10, 4, 10, 10, 10]),
    result('y', [20, 20, 2.5, 8, 50]),
  ];

  it("divides each round's time by the fastest other candidate's in that same round", () => {
    // Round by round the fastest is x (10), x (4), y (2.5), y (8), x (10): ratios 0.5, 1.25, 2, 0.625, 0.5.
    expect(spreadVsBest(rounds, 'keel', ['x', 'y'])).toEqual({
      median: 0.625,
      q1: 0.5,
      q3: 1.25,
      min: 0.5,
      max: 2,
      runs: 5,
      fastest: 'x',
      fastestRounds: 3,
    });
  });

  it('is never kinder than the ratio against any single one of the others', () => {
    const best = spreadVsBest(rounds, 'keel', ['x', 'y']);
    for (const other of ['x', 'y']) {
      const one = spread(rounds, 'keel', other);
      expect(best.max).toBeGreaterThanOrEqual(one.max);
      expect(best.median).toBeGreaterThanOrEqual(one.median);
    }
  });

  it('equals spread() against a single other candidate', () => {
    const { fastest, fastestRounds, ...best } = spreadVsBest(rounds, 'keel', ['y']);
    expect(best).toEqual(spread(rounds, 'keel', 'y'));
    expect({ fastest, fastestRounds }).toEqual({ fastest: 'y', fastestRounds: 5 });
  });

  it('names the first of the others when two are fastest in as many rounds', () => {
    const tied = [
      result('keel', [1, 1, 1, 1, 1, 1]),
      result('x', [2, 2, 2, 9, 9, 9]),
      result('y', [9, 9, 9, 2, 2, 2]),
    ];
    expect(spreadVsBest(tied, 'keel', ['y', 'x'])).toMatchObject({ fastest: 'y', fastestRounds: 3 });
    expect(spreadVsBest(tied, 'keel', ['x', 'y'])).toMatchObject({ fastest: 'x', fastestRounds: 3 });
  });

  it('takes the rounds every candidate has, and refuses fewer than the minimum', () => {
    const short = [...rounds, result('z', [1, 1, 1, 1])];
    expect(() => spreadVsBest(short, 'keel', ['x', 'z'])).toThrow(
      `keel / fastest of x, z: 4 rounds; a spread needs at least ${MIN_ROUNDS}`,
    );
  });

  it('refuses an empty list, the subject among the others, and a missing name', () => {
    expect(() => spreadVsBest(rounds, 'keel', [])).toThrow('keel: no candidates to compare against');
    expect(() => spreadVsBest(rounds, 'keel', ['x', 'keel'])).toThrow(
      'keel is among the candidates it is compared against',
    );
    expect(() => spreadVsBest(rounds, 'keel', ['x', 'missing'])).toThrow('no result named missing');
  });
});

describe('verdict', () => {
  it('says met only when the whole interquartile range meets an upper target', () => {
    expect(verdict(quartiles(0.6, 0.9), 1)).toBe('met');
    expect(verdict(quartiles(0.6, 1), 1)).toBe('met');
    expect(verdict(quartiles(1.1, 1.4), 1)).toBe('MISSED');
    expect(verdict(quartiles(0.9, 1.1), 1)).toBe('not shown: spread crosses target');
  });

  it('reads a lower target ("at least") the other way round', () => {
    expect(verdict(quartiles(5.5, 8), 5, 'at least')).toBe('met');
    expect(verdict(quartiles(5, 8), 5, 'at least')).toBe('met');
    expect(verdict(quartiles(2, 4.5), 5, 'at least')).toBe('MISSED');
    expect(verdict(quartiles(4, 6), 5, 'at least')).toBe('not shown: spread crosses target');
  });

  it('judges by the interquartile range, not by the range', () => {
    // Outlying rounds beyond the target do not undo a verdict the middle half of the rounds supports.
    expect(verdict({ median: 0.8, q1: 0.7, q3: 0.9, min: 0.2, max: 3, runs: 15 }, 1)).toBe('met');
  });

  it('gives a verdict on a spreadVsBest ratio like on any spread', () => {
    const results = [
      result('keel', [1, 1, 1, 1, 1]),
      result('x', [2, 3, 2, 3, 2]),
      result('y', [4, 2, 5, 4, 3]),
    ];
    expect(verdict(spreadVsBest(results, 'keel', ['x', 'y']), 1)).toBe('met');
    expect(verdict(spreadVsBest(results, 'x', ['keel', 'y']), 1)).toBe('MISSED');
  });
});

describe('target', () => {
  /** Calls `print` with console.log captured, and returns the lines it printed. */
  const printed = (print: () => void): unknown[] => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    print();
    return log.mock.calls.map((args) => args.join(' '));
  };

  it('prints the verdict with the median, interquartile range, range and number of rounds', () => {
    const s = { median: 1.2, q1: 1.1, q3: 1.3, min: 0.9, max: 2, runs: 15 };
    expect(printed(() => target('keel vs plain loop', s, 3))).toEqual([
      '- met: keel vs plain loop: median 1.20× of 15 interleaved runs ' +
        '(IQR 1.10×–1.30×, range 0.90×–2.00×; target at most 3×)',
    ]);
  });

  it('labels a plain number a single figure and gives it no verdict', () => {
    const results = [result('a', [3, 3, 3, 3, 3]), result('b', [2, 2, 2, 2, 2])];
    expect(printed(() => target('heap vs Promise.all', ratio(results, 'a', 'b'), 1.5))).toEqual([
      '- single figure, no spread: heap vs Promise.all: 1.50× (target at most 1.5×)',
    ]);
  });
});
