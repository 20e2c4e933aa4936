/** The container's errors: each names the tokens involved and the resolution path that led to them. */
import { describe, KeelError, type KeelErrorCode } from '../errors.ts';
import type { Token } from './token.ts';

/** Adds a token to the front of a resolution error's path as the error leaves that token's factory. */
export const enter: unique symbol = Symbol('keel.container.enter');

const join = (tokens: readonly Token<unknown>[]): string => tokens.map((t) => t.name).join(' -> ');
const requiredBy = (tokens: readonly Token<unknown>[]): string =>
  tokens.length === 0 ? '' : ` (required by ${join(tokens)})`;

/**
 * The base of the errors raised while resolving a token. `path` runs from the token first asked for down
 * to the one at fault; the message is kept in step with it.
 */
export abstract class ResolutionError extends KeelError {
  /** The tokens being resolved, outermost first; the last is the one at fault. */
  protected readonly tokens: Token<unknown>[];

  constructor(code: KeelErrorCode, tokens: readonly Token<unknown>[], options: { cause?: unknown } = {}) {
    super(code, '', options);
    // Subclasses render the message once their own fields are set.
    this.tokens = [...tokens];
  }

  /** The names along the resolution path, from the token first asked for to the one at fault. */
  get path(): readonly string[] {
    return this.tokens.map((t) => t.name);
  }

  /** The name of the token at fault. */
  get token(): string {
    return this.tokens.at(-1)?.name ?? '';
  }

  /** Called by each factory frame the error leaves, innermost first; cheap because it runs only on failure. */
  [enter](token: Token<unknown>, singleton: boolean): void {
    this.tokens.unshift(token);
    this.entered(token, singleton);
    this.message = this.render();
  }

  protected entered(_token: Token<unknown>, _singleton: boolean): void {}

  protected abstract render(): string;

  /** The tokens before the one at fault. */
  protected get chain(): Token<unknown>[] {
    return this.tokens.slice(0, -1);
  }

  /** The token at fault. */
  protected get last(): Token<unknown> {
    return this.tokens.at(-1) as Token<unknown>;
  }
}

/** No provider is registered for a token in the container or any of its ancestors. */
export class MissingProviderError extends ResolutionError {
  constructor(tokens: readonly Token<unknown>[]) {
    super('KEEL_CONTAINER_MISSING', tokens);
    this.message = this.render();
  }

  protected render(): string {
    return `No provider is registered for ${describe(this.last.name)}${requiredBy(this.chain)}`;
  }
}

/** Resolving a token led back to itself. `cycle` is the loop, `a -> b -> c -> a`. */
export class CircularDependencyError extends ResolutionError {
  // Index in `tokens` where the loop starts; -1 while the error is still unwinding towards the loop's start.
  #start: number;

  constructor(tokens: readonly Token<unknown>[], start = -1) {
    super('KEEL_CONTAINER_CYCLE', tokens);
    this.#start = start;
    this.message = this.render();
  }

  /** The loop, starting and ending with the same name. */
  get cycle(): readonly string[] {
    return this.tokens.slice(Math.max(this.#start, 0)).map((t) => t.name);
  }

  protected override entered(token: Token<unknown>): void {
    if (this.#start >= 0) this.#start++;
    else if (token === this.last) this.#start = 0;
  }

  protected render(): string {
    const start = Math.max(this.#start, 0);
    const outside = this.tokens.slice(0, start);
    const reached = outside.length === 0 ? '' : ` (reached from ${join(outside)})`;
    return `Circular dependency: ${join(this.tokens.slice(start))}${reached}`;
  }
}

/**
 * A singleton depends, directly or through transients, on a scoped provider: the singleton would keep the
 * first scope's instance alive and hand it to every later scope.
 */
export class CaptiveDependencyError extends ResolutionError {
  #singleton: Token<unknown> | undefined;

  constructor(tokens: readonly Token<unknown>[], singleton?: Token<unknown>) {
    super('KEEL_CONTAINER_CAPTIVE', tokens);
    this.#singleton = singleton;
    this.message = this.render();
  }

  /** The singleton that would capture the scoped instance. */
  get singleton(): string | undefined {
    return this.#singleton?.name;
  }

  /** The scoped token it depends on. */
  get scoped(): string {
    return this.last.name;
  }

  protected override entered(token: Token<unknown>, singleton: boolean): void {
    if (singleton && this.#singleton === undefined) this.#singleton = token;
  }

  protected render(): string {
    const singleton = this.#singleton;
    const scoped = describe(this.last.name);
    if (singleton === undefined) return `A singleton cannot depend on the scoped ${scoped}`;
    const from = this.tokens.lastIndexOf(singleton);
    return (
      `Captive dependency: the singleton ${describe(singleton.name)} depends on the scoped ${scoped} ` +
      `(${join(this.tokens.slice(from))}); a singleton outlives every scope. Make ${describe(singleton.name)} ` +
      `scoped or transient, or ${scoped} a singleton`
    );
  }
}

/** `resolve` met a provider whose factory is asynchronous; `resolveAsync` is needed. */
export class AsyncProviderError extends ResolutionError {
  constructor(tokens: readonly Token<unknown>[]) {
    super('KEEL_CONTAINER_ASYNC', tokens);
    this.message = this.render();
  }

  protected render(): string {
    return (
      `The provider of ${describe(this.last.name)} is asynchronous${requiredBy(this.chain)}; ` +
      `use resolveAsync() to resolve it`
    );
  }
}

/** A scoped provider was resolved from the root container, which has no scope to keep the instance in. */
export class ScopeRequiredError extends ResolutionError {
  constructor(tokens: readonly Token<unknown>[]) {
    super('KEEL_CONTAINER_SCOPE_REQUIRED', tokens);
    this.message = this.render();
  }

  protected render(): string {
    return (
      `The provider of ${describe(this.last.name)} is scoped${requiredBy(this.chain)}; ` +
      `resolve it from a scope (container.createScope())`
    );
  }
}

/** A provider's factory threw or rejected; the original error is the `cause`. */
export class ProviderFailedError extends ResolutionError {
  constructor(tokens: readonly Token<unknown>[], cause: unknown) {
    super('KEEL_CONTAINER_PROVIDER_FAILED', tokens, { cause });
    this.message = this.render();
  }

  protected render(): string {
    const cause = this.cause instanceof Error ? this.cause.message : describe(this.cause);
    return `The provider of ${describe(this.last.name)} failed${requiredBy(this.chain)}: ${cause}`;
  }
}

/** A token is registered twice in one container without `{ replace: true }`. */
export class DuplicateProviderError extends KeelError {
  constructor(name: string) {
    super(
      'KEEL_CONTAINER_DUPLICATE',
      `A provider for ${describe(name)} is already registered in this container; ` +
        `pass { replace: true } to replace it`,
    );
  }
}

/** The container (or the ancestor a resolution reached) is disposed or being disposed. */
export class ContainerDisposedError extends KeelError {
  constructor(action: string) {
    super('KEEL_CONTAINER_DISPOSED', `Cannot ${action}: the container is disposed`);
  }
}

/** One failed disposer: the token whose instance it was disposing and what it threw. */
export interface DisposalFailure {
  readonly token: string;
  readonly error: unknown;
}

/** Some disposers failed; every other disposer still ran. `failures` lists each, in the order they ran. */
export class DisposalError extends KeelError {
  readonly failures: readonly DisposalFailure[];

  constructor(failures: readonly DisposalFailure[]) {
    const list = failures
      .map((f) => `${f.token}: ${f.error instanceof Error ? f.error.message : describe(f.error)}`)
      .join('; ');
    super(
      'KEEL_CONTAINER_DISPOSAL_FAILED',
      `${failures.length} disposer${failures.length === 1 ? '' : 's'} failed: ${list}`,
      { cause: failures[0]?.error },
    );
    this.failures = failures;
  }

  /** The errors the disposers threw, in the order they ran. */
  get errors(): readonly unknown[] {
    return this.failures.map((f) => f.error);
  }
}

/** `dispose({ timeoutMs })` waited longer than allowed; `pending` names the disposers not finished. */
export class DisposalTimeoutError extends KeelError {
  readonly pending: readonly string[];

  constructor(timeoutMs: number, pending: readonly string[]) {
    const names = pending.length === 0 ? 'none reported' : pending.join(', ');
    super(
      'KEEL_CONTAINER_DISPOSAL_TIMEOUT',
      `Disposal did not finish within ${timeoutMs} ms; disposers still pending: ${names}`,
      { retryable: true },
    );
    this.pending = pending;
  }
}

/** Graceful shutdown ran past its timeout; `pending` names the disposers that had not finished. */
export class ShutdownTimeoutError extends KeelError {
  readonly pending: readonly string[];

  constructor(timeoutMs: number, pending: readonly string[]) {
    const names = pending.length === 0 ? 'none reported' : pending.join(', ');
    super(
      'KEEL_SHUTDOWN_TIMEOUT',
      `Shutdown did not finish within ${timeoutMs} ms; disposers still pending: ${names}`,
    );
    this.pending = pending;
  }
}

/** A second signal arrived while shutdown was still disposing; `pending` names what had not finished. */
export class ShutdownInterruptedError extends KeelError {
  readonly pending: readonly string[];

  constructor(signal: string, pending: readonly string[]) {
    const names = pending.length === 0 ? 'none reported' : pending.join(', ');
    super(
      'KEEL_SHUTDOWN_INTERRUPTED',
      `Shutdown interrupted by ${signal}; disposers still pending: ${names}`,
    );
    this.pending = pending;
  }
}
