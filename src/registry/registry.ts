/** Registry: the Factory pattern as a typed map from names to factories, with optional validated options. */
import { checkFunction, checkOptions, describe, InvalidArgumentError, KeelError } from '../errors.ts';
import {
  AsyncSchemaError,
  checkSchema,
  formatIssues,
  type StandardIssue,
  type StandardResult,
  type StandardSchemaV1,
} from '../standard-schema.ts';

/** Any function that builds something; `create` keeps its parameter and return types. */
export type Factory = (...args: any[]) => unknown;

export interface RegisterOptions {
  /**
   * A Standard Schema that the first argument of `create` must satisfy; the factory receives the schema's
   * output (so a schema may fill defaults or coerce).
   */
  readonly schema?: StandardSchemaV1 | undefined;
}

/** Thrown when a name was never registered; `known` lists the names that were. */
export class UnknownKindError extends KeelError {
  readonly requested: string;
  readonly known: readonly string[];

  constructor(label: string, requested: string, known: readonly string[]) {
    const list = known.length === 0 ? 'none are registered' : `known: ${known.join(', ')}`;
    super('KEEL_UNKNOWN_KIND', `Unknown ${label} ${describe(requested)} (${list})`);
    this.requested = requested;
    this.known = known;
  }
}

/** Thrown when a name is registered a second time. */
export class DuplicateKindError extends KeelError {
  constructor(label: string, name: string) {
    super('KEEL_DUPLICATE_KIND', `The ${label} ${describe(name)} is already registered`);
  }
}

/** Thrown when the options given to `create` fail the schema registered with the name. */
export class InvalidOptionsError extends KeelError {
  readonly issues: ReadonlyArray<StandardIssue>;

  constructor(label: string, name: string, issues: ReadonlyArray<StandardIssue>) {
    super('KEEL_INVALID_OPTIONS', `Invalid options for ${label} ${describe(name)}: ${formatIssues(issues)}`);
    this.issues = issues;
  }
}

interface Entry {
  readonly factory: Factory;
  readonly schema: StandardSchemaV1 | undefined;
}

type Name<F> = keyof F & string;

/**
 * A typed registry of factories. Names match exactly (no trimming, no case folding) and live in a `Map`,
 * so `"constructor"` or `"__proto__"` are as unknown as any other unregistered name.
 *
 * ```ts
 * const shapes = new Registry('shape').register('circle', (o?: { radius: number }) => new Circle(o));
 * shapes.create('circle', { radius: 2 }); // typed as Circle
 * ```
 */
export class Registry<F extends Record<string, Factory> = {}> {
  /** What the names denote, used in error messages ("shape", "transport", ...). */
  readonly label: string;
  readonly #entries = new Map<string, Entry>();

  /** @param label what the names denote, for error messages. @default 'kind' */
  constructor(label = 'kind') {
    if (typeof label !== 'string' || label === '') {
      throw new InvalidArgumentError(
        `Registry label must be a non-empty string; received ${describe(label)}`,
      );
    }
    this.label = label;
  }

  /** Adds a factory under `name`; a name may be registered once. Returns the registry, typed with it. */
  register<N extends string, G extends Factory>(
    name: N,
    factory: G,
    options: RegisterOptions = {},
  ): Registry<F & { [K in N]: G }> {
    checkOptions('Registry.register() options', options, ['schema']);
    if (typeof name !== 'string' || name === '') {
      throw new InvalidArgumentError(
        `${this.label} name must be a non-empty string; received ${describe(name)}`,
      );
    }
    checkFunction(`factory for ${this.label} ${describe(name)}`, factory);
    if (options.schema !== undefined)
      checkSchema(`schema for ${this.label} ${describe(name)}`, options.schema);
    if (this.#entries.has(name)) throw new DuplicateKindError(this.label, name);
    this.#entries.set(name, { factory, schema: options.schema });
    return this as unknown as Registry<F & { [K in N]: G }>;
  }

  /** Whether `name` is registered (exact match). */
  has(name: string): name is Name<F> {
    return this.#entries.has(name);
  }

  /** The registered names, in registration order. */
  names(): Name<F>[] {
    return [...this.#entries.keys()] as Name<F>[];
  }

  /**
   * Calls the factory registered under `name` with `args`. When the name was registered with a schema,
   * the first argument is validated first and replaced by the schema's output; a schema that validates
   * asynchronously needs `createAsync`.
   * @throws UnknownKindError for a name never registered; InvalidOptionsError for options the schema rejects.
   */
  create<N extends Name<F>>(name: N, ...args: Parameters<F[N]>): ReturnType<F[N]>;
  /** A name known only at run time (from configuration, a request, ...): any product of the registry. */
  create<S extends string>(name: S extends Name<F> ? never : S, ...args: unknown[]): ReturnType<F[Name<F>]>;
  create(name: string, ...args: unknown[]): unknown {
    const entry = this.#entry(name);
    if (entry.schema === undefined) return entry.factory(...args);
    const result = entry.schema['~standard'].validate(args[0]);
    if (result instanceof Promise) {
      // Nothing will read this promise's outcome; keep its rejection from going unhandled.
      result.catch(() => {});
      throw new AsyncSchemaError(`${this.label} ${describe(name)}`, 'createAsync()');
    }
    return entry.factory(this.#validated(name, result), ...args.slice(1));
  }

  /** Like `create`, for schemas that validate asynchronously (and factories that return promises). */
  async createAsync<N extends Name<F>>(
    name: N,
    ...args: Parameters<F[N]>
  ): Promise<Awaited<ReturnType<F[N]>>>;
  async createAsync<S extends string>(
    name: S extends Name<F> ? never : S,
    ...args: unknown[]
  ): Promise<Awaited<ReturnType<F[Name<F>]>>>;
  async createAsync(name: string, ...args: unknown[]): Promise<unknown> {
    const entry = this.#entry(name);
    if (entry.schema === undefined) return entry.factory(...args);
    const result = await entry.schema['~standard'].validate(args[0]);
    return entry.factory(this.#validated(name, result), ...args.slice(1));
  }

  /**
   * Finds the entry named by a URL's scheme: `nats://host:4222` resolves to the `nats` entry.
   * @throws InvalidArgumentError for a string that is not a URL; UnknownKindError for an unregistered scheme.
   */
  resolveUrl(url: string | URL): { readonly kind: Name<F>; readonly url: URL } {
    let parsed: URL;
    if (url instanceof URL) parsed = url;
    else if (typeof url === 'string' && URL.canParse(url)) parsed = new URL(url);
    else
      throw new InvalidArgumentError(
        `${this.label} URL must be a valid URL string; received ${describe(url)}`,
      );
    const scheme = parsed.protocol.slice(0, -1);
    this.#entry(scheme);
    return { kind: scheme as Name<F>, url: parsed };
  }

  #entry(name: string): Entry {
    const entry = this.#entries.get(name);
    if (entry === undefined) throw new UnknownKindError(this.label, name, [...this.#entries.keys()]);
    return entry;
  }

  #validated(name: string, result: StandardResult<unknown>): unknown {
    if (result.issues) throw new InvalidOptionsError(this.label, name, result.issues);
    return result.value;
  }
}
