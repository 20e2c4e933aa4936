/**
 * The Standard Schema contract (https://standardschema.dev), which zod, valibot and arktype implement,
 * and the one function Keel uses to run such a schema. Ground floor: imports only errors.ts.
 */
import { describe, InvalidArgumentError, KeelError } from './errors.ts';

/** A validator that follows Standard Schema v1; `Output` is what a successful validation yields. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardIssue> };

export interface StandardIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** The output type a Standard Schema produces. */
export type SchemaOutput<S> = S extends StandardSchemaV1<unknown, infer O> ? O : never;

/** Throws InvalidArgumentError unless `value` looks like a Standard Schema v1 validator. */
export function checkSchema(name: string, value: unknown): asserts value is StandardSchemaV1 {
  const std = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null)?.['~standard'];
  if (std?.version !== 1 || typeof std.validate !== 'function') {
    throw new InvalidArgumentError(
      `${name} must be a Standard Schema v1 validator (zod, valibot, arktype, ...); received ${describe(value)}`,
    );
  }
}

/** Renders an issue's path as `a.b[0]`, or `(root)` when the issue concerns the whole value. */
export function formatIssuePath(issue: StandardIssue): string {
  if (!issue.path || issue.path.length === 0) return '(root)';
  let out = '';
  for (const segment of issue.path) {
    const key = typeof segment === 'object' && segment !== null ? segment.key : segment;
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Renders every issue as `path: message`, joined by `; `. */
export function formatIssues(issues: ReadonlyArray<StandardIssue>): string {
  return issues.map((issue) => `${formatIssuePath(issue)}: ${issue.message}`).join('; ');
}

/**
 * A schema validated asynchronously where only a synchronous check can run (`Registry.create`,
 * `EventBus.emit`); the message names the asynchronous call to use instead.
 */
export class AsyncSchemaError extends KeelError {
  constructor(what: string, instead: string) {
    super('KEEL_ASYNC_SCHEMA', `The schema of ${what} validates asynchronously; use ${instead}`);
  }
}
