/** Runs an action's Standard Schema on params, a result or a payload, and refuses with ValidationError. */
import type { StandardResult, StandardSchemaV1 } from '../standard-schema.ts';
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
  return refused(outcome, action, target, nodeId);
}

/** The schema's output, or ValidationError with its issues when it refused. */
function refused(
  outcome: StandardResult<unknown>,
  action: string,
  target: 'params' | 'result' | 'payload',
  nodeId: string,
): unknown {
  if (outcome.issues !== undefined) throw new ValidationError(action, target, outcome.issues, nodeId);
  return outcome.value;
}

/**
 * Serves one call with nothing around it: the params checked, the handler run, its result checked. A
 * schema that answers at once is read at once, so a call costs the handler's own promise turn and no
 * more; settles (or throws at once) with the result as the result schema outputs it.
 */
export function serveChecked(
  spec: { readonly params: StandardSchemaV1; readonly result: StandardSchemaV1 },
  handler: (params: any, ctx: any) => unknown,
  params: unknown,
  ctx: unknown,
  action: string,
  nodeId: string,
): unknown {
  const check = (result: unknown): unknown => {
    const checked = spec.result['~standard'].validate(result);
    if (checked instanceof Promise)
      return checked.then((outcome) => refused(outcome, action, 'result', nodeId));
    return refused(checked, action, 'result', nodeId);
  };
  const handle = (outcome: StandardResult<unknown>): unknown => {
    const result = handler(refused(outcome, action, 'params', nodeId), ctx);
    if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') {
      return Promise.resolve(result as PromiseLike<unknown>).then(check);
    }
    return check(result);
  };
  const checked = spec.params['~standard'].validate(params);
  return checked instanceof Promise ? checked.then(handle) : handle(checked);
}
