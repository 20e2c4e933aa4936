/** shutdownOn(): dispose a container when the process is told to stop, and exit with a code that says how it went. */
import { checkCount, checkFunction, checkSignal, describe, InvalidArgumentError } from '../errors.ts';
import { type Container, pendingDisposers } from './container.ts';
import { ShutdownInterruptedError, ShutdownTimeoutError } from './errors.ts';

export interface ShutdownOptions {
  /**
   * The signals that start the shutdown.
   * @default ['SIGTERM', 'SIGINT']
   */
  readonly signals?: readonly NodeJS.Signals[] | undefined;
  /**
   * How long disposal may take before the process exits anyway, with code 1, naming what was pending.
   * @default 10000
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Ends the process: 0 after a clean disposal, 1 after a failed, timed-out or interrupted one.
   * @default process.exit
   */
  readonly exit?: ((code: number) => void) | undefined;
  /**
   * Hears why a shutdown did not end cleanly (a DisposalError, ShutdownTimeoutError or
   * ShutdownInterruptedError) before `exit` is called.
   * @default writes the error's message to stderr
   */
  readonly onError?: ((error: unknown) => void) | undefined;
  /** Removes the signal listeners when aborted, as `remove()` does. */
  readonly signal?: AbortSignal | undefined;
}

/** The installed listeners. Disposing the handle removes them (a shutdown already begun goes on). */
export interface ShutdownHandle extends Disposable {
  /** Runs the shutdown now, as a signal would; resolves with the exit code given to `exit`. */
  shutdown(reason?: string): Promise<number>;
  /** Whether a shutdown has begun. */
  readonly shuttingDown: boolean;
  /** Removes the signal listeners. */
  remove(): void;
}

// setTimeout's largest delay; a longer one fires at once.
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Disposes `container` when one of `signals` arrives, then exits 0; if disposal fails, exits 1; if it
 * runs past `timeoutMs`, exits 1 naming the disposers still pending. A second signal during shutdown
 * exits 1 at once.
 *
 * ```ts
 * await using container = buildContainer();
 * shutdownOn(container, { timeoutMs: 5000 });
 * ```
 */
export function shutdownOn(container: Container, options: ShutdownOptions = {}): ShutdownHandle {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`shutdownOn() options must be an object; received ${describe(options)}`);
  }
  const {
    signals = ['SIGTERM', 'SIGINT'],
    timeoutMs = 10_000,
    exit = (code: number) => process.exit(code),
    onError = (error: unknown) =>
      process.stderr.write(`${error instanceof Error ? error.message : describe(error)}\n`),
    signal,
  } = options;
  if (typeof (container as Partial<Container>)?.dispose !== 'function' || !(pendingDisposers in container)) {
    throw new InvalidArgumentError(
      `shutdownOn() container must be a Container; received ${describe(container)}`,
    );
  }
  if (!Array.isArray(signals) || signals.length === 0 || !signals.every((s) => typeof s === 'string')) {
    throw new InvalidArgumentError(
      `shutdownOn() signals must be a non-empty array of signal names; received ${describe(signals)}`,
    );
  }
  checkCount('shutdownOn() timeoutMs', timeoutMs, { min: 1 });
  if (timeoutMs > MAX_DELAY) {
    throw new InvalidArgumentError(
      `shutdownOn() timeoutMs must be at most ${MAX_DELAY}; received ${timeoutMs}`,
    );
  }
  checkFunction('shutdownOn() exit', exit);
  checkFunction('shutdownOn() onError', onError);
  checkSignal('shutdownOn() signal', signal);

  let running: Promise<number> | undefined;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  let settle: (code: number) => void = () => {};

  const finish = (code: number, error?: unknown): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    remove();
    if (error !== undefined) onError(error);
    settle(code);
    exit(code);
  };

  const shutdown = (): Promise<number> => {
    if (running !== undefined) return running;
    running = new Promise<number>((resolve) => {
      settle = resolve;
    });
    // Ref'd on purpose: a disposer stuck on a promise with nothing else pending must not let the process
    // drift to a silent exit 0 before the timeout has had its say.
    timer = setTimeout(() => {
      finish(1, new ShutdownTimeoutError(timeoutMs, container[pendingDisposers]()));
    }, timeoutMs);
    container.dispose().then(
      () => finish(0),
      (error: unknown) => finish(1, error),
    );
    return running;
  };

  const onSignal = (name: NodeJS.Signals): void => {
    if (running === undefined) void shutdown();
    else finish(1, new ShutdownInterruptedError(name, container[pendingDisposers]()));
  };

  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    for (const name of signals) process.off(name, onSignal);
    signal?.removeEventListener('abort', remove);
  };

  if (signal?.aborted) removed = true;
  else {
    for (const name of signals) process.on(name, onSignal);
    signal?.addEventListener('abort', remove, { once: true });
  }

  return {
    shutdown,
    get shuttingDown() {
      return running !== undefined;
    },
    remove,
    [Symbol.dispose]: remove,
  };
}
