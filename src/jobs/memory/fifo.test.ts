import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Fifo } from './fifo.ts';

describe('Fifo', () => {
  it('behaves like an array under any mix of push, shift and unshift', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(fc.constant('shift' as const), fc.tuple(fc.constantFrom('push', 'unshift'), fc.integer())),
          {
            maxLength: 3000,
          },
        ),
        (ops) => {
          const fifo = new Fifo<number>();
          const model: number[] = [];
          for (const op of ops) {
            if (op === 'shift') expect(fifo.shift()).toBe(model.shift());
            else if (op[0] === 'push') {
              fifo.push(op[1]);
              model.push(op[1]);
            } else {
              fifo.unshift(op[1]);
              model.unshift(op[1]);
            }
            expect(fifo.length).toBe(model.length);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('keeps order across the compaction of a long consumed front', () => {
    const fifo = new Fifo<number>();
    for (let i = 0; i < 5000; i++) fifo.push(i);
    const out: number[] = [];
    for (let i = 0; i < 3000; i++) out.push(fifo.shift() as number);
    fifo.unshift(-1);
    for (let i = 5000; i < 5010; i++) fifo.push(i);
    while (fifo.length > 0) out.push(fifo.shift() as number);
    expect(out.slice(0, 3)).toEqual([0, 1, 2]);
    expect(out[3000]).toBe(-1);
    expect(out.slice(3001)).toEqual(Array.from({ length: 2010 }, (_, i) => 3000 + i));
    expect(fifo.shift()).toBeUndefined();
  });
});
