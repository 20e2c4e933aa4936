/** What every part of the broker contract suite shares: schemas, a contract factory, brokers closed after each test. */
import { randomUUID } from 'node:crypto';
import type { StandardSchemaV1 } from '../../standard-schema.ts';
import type { Broker } from '../broker.ts';
import { defineContract } from '../contract.ts';
import type { BrokerOptions } from '../create-broker.ts';

export interface BrokerContractSetup {
  /** The transport URL of a test: each call may return the same engine (NATS) or a fresh hub (memory). */
  readonly url: () => string;
  /** Whether the engine limits payload size (NATS `max_payload`). */
  readonly maxPayload: boolean;
}

export interface SuiteContext {
  readonly kind: string;
  readonly setup: BrokerContractSetup;
  /** The URL every broker of the current test shares. */
  url(): string;
  /** Creates a broker on the test's URL (unless `transport` is given); stopped after the test. */
  open<const O extends Omit<BrokerOptions, 'transport'> & { transport?: BrokerOptions['transport'] }>(
    options: O,
  ): Promise<Broker>;
  /** A contract name no other test uses. */
  name(prefix?: string): string;
}

/** A hand-written Standard Schema: `check` returns the value, or a string saying what is wrong. */
export function schema<In, Out = In>(
  check: (value: unknown) => { value: Out } | string,
): StandardSchemaV1<In, Out> {
  return {
    '~standard': {
      version: 1,
      vendor: 'broker-contract',
      validate(value) {
        const result = check(value);
        return typeof result === 'string' ? { issues: [{ message: result, path: ['radius'] }] } : result;
      },
    },
  };
}

export const anything = schema<unknown>((value) => ({ value }));
export const aNumber = schema<number>((v) => (typeof v === 'number' ? { value: v } : 'expected a number'));
export const radius = schema<{ radius: number }, number>((v) => {
  const r = (v as { radius?: unknown } | null)?.radius;
  return typeof r === 'number' && r > 0 ? { value: r } : 'expected a positive number';
});

/** The contract most tests serve: a strict action, a free one, an idempotent one, and an event. */
export function shapesContract(name: string, version: number | string = 1) {
  return defineContract({
    name,
    version,
    actions: {
      area: { params: radius, result: aNumber },
      run: { params: anything, result: anything },
      idem: { params: anything, result: anything, idempotent: true },
    },
    events: { created: { payload: aNumber } },
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until `check` holds, up to `ms` (generous: the machine may be slow); throws naming `what`. */
export async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** What a promise rejects with (fails the test if it resolves). */
export async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected a failure');
}

export const uniqueName = (prefix = 'svc') => `${prefix}-${randomUUID().slice(0, 8)}`;
