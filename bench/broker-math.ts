/**
 * The service every broker benchmark calls, written once per library: `math.add({ a, b })` → `a + b`, with
 * its params checked on the serving side by each library's own means (a Standard Schema for Keel, the
 * default fastest-validator for Moleculer, a hand check for the raw NATS floor).
 */
import type { ServiceSchema } from 'moleculer';
import { defineContract, defineService, type StandardSchemaV1 } from '../src/index.ts';

export interface AddParams {
  readonly a: number;
  readonly b: number;
}

const isAdd = (v: unknown): v is AddParams =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as AddParams).a === 'number' &&
  typeof (v as AddParams).b === 'number';

const Params: StandardSchemaV1<AddParams> = {
  '~standard': {
    version: 1,
    vendor: 'bench',
    validate: (v) => (isAdd(v) ? { value: v } : { issues: [{ message: 'a and b must be numbers' }] }),
  },
};
const Sum: StandardSchemaV1<number> = {
  '~standard': {
    version: 1,
    vendor: 'bench',
    validate: (v) => (typeof v === 'number' ? { value: v } : { issues: [{ message: 'not a number' }] }),
  },
};

export const math = defineContract({
  name: 'math',
  version: 1,
  actions: { add: { params: Params, result: Sum } },
});

export const keelMath = defineService(math, { actions: { add: async ({ a, b }) => a + b } });

export const moleculerMath: ServiceSchema = {
  name: 'math',
  actions: {
    add: {
      params: { a: 'number', b: 'number' },
      handler: async (ctx) => (ctx.params as AddParams).a + (ctx.params as AddParams).b,
    },
  },
};

/** The raw floor's request subject and queue group. */
export const rawSubject = 'bench.raw.math.add';

/** The raw floor's handler: JSON in, `{ ok, result }` or `{ ok: false, error }` out. */
export function rawAnswer(params: unknown): { ok: true; result: number } | { ok: false; error: string } {
  return isAdd(params) ? { ok: true, result: params.a + params.b } : { ok: false, error: 'bad params' };
}
