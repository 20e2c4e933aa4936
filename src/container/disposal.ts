/** Disposal: what one container will release, released last built first, and how far that has got. */
import { DisposalError, type DisposalFailure } from './errors.ts';
import type { Token } from './token.ts';

/** Lists, in the order they will run, the disposers not yet finished; read by shutdownOn on a timeout. */
export const pendingDisposers: unique symbol = Symbol('keel.container.pendingDisposers');

/** How far a disposal has got; read by the report of pending disposers. */
type Phase = 'open' | 'creations' | 'scopes' | 'instances' | 'done';

/** An instance to release, with the token it was built for (for reports). */
interface Entry {
  readonly token: Token<unknown>;
  readonly run: () => unknown;
}

/** What a disposal needs from the container it belongs to. */
export interface DisposalHost {
  /** Called once, as disposal begins: from here on the container refuses work. */
  close(): void;
  /** The creations in flight whose instances the container will own, by the token each builds. */
  creations(): ReadonlyMap<Promise<unknown>, Token<unknown>> | undefined;
  /** The disposals of the open scopes that hold something, oldest first. */
  scopes(): Disposal[];
  /** Called once, when disposal is over: the container's parent may forget it. */
  release(): void;
}

/**
 * The disposal of one container. It owns the list of instances to release and the phase it is in:
 * creations in flight are awaited first, then open scopes are disposed (newest first), then the instances,
 * last built first. A failing disposer does not stop the others; all failures arrive as one DisposalError.
 */
export class Disposal {
  #entries: Entry[] = [];
  #phase: Phase = 'open';
  /** The entry being released, while the phase is 'instances'. */
  #cursor = -1;
  /** The scope being disposed, while the phase is 'scopes'. */
  #current: Disposal | undefined = undefined;
  #done: Promise<void> | undefined = undefined;
  readonly #host: DisposalHost;

  constructor(host: DisposalHost) {
    this.#host = host;
  }

  /** Whether there are instances to release. */
  get holding(): boolean {
    return this.#entries.length > 0;
  }

  /** Records an instance to release; `run` releases it. */
  add(token: Token<unknown>, run: () => unknown): void {
    this.#entries.push({ token, run });
  }

  /** Starts the disposal on the first call; later calls return the same promise. */
  run(): Promise<void> {
    this.#done ??= this.#run();
    return this.#done;
  }

  async #run(): Promise<void> {
    const host = this.#host;
    host.close();
    const failures: DisposalFailure[] = [];
    this.#phase = 'creations';
    for (let inflight = host.creations(); inflight !== undefined && inflight.size > 0; ) {
      await Promise.allSettled(inflight.keys());
      inflight = host.creations();
    }
    this.#phase = 'scopes';
    for (const scope of host.scopes().reverse()) {
      this.#current = scope;
      try {
        await scope.run();
      } catch (error) {
        if (error instanceof DisposalError) failures.push(...error.failures);
        else failures.push({ token: '(scope)', error });
      }
    }
    this.#current = undefined;
    this.#phase = 'instances';
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      this.#cursor = i;
      const entry = this.#entries[i] as Entry;
      try {
        await entry.run();
      } catch (error) {
        failures.push({ token: entry.token.name, error });
      }
    }
    this.#phase = 'done';
    this.#entries = [];
    host.release();
    if (failures.length > 0) throw new DisposalError(failures);
  }

  /** The disposers not yet finished, in the order they will run, for a shutdown that ran out of time. */
  pending(): string[] {
    const names: string[] = [];
    const phase = this.#phase;
    if (phase === 'done') return names;
    if (phase === 'open' || phase === 'creations') {
      for (const token of this.#host.creations()?.values() ?? []) names.push(`${token.name} (being created)`);
    }
    if (phase !== 'instances') {
      const scopes = this.#host.scopes().reverse();
      if (this.#current !== undefined && !scopes.includes(this.#current)) scopes.unshift(this.#current);
      for (const scope of scopes) names.push(...scope.pending());
    }
    const last = phase === 'instances' ? this.#cursor : this.#entries.length - 1;
    for (let i = last; i >= 0; i--) names.push((this.#entries[i] as Entry).token.name);
    return names;
  }
}
