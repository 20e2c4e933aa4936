/** Runs an action's Standard Schema on params, a result or a payload, and refuses with ValidationError. */
import type { StandardSchemaV1 } from '../standard-schema.ts';
import { ValidationError } from './broker-errors.ts';

/** The schema's output for `value`; throws ValidationError with the schema's issues when it refuses. */
export async function validate(
  schema: StandardSchemaV1,
  value: unknown,
  action: string,
  target: 'params' | 'result' | 'payload',
  nodeId: string,
): Promise<unknown> {
  let outcome = schema['~standard'].validate(value);
  if (outcome instanceof Promise) outcome = await outcome;
  if (outcome.issues !== undefined) throw new ValidationError(action, target, outcome.issues, nodeId);
  return outcome.value;
}
