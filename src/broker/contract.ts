/**
 * Contracts: a service's name, major version, actions (params and result schemas) and events, as a plain
 * value that callers and implementations both import.
 */
import { describe, InvalidArgumentError } from '../errors.ts';
import { checkSchema, type SchemaOutput, type StandardSchemaV1 } from '../standard-schema.ts';
import { actionSubject, broadcastSubject, eventSubject, queueGroup } from './subjects.ts';

/** One action: the schema its params must pass, the schema its result must pass. */
export interface ActionSpec<
  P extends StandardSchemaV1 = StandardSchemaV1,
  R extends StandardSchemaV1 = StandardSchemaV1,
> {
  readonly params: P;
  readonly result: R;
  /**
   * Whether running the action twice has the effect of running it once; only then (or with an
   * `idempotencyKey`) does the broker retry it after a retryable failure. @default false
   */
  readonly idempotent?: boolean | undefined;
}

/** One event: the schema its payload must pass. */
export interface EventSpec<P extends StandardSchemaV1 = StandardSchemaV1> {
  readonly payload: P;
}

export type ActionSpecs = { readonly [name: string]: ActionSpec };
export type EventSpecs = { readonly [name: string]: EventSpec };

/** A contract, as `defineContract` returns it. */
export interface Contract<
  N extends string = string,
  A extends ActionSpecs = ActionSpecs,
  E extends EventSpecs = EventSpecs,
> {
  readonly name: N;
  /** The version as given (`2` or `'2.1.0'`). */
  readonly version: number | string;
  /** The major version: callers reach the instances that serve this major. */
  readonly major: number;
  readonly actions: A;
  readonly events: E;
}

/** Any contract, whatever its actions and events. */
export type AnyContract = Contract<string, any, any>;

/** What a schema accepts (its input type). */
export type SchemaInput<S> = S extends StandardSchemaV1<infer I, unknown> ? I : never;
export type { SchemaOutput };

/** What a caller passes to an action, and what it gets back. */
export type ParamsIn<S extends ActionSpec> = SchemaInput<S['params']>;
export type ResultOut<S extends ActionSpec> = SchemaOutput<S['result']>;

/** `<contract>.<action>` for every action of the contracts in `C`. */
export type ActionKey<C extends AnyContract> = C extends AnyContract
  ? `${C['name']}.${keyof C['actions'] & string}`
  : never;

/** `<contract>.<event>` for every event of the contracts in `C`. */
export type EventKey<C extends AnyContract> = C extends AnyContract
  ? `${C['name']}.${keyof C['events'] & string}`
  : never;

/** The spec of the action `K` (`<contract>.<action>`) among the contracts `C`. */
export type ActionAt<C extends AnyContract, K extends string> = C extends AnyContract
  ? K extends `${C['name']}.${infer A}`
    ? A extends keyof C['actions']
      ? C['actions'][A]
      : never
    : never
  : never;

/** The payload type (the schema's input) of the event `K` among the contracts `C`. */
export type EventPayloadIn<C extends AnyContract, K extends string> = C extends AnyContract
  ? K extends `${C['name']}.${infer E}`
    ? E extends keyof C['events']
      ? SchemaInput<C['events'][E]['payload']>
      : never
    : never
  : never;

/** The payload type (the schema's output) a listener of the event `K` receives. */
export type EventPayloadOut<C extends AnyContract, K extends string> = C extends AnyContract
  ? K extends `${C['name']}.${infer E}`
    ? E extends keyof C['events']
      ? SchemaOutput<C['events'][E]['payload']>
      : never
    : never
  : never;

/** What the broker reads from a contract, computed once: subjects, and Maps instead of object lookups. */
export interface CompiledAction {
  /** `<contract>.<action>` */
  readonly key: string;
  readonly name: string;
  readonly spec: ActionSpec;
  readonly subject: string;
}

export interface CompiledEvent {
  readonly key: string;
  readonly name: string;
  readonly spec: EventSpec;
  readonly subject: string;
  readonly broadcastSubject: string;
}

export interface CompiledContract {
  readonly name: string;
  /** The version as given (`2` or `'2.1.0'`). */
  readonly version: number | string;
  readonly major: number;
  /** The queue group the contract's instances share: `<name>.v<major>`. */
  readonly group: string;
  readonly actions: ReadonlyMap<string, CompiledAction>;
  readonly events: ReadonlyMap<string, CompiledEvent>;
}

const compiled = new WeakMap<AnyContract, CompiledContract>();

/** A token of a subject: letters, digits, `_` and `-`, so names never add dots or wildcards. */
const namePattern = /^[A-Za-z0-9_-]+$/;
const semver = /^(\d+)\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/;

/**
 * Defines a contract. `name` and every action and event name are tokens (letters, digits, `_`, `-`);
 * `version` is a major number (`2`) or a semantic version (`'2.1.0'`); every schema is a Standard Schema.
 * @throws InvalidArgumentError naming the field that is wrong.
 */
export function defineContract<
  const N extends string,
  const A extends ActionSpecs = Record<never, never>,
  const E extends EventSpecs = Record<never, never>,
>(spec: {
  readonly name: N;
  readonly version: number | string;
  readonly actions?: A;
  readonly events?: E;
}): Contract<N, A, E> {
  if (typeof spec !== 'object' || spec === null) {
    throw new InvalidArgumentError(`defineContract() spec must be an object; received ${describe(spec)}`);
  }
  const { name, version } = spec;
  checkName('defineContract() name', name);
  const major = majorOf(version);
  const actions = new Map<string, CompiledAction>();
  for (const [action, value] of entries('actions', spec.actions)) {
    checkName(`defineContract() action name`, action);
    const label = `defineContract() action ${describe(action)}`;
    if (typeof value !== 'object' || value === null) {
      throw new InvalidArgumentError(`${label} must be { params, result }; received ${describe(value)}`);
    }
    checkSchema(`${label} params`, value.params);
    checkSchema(`${label} result`, value.result);
    if (value.idempotent !== undefined && typeof value.idempotent !== 'boolean') {
      throw new InvalidArgumentError(
        `${label} idempotent must be a boolean; received ${describe(value.idempotent)}`,
      );
    }
    actions.set(action, {
      key: `${name}.${action}`,
      name: action,
      spec: value,
      subject: actionSubject(name, major, action),
    });
  }
  const events = new Map<string, CompiledEvent>();
  for (const [event, value] of entries('events', spec.events)) {
    checkName('defineContract() event name', event);
    const label = `defineContract() event ${describe(event)}`;
    if (typeof value !== 'object' || value === null) {
      throw new InvalidArgumentError(`${label} must be { payload }; received ${describe(value)}`);
    }
    checkSchema(`${label} payload`, value.payload);
    events.set(event, {
      key: `${name}.${event}`,
      name: event,
      spec: value,
      subject: eventSubject(name, major, event),
      broadcastSubject: broadcastSubject(name, major, event),
    });
  }
  const contract = Object.freeze({
    name,
    version,
    major,
    actions: Object.freeze({ ...spec.actions }) as A,
    events: Object.freeze({ ...spec.events }) as E,
  });
  compiled.set(contract, { name, version, major, group: queueGroup(name, major), actions, events });
  return contract;
}

/** The compiled form of a contract made by `defineContract`. @throws InvalidArgumentError for anything else. */
export function compile(label: string, contract: unknown): CompiledContract {
  const found = compiled.get(contract as AnyContract);
  if (found === undefined) {
    throw new InvalidArgumentError(
      `${label} must be a contract made by defineContract(); received ${describe(contract)}`,
    );
  }
  return found;
}

function checkName(label: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || !namePattern.test(value)) {
    throw new InvalidArgumentError(
      `${label} must be a non-empty string of letters, digits, _ and -; received ${describe(value)}`,
    );
  }
}

function majorOf(version: unknown): number {
  if (typeof version === 'number' && Number.isSafeInteger(version) && version >= 0) return version;
  const match = typeof version === 'string' ? semver.exec(version) : null;
  if (match !== null) return Number(match[1]);
  throw new InvalidArgumentError(
    `defineContract() version must be a major number (2) or a semantic version ('2.1.0'); received ${describe(version)}`,
  );
}

function entries<T>(what: string, value: Readonly<Record<string, T>> | undefined): [string, T][] {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`defineContract() ${what} must be an object; received ${describe(value)}`);
  }
  return Object.entries(value);
}
