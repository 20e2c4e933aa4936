import { type ChildProcess, spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as wait } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import {
  Container,
  DisposalError,
  ShutdownInterruptedError,
  ShutdownTimeoutError,
  shutdownOn,
  token,
} from './index.ts';

const fixture = join(import.meta.dirname, '../../test/fixtures/container-shutdown.ts');

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Starts the fixture, waits for "ready", sends `signal`, and returns how the process ended. */
async function runFixture(mode: string, signal: NodeJS.Signals, timeoutMs = 2000): Promise<Run> {
  const child = spawn(process.execPath, [fixture, mode, String(timeoutMs)], { stdio: 'pipe' });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  while (!stdout.includes('ready')) {
    if (child.exitCode !== null) throw new Error(`fixture exited early: ${stderr}`);
    await wait(10);
  }
  child.kill(signal);
  const [code, by] = await exited;
  return { code, signal: by, stdout, stderr };
}

// Each test starts a Node process; give a loaded machine room.
describe('shutdownOn in a real process', { timeout: 30_000 }, () => {
  it('disposes on SIGTERM and exits 0', async () => {
    const run = await runFixture('clean', 'SIGTERM');
    expect(run).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(run.stdout).toContain('disposed ticker');
  });

  it('disposes on SIGINT and exits 0', async () => {
    const run = await runFixture('clean', 'SIGINT');
    expect(run).toMatchObject({ code: 0, signal: null });
    expect(run.stdout).toContain('disposed ticker');
  });

  it('exits 1 past the timeout, naming the disposers still pending', async () => {
    const started = performance.now();
    const run = await runFixture('hang', 'SIGTERM', 300);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'Shutdown did not finish within 300 ms; disposers still pending: stuck, ticker',
    );
    // The stuck disposer ran first (last built), so the ticker was never reached.
    expect(run.stdout).not.toContain('disposed ticker');
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('holds nothing open by itself: an idle process with shutdownOn installed ends on its own', async () => {
    const child = spawn(process.execPath, [fixture, 'idle'], { stdio: 'pipe' });
    children.push(child);
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(stdout).toBe('ready\n');
  });

  it('exits 1 when a disposer fails, after running the others', async () => {
    const run = await runFixture('fail', 'SIGTERM');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('1 disposer failed: broken: broken disposer');
    expect(run.stdout).toContain('disposed ticker');
  });
});

describe('shutdownOn', () => {
  const Thing = token<object>('thing');

  function listeners(): number[] {
    return ['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => process.listenerCount(s));
  }

  it('installs one listener per signal and removes them on remove(), dispose or abort', () => {
    const before = listeners();
    const handle = shutdownOn(new Container(), { exit: () => {} });
    expect(listeners()).toEqual([before[0]! + 1, before[1]! + 1, before[2]]);
    handle.remove();
    expect(listeners()).toEqual(before);
    handle.remove();
    expect(listeners()).toEqual(before);

    {
      using _handle = shutdownOn(new Container(), { signals: ['SIGHUP'], exit: () => {} });
      expect(listeners()).toEqual([before[0], before[1], before[2]! + 1]);
    }
    expect(listeners()).toEqual(before);

    const controller = new AbortController();
    shutdownOn(new Container(), { signal: controller.signal, exit: () => {} });
    expect(listeners()).not.toEqual(before);
    controller.abort();
    expect(listeners()).toEqual(before);
    shutdownOn(new Container(), { signal: AbortSignal.abort(), exit: () => {} });
    expect(listeners()).toEqual(before);
  });

  it('disposes on a signal, exits 0, and leaves no listener or timer behind', async () => {
    const before = listeners();
    const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const codes: number[] = [];
    const log: string[] = [];
    const container = new Container().register(Thing, {
      lifetime: 'singleton',
      factory: () => ({}),
      dispose: () => void log.push('disposed'),
    });
    container.resolve(Thing);
    const handle = shutdownOn(container, { exit: (code) => codes.push(code), timeoutMs: 60_000 });
    process.emit('SIGTERM', 'SIGTERM');
    expect(handle.shuttingDown).toBe(true);
    expect(await handle.shutdown()).toBe(0);
    expect(codes).toEqual([0]);
    expect(log).toEqual(['disposed']);
    expect(container.disposed).toBe(true);
    expect(listeners()).toEqual(before);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(
      timers,
    );
  });

  it('can be started by hand, once', async () => {
    const codes: number[] = [];
    const handle = shutdownOn(new Container(), { exit: (code) => codes.push(code) });
    expect(handle.shuttingDown).toBe(false);
    const first = handle.shutdown();
    expect(handle.shutdown()).toBe(first);
    expect(await first).toBe(0);
    expect(codes).toEqual([0]);
  });

  it('exits 1 and reports a DisposalError when a disposer fails', async () => {
    const errors: unknown[] = [];
    const codes: number[] = [];
    const container = new Container().register(Thing, {
      lifetime: 'singleton',
      factory: () => ({}),
      dispose: () => {
        throw new Error('nope');
      },
    });
    container.resolve(Thing);
    const handle = shutdownOn(container, { exit: (c) => codes.push(c), onError: (e) => errors.push(e) });
    expect(await handle.shutdown()).toBe(1);
    expect(codes).toEqual([1]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(DisposalError);
  });

  it('exits 1 past the timeout, naming the pending disposers in order', async () => {
    const errors: unknown[] = [];
    const codes: number[] = [];
    const First = token<object>('first');
    const Calm = token<object>('calm');
    const Stuck = token<object>('stuck');
    const container = new Container()
      .register(First, { lifetime: 'singleton', factory: () => ({}), dispose: () => {} })
      .register(Calm, { lifetime: 'scoped', factory: () => ({}), dispose: () => {} })
      .register(Stuck, { lifetime: 'scoped', factory: () => ({}), dispose: () => new Promise(() => {}) });
    container.resolve(First);
    container.createScope().resolve(Calm);
    container.createScope().resolve(Stuck);
    const handle = shutdownOn(container, {
      timeoutMs: 20,
      exit: (c) => codes.push(c),
      onError: (e) => errors.push(e),
    });
    expect(await handle.shutdown()).toBe(1);
    expect(codes).toEqual([1]);
    const error = errors[0] as ShutdownTimeoutError;
    expect(error).toBeInstanceOf(ShutdownTimeoutError);
    expect(error.code).toBe('KEEL_SHUTDOWN_TIMEOUT');
    // The latest scope is disposed first and hangs; the earlier scope and the root have not been reached.
    expect(error.pending).toEqual(['stuck', 'calm', 'first']);
    expect(error.message).toBe(
      'Shutdown did not finish within 20 ms; disposers still pending: stuck, calm, first',
    );
  });

  it('names creations still in flight as pending', async () => {
    const errors: unknown[] = [];
    const container = new Container().register(Thing, {
      lifetime: 'singleton',
      factory: () => new Promise<object>(() => {}),
    });
    void container.resolveAsync(Thing).catch(() => {});
    const handle = shutdownOn(container, { timeoutMs: 20, exit: () => {}, onError: (e) => errors.push(e) });
    expect(await handle.shutdown()).toBe(1);
    expect((errors[0] as ShutdownTimeoutError).pending).toEqual(['thing (being created)']);
  });

  it('a second signal during shutdown exits 1 at once', async () => {
    const errors: unknown[] = [];
    const codes: number[] = [];
    const container = new Container().register(Thing, {
      lifetime: 'singleton',
      factory: () => ({}),
      dispose: () => new Promise(() => {}),
    });
    container.resolve(Thing);
    const handle = shutdownOn(container, {
      signals: ['SIGHUP'],
      exit: (c) => codes.push(c),
      onError: (e) => errors.push(e),
    });
    process.emit('SIGHUP', 'SIGHUP');
    await wait(5);
    process.emit('SIGHUP', 'SIGHUP');
    expect(await handle.shutdown()).toBe(1);
    expect(codes).toEqual([1]);
    expect(errors[0]).toBeInstanceOf(ShutdownInterruptedError);
    expect((errors[0] as Error).message).toBe(
      'Shutdown interrupted by SIGHUP; disposers still pending: thing',
    );
    expect(process.listenerCount('SIGHUP')).toBe(0);
  });

  it.each([
    [{ signals: [] }, /signals must be a non-empty array of signal names; received an array of length 0/],
    [{ signals: 'SIGTERM' }, /signals must be a non-empty array/],
    [{ timeoutMs: 0 }, /timeoutMs must be an integer ≥ 1; received 0/],
    [{ timeoutMs: 2 ** 31 }, /timeoutMs must be at most 2147483647; received 2147483648/],
    [{ exit: 1 }, /exit must be a function; received 1/],
    [{ onError: 'x' }, /onError must be a function/],
    [{ signal: {} }, /signal must be an AbortSignal/],
  ])('rejects the options %o', (options, message) => {
    expect(() => shutdownOn(new Container(), options as never)).toThrow(message);
    expect(() => shutdownOn(new Container(), options as never)).toThrow(InvalidArgumentError);
  });

  it('rejects a target that is not a Container or another AsyncDisposable, and options that are not an object', () => {
    expect(() => shutdownOn({} as never)).toThrow(
      /shutdownOn\(\) target must be a Container or another AsyncDisposable; received an object/,
    );
    expect(() => shutdownOn(new Container(), null as never)).toThrow(
      /shutdownOn\(\) options must be an options object; received null/,
    );
  });
});

/** A resource that is not a container: records when it is closed, and can fail or hang doing so. */
class Gateway implements AsyncDisposable {
  readonly log: string[];
  readonly mode: 'ok' | 'fail' | 'hang';
  constructor(log: string[], mode: 'ok' | 'fail' | 'hang' = 'ok') {
    this.log = log;
    this.mode = mode;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    this.log.push(`gateway ${this.mode}`);
    if (this.mode === 'fail') throw new Error('gateway would not close');
    if (this.mode === 'hang') await new Promise(() => {});
  }
}

describe('shutdownOn with a list of AsyncDisposables', () => {
  const Thing = token<object>('thing');

  function containerLogging(log: string[], name: string, fail = false): Container {
    const container = new Container().register(Thing, {
      lifetime: 'singleton',
      factory: () => ({}),
      dispose: () => {
        log.push(name);
        if (fail) throw new Error(`${name} would not close`);
      },
    });
    container.resolve(Thing);
    return container;
  }

  it('closes the targets one after another, first to last, and exits 0', async () => {
    const log: string[] = [];
    const codes: number[] = [];
    const first = containerLogging(log, 'first container');
    const gateway = new Gateway(log);
    const last = containerLogging(log, 'last container');
    const handle = shutdownOn([gateway, first, last], { exit: (c) => codes.push(c), onError: () => {} });
    expect(await handle.shutdown()).toBe(0);
    expect(log).toEqual(['gateway ok', 'first container', 'last container']);
    expect(codes).toEqual([0]);
    expect(first.disposed && last.disposed).toBe(true);
  });

  it('goes on past a target that fails, reports each failure, and exits 1', async () => {
    const log: string[] = [];
    const errors: unknown[] = [];
    const codes: number[] = [];
    const handle = shutdownOn(
      [new Gateway(log, 'fail'), containerLogging(log, 'broken', true), containerLogging(log, 'fine')],
      { exit: (c) => codes.push(c), onError: (e) => errors.push(e) },
    );
    expect(await handle.shutdown()).toBe(1);
    expect(log).toEqual(['gateway fail', 'broken', 'fine']);
    expect(codes).toEqual([1]);
    expect(errors).toHaveLength(2);
    expect((errors[0] as Error).message).toBe('gateway would not close');
    expect(errors[1]).toBeInstanceOf(DisposalError);
    expect((errors[1] as Error).message).toBe('1 disposer failed: thing: broken would not close');
  });

  it('bounds the whole sequence by one timeout, naming what was still to close', async () => {
    const log: string[] = [];
    const errors: unknown[] = [];
    const handle = shutdownOn([new Gateway(log, 'hang'), containerLogging(log, 'after')], {
      timeoutMs: 30,
      exit: () => {},
      onError: (e) => errors.push(e),
    });
    expect(await handle.shutdown()).toBe(1);
    expect(log).toEqual(['gateway hang']);
    const error = errors[0] as ShutdownTimeoutError;
    expect(error).toBeInstanceOf(ShutdownTimeoutError);
    expect(error.pending).toEqual(['target 1 (Gateway)', 'thing']);
  });

  it('rejects an empty list and a member that cannot be closed, naming its place', () => {
    expect(() => shutdownOn([] as never)).toThrow(
      'shutdownOn() targets must be a non-empty array; received an empty array',
    );
    expect(() => shutdownOn([new Container(), { close() {} }] as never)).toThrow(InvalidArgumentError);
    expect(() => shutdownOn([new Container(), { close() {} }] as never)).toThrow(
      /shutdownOn\(\) targets\[1\] must be a Container or another AsyncDisposable; received an object/,
    );
  });
});

describe('shutdownOn options', () => {
  it.each([
    [['SIGTERM'], /shutdownOn\(\) options must be an options object; received an array/],
    [{ timeout: 5 }, /shutdownOn\(\) options: unknown option "timeout"; known options: signals, timeoutMs/],
  ])('refuses %o', (options, message) => {
    expect(() => shutdownOn(new Container(), options as never)).toThrow(message);
    expect(() => shutdownOn(new Container(), options as never)).toThrow(InvalidArgumentError);
  });
});

describe('shutdownOn without onError', () => {
  it('reports through the last-resort sink, keeping the stack and the cause', async () => {
    const Socket = token<object>('socket');
    const container = new Container().register(Socket, {
      lifetime: 'singleton',
      factory: () => ({}),
      dispose: () => {
        throw new Error('socket would not close', { cause: new Error('EPIPE') });
      },
    });
    container.resolve(Socket);
    const published: unknown[] = [];
    const onMessage = (message: unknown): void => void published.push(message);
    subscribe('keel:container.unhandled', onMessage);
    const written: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      const handle = shutdownOn(container, { exit: () => {} });
      expect(await handle.shutdown()).toBe(1);
    } finally {
      process.stderr.write = write;
      unsubscribe('keel:container.unhandled', onMessage);
    }
    const text = written.join('');
    expect(text).toMatch(
      /^\[keel container\] shutdown: closing target 1 \(Container\) failed: DisposalError/,
    );
    expect(text).toContain('KEEL_CONTAINER_DISPOSAL_FAILED');
    expect(text).toContain('socket would not close');
    // The stack, and the cause with its own message.
    expect(text).toMatch(/\n\s+at /);
    expect(text).toContain('EPIPE');
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ module: 'container' });
  });
});
