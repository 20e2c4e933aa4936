/** shutdownOn(): close a process's resources in order when it is told to stop, and exit with a code that says how it went. */
import { reportUnhandled } from '../diagnostics.ts';
import {
  checkCount,
  checkFunction,
  checkOptions,
  checkSignal,
  describe,
  InvalidArgumentError,
} from '../errors.ts';
import { pendingDisposers } from './disposal.ts';
import { ShutdownInterruptedError, ShutdownTimeoutError } from './errors.ts';

export interface ShutdownOptions {
  /**
   * The signals that start the shutdown.
   * @default ['SIGTERM', 'SIGINT']
   */
  readonly signals?: readonly NodeJS.Signals[] | undefined;
  /**
   * How long closing every target may take, all together, before the process exits anyway, with code 1,
   * naming what was pending. At most 2147483647.
   * @default 10000
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Ends the process: 0 after every target closed cleanly, 1 after a failed, timed-out or interrupted
   * shutdown.
   * @default process.exit
   */
  readonly exit?: ((code: number) => void) | undefined;
  /**
   * Hears why a shutdown did not end cleanly (each target's failure, such as a container's DisposalError,
   * then a ShutdownTimeoutError or ShutdownInterruptedError) before `exit` is called.
   * @default the last-resort report: `keel:container.unhandled`, and the error with its stack and cause on stderr
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

const known = ['signals', 'timeoutMs', 'exit', 'onError', 'signal'] as const;

// setTimeout's largest delay; a longer one fires at once, so it is refused.
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Closes `targets` when one of `signals` arrives — a Container, or a list of AsyncDisposables (containers,
 * a gateway, a broker, a queue) closed one after another, first to last — then exits 0. A target that
 * fails is reported and the next one still closes; the exit code is then 1. If closing runs past
 * `timeoutMs`, the process exits 1 naming what was still pending. A second signal during shutdown exits 1
 * at once.
 *
 * ```ts
 * await using container = buildContainer();
 * shutdownOn([gateway, container], { timeoutMs: 5000 });
 * ```
 */
export function shutdownOn(
  targets: AsyncDisposable | readonly AsyncDisposable[],
  options: ShutdownOptions = {},
): ShutdownHandle {
  const list = checkTargets(targets);
  checkOptions('shutdownOn() options', options, known);
  const {
    signals = ['SIGTERM', 'SIGINT'],
    timeoutMs = 10_000,
    exit = (code: number) => process.exit(code),
    onError,
    signal,
  } = options ?? {};
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
  if (onError !== undefined) checkFunction('shutdownOn() onError', onError);
  checkSignal('shutdownOn() signal', signal);

  const report = (context: string, error: unknown): void => {
    if (onError !== undefined) onError(error);
    else reportUnhandled('container', context, error);
  };

  let running: Promise<number> | undefined;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  let settle: (code: number) => void = () => {};
  // The target being closed; it and those after it are what a timeout or a second signal reports.
  let current = 0;

  const finish = (code: number, context?: string, error?: unknown): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    remove();
    if (context !== undefined) report(context, error);
    settle(code);
    exit(code);
  };

  const close = async (): Promise<void> => {
    let failed = false;
    for (; current < list.length; current++) {
      try {
        await list[current]?.[Symbol.asyncDispose]();
      } catch (error) {
        failed = true;
        if (!finished) report(`shutdown: closing ${name(list, current)} failed`, error);
      }
    }
    finish(failed ? 1 : 0);
  };

  const shutdown = (): Promise<number> => {
    if (running !== undefined) return running;
    running = new Promise<number>((resolve) => {
      settle = resolve;
    });
    // Ref'd on purpose: a disposer stuck on a promise with nothing else pending must not let the process
    // drift to a silent exit 0 before the timeout has had its say.
    timer = setTimeout(() => {
      finish(1, 'shutdown timed out', new ShutdownTimeoutError(timeoutMs, pending(list, current)));
    }, timeoutMs);
    void close();
    return running;
  };

  const onSignal = (name: NodeJS.Signals): void => {
    if (running === undefined) void shutdown();
    else finish(1, 'shutdown interrupted', new ShutdownInterruptedError(name, pending(list, current)));
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

function isDisposable(value: unknown): value is AsyncDisposable {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as Partial<AsyncDisposable>)[Symbol.asyncDispose] === 'function'
  );
}

/** The targets as a list: one AsyncDisposable, or a non-empty array of them. */
function checkTargets(targets: unknown): readonly AsyncDisposable[] {
  if (!Array.isArray(targets)) {
    if (isDisposable(targets)) return [targets];
    throw new InvalidArgumentError(
      `shutdownOn() target must be a Container or another AsyncDisposable; received ${describe(targets)}`,
    );
  }
  if (targets.length === 0) {
    throw new InvalidArgumentError('shutdownOn() targets must be a non-empty array; received an empty array');
  }
  targets.forEach((target, i) => {
    if (!isDisposable(target)) {
      throw new InvalidArgumentError(
        `shutdownOn() targets[${i}] must be a Container or another AsyncDisposable; received ${describe(target)}`,
      );
    }
  });
  return [...targets];
}

/** How a target is named in reports: `target 2 (Gateway)`, or `target 2` for a plain object. */
function name(list: readonly AsyncDisposable[], index: number): string {
  const kind = (list[index] as { constructor?: { name?: unknown } }).constructor?.name;
  const label = `target ${index + 1}`;
  return typeof kind === 'string' && kind !== '' && kind !== 'Object' ? `${label} (${kind})` : label;
}

/**
 * What is still to close, from the target being closed on: a container's pending disposers by name (in
 * the order they would run), any other target by its name.
 */
function pending(list: readonly AsyncDisposable[], from: number): string[] {
  const names: string[] = [];
  for (let i = from; i < list.length; i++) {
    const target = list[i] as AsyncDisposable & { [pendingDisposers]?: () => string[] };
    const report = target[pendingDisposers];
    if (typeof report === 'function') names.push(...report.call(target));
    else names.push(name(list, i));
  }
  return names;
}
