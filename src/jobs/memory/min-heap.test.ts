import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MinHeap } from './min-heap.ts';

describe('MinHeap', () => {
  it('pops in sorted order, ties in the order a tie-breaker gives, under any mix of pushes and pops', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }), { maxLength: 500 }),
        (ops) => {
          let seq = 0;
          const heap = new MinHeap<{ key: number; seq: number }>(
            (a, b) => a.key < b.key || (a.key === b.key && a.seq < b.seq),
          );
          const model: { key: number; seq: number }[] = [];
          for (const op of ops) {
            if (op === undefined) {
              model.sort((a, b) => a.key - b.key || a.seq - b.seq);
              expect(heap.pop()).toEqual(model.shift());
            } else {
              const item = { key: op, seq: seq++ };
              heap.push(item);
              model.push(item);
            }
            expect(heap.size).toBe(model.length);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
