/** Runs an action's Standard Schema on params, a result or a payload, and refuses with ValidationError. */
import type { StandardResult, StandardSchemaV1 } from '../standard-schema.ts';
import { ValidationError } from './broker-errors.ts';

type Target = 'params' | 'result' | 'payload';

/** The schema's output for `value`; throws ValidationError with the schema's issues when it refuses. */
export async function validate(
  schema: StandardSchemaV1,
  value: unknown,
  action: string,
  target: Target,
  nodeId: string,
): Promise<unknown> {
  let outcome = schema['~standard'].validate(value);
  if (outcome instanceof Promise) outcome = await outcome;
  return outcomeValue(outcome, action, target, nodeId);
}

/**
 * Validates `value` and passes the schema's output to `next`: at once when the schema answers synchronously
 * (most do), so a call pays no extra turn of the event loop for it, or once its promise settles. Throws
 * ValidationError (synchronously for a synchronous schema) when the schema refuses.
 */
export function validateThen<R>(
  schema: StandardSchemaV1,
  value: unknown,
  action: string,
  target: Target,
  nodeId: string,
  next: (output: unknown) => R,
): R | Promise<Awaited<R>> {
  type Next = Promise<Awaited<R>>;
  const outcome = schema['~standard'].validate(value);
  if (outcome instanceof Promise)
    return outcome.then((settled) => next(outcomeValue(settled, action, target, nodeId))) as Next;
  return next(outcomeValue(outcome, action, target, nodeId));
}

function outcomeValue(
  outcome: StandardResult<unknown>,
  action: string,
  target: Target,
  nodeId: string,
): unknown {
  if (outcome.issues !== undefined) throw new ValidationError(action, target, outcome.issues, nodeId);
  return outcome.value;
}
