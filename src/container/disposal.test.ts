import { setTimeout as wait } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import {
  Container,
  ContainerDisposedError,
  DisposalError,
  DisposalTimeoutError,
  MissingProviderError,
  type Token,
  token,
} from './index.ts';

/** A resource that records its own disposal in a shared log. */
class Resource implements AsyncDisposable {
  readonly name: string;
  readonly log: string[];
  constructor(name: string, log: string[]) {
    this.name = name;
    this.log = log;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await wait(1);
    this.log.push(this.name);
  }
}

function resource(log: string[], name: string, deps: Token<unknown>[] = []) {
  return {
    lifetime: 'singleton' as const,
    factory: (r: { resolve<T>(t: Token<T>): T }) => {
      for (const d of deps) r.resolve(d);
      return new Resource(name, log);
    },
  };
}

describe('dispose', () => {
  it('disposes every instance in reverse order of creation', async () => {
    const log: string[] = [];
    const Config = token<Resource>('config');
    const Pool = token<Resource>('pool');
    const Repo = token<Resource>('repo');
    const c = new Container()
      .register(Config, resource(log, 'config'))
      .register(Pool, resource(log, 'pool', [Config]))
      .register(Repo, resource(log, 'repo', [Pool]));
    c.resolve(Repo);
    await c.dispose();
    expect(log).toEqual(['repo', 'pool', 'config']);
  });

  it("uses the registration's dispose first, then Symbol.asyncDispose, then Symbol.dispose", async () => {
    const log: string[] = [];
    const ByOption = token<Resource>('option');
    const ByAsync = token<Resource>('async');
    const BySync = token<Disposable>('sync');
    const Plain = token<object>('plain');
    const c = new Container()
      .register(BySync, {
        lifetime: 'singleton',
        factory: () => ({ [Symbol.dispose]: () => void log.push('sync') }),
      })
      .register(ByAsync, { lifetime: 'singleton', factory: () => new Resource('async', log) })
      .register(ByOption, {
        lifetime: 'singleton',
        factory: () => new Resource('never', log),
        dispose: (instance) => {
          log.push(`option(${instance.name})`);
        },
      })
      .register(Plain, { lifetime: 'singleton', factory: () => ({}) });
    c.resolve(BySync);
    c.resolve(ByAsync);
    c.resolve(ByOption);
    c.resolve(Plain);
    await c.dispose();
    expect(log).toEqual(['option(never)', 'async', 'sync']);
  });

  it('disposes async singletons after what they were built from, and waits for async disposers', async () => {
    const log: string[] = [];
    const Pool = token<Resource>('pool');
    const Repo = token<Resource>('repo');
    const c = new Container()
      .register(Pool, {
        lifetime: 'singleton',
        factory: async () => {
          await wait(2);
          return new Resource('pool', log);
        },
      })
      .register(Repo, {
        lifetime: 'singleton',
        factory: async (r) => {
          await r.resolveAsync(Pool);
          return new Resource('repo', log);
        },
      });
    await c.resolveAsync(Repo);
    await c.dispose();
    expect(log).toEqual(['repo', 'pool']);
  });

  it('disposes disposable transients the container built, and ignores the rest', async () => {
    const log: string[] = [];
    const Conn = token<Resource>('conn');
    const Value = token<number>('value');
    let n = 0;
    const c = new Container()
      .register(Conn, { lifetime: 'transient', factory: () => new Resource(`conn${++n}`, log) })
      .register(Value, { lifetime: 'transient', factory: () => 1 });
    c.resolve(Conn);
    c.resolve(Value);
    await c.resolveAsync(Conn);
    await c.dispose();
    expect(log).toEqual(['conn2', 'conn1']);
  });

  it('runs every disposer when some fail, and reports the failures together', async () => {
    const log: string[] = [];
    const A = token<object>('a');
    const B = token<object>('b');
    const C = token<object>('c');
    const c = new Container()
      .register(A, {
        lifetime: 'singleton',
        factory: () => ({}),
        dispose: () => {
          log.push('a');
          throw new Error('a broke');
        },
      })
      .register(B, { lifetime: 'singleton', factory: () => ({}), dispose: () => void log.push('b') })
      .register(C, {
        lifetime: 'singleton',
        factory: () => ({}),
        dispose: async () => {
          log.push('c');
          throw new Error('c broke');
        },
      });
    c.resolve(A);
    c.resolve(B);
    c.resolve(C);
    const error = (await c.dispose().catch((e: unknown) => e)) as DisposalError;
    expect(log).toEqual(['c', 'b', 'a']);
    expect(error).toBeInstanceOf(DisposalError);
    expect(error.code).toBe('KEEL_CONTAINER_DISPOSAL_FAILED');
    expect(error.message).toBe('2 disposers failed: c: c broke; a: a broke');
    expect(error.failures.map((f) => f.token)).toEqual(['c', 'a']);
    expect(error.errors.map((e) => (e as Error).message)).toEqual(['c broke', 'a broke']);
  });

  it('still disposes an instance whose provider was replaced after it was built', async () => {
    const log: string[] = [];
    const A = token<Resource>('a');
    const c = new Container().register(A, { lifetime: 'singleton', factory: () => new Resource('old', log) });
    c.resolve(A);
    c.register(A, { lifetime: 'singleton', factory: () => new Resource('new', log) }, { replace: true });
    expect(c.resolve(A).name).toBe('new');
    await c.dispose();
    expect(log).toEqual(['new', 'old']);
  });

  it('is idempotent: a second call returns the same promise and disposes nothing twice', async () => {
    const log: string[] = [];
    const A = token<Resource>('a');
    const c = new Container().register(A, resource(log, 'a'));
    c.resolve(A);
    const first = c.dispose();
    expect(c.dispose()).toBe(first);
    await first;
    await c.dispose();
    expect(log).toEqual(['a']);
    expect(c.disposed).toBe(true);
  });

  it('refuses resolution, registration and new scopes afterwards', async () => {
    const A = token<number>('a');
    const c = new Container().register(A, { lifetime: 'singleton', factory: () => 1 });
    c.resolve(A);
    await c.dispose();
    expect(() => c.resolve(A)).toThrow(ContainerDisposedError);
    expect(() => c.resolve(A)).toThrow('Cannot resolve "a": the container is disposed');
    expect(() => c.register(token('b'), { lifetime: 'singleton', factory: () => 1 })).toThrow(
      ContainerDisposedError,
    );
    expect(() => c.createScope()).toThrow(ContainerDisposedError);
    expect(c.has(A)).toBe(false);
  });

  it('refuses resolution as soon as disposal begins', async () => {
    const A = token<object>('a');
    const gate = Promise.withResolvers<void>();
    const c = new Container().register(A, {
      lifetime: 'singleton',
      factory: () => ({}),
      dispose: () => gate.promise,
    });
    c.resolve(A);
    const disposing = c.dispose();
    expect(() => c.resolve(A)).toThrow(ContainerDisposedError);
    gate.resolve();
    await disposing;
  });

  it('waits for a creation in flight, then disposes its instance and refuses it to the waiting caller', async () => {
    const log: string[] = [];
    const gate = Promise.withResolvers<void>();
    const Pool = token<Resource>('pool');
    const c = new Container().register(Pool, {
      lifetime: 'singleton',
      factory: async () => {
        await gate.promise;
        return new Resource('pool', log);
      },
    });
    const resolving = c.resolveAsync(Pool);
    const disposing = c.dispose();
    gate.resolve();
    await expect(resolving).rejects.toBeInstanceOf(ContainerDisposedError);
    await disposing;
    expect(log).toEqual(['pool']);
  });

  it('works with await using', async () => {
    const log: string[] = [];
    const A = token<Resource>('a');
    {
      await using c = new Container().register(A, resource(log, 'a'));
      c.resolve(A);
      expect(log).toEqual([]);
    }
    expect(log).toEqual(['a']);
  });
});

describe('scope disposal', () => {
  const log: string[] = [];
  const Pool = token<Resource>('pool');
  const Session = token<Resource>('session');
  const Handler = token<Resource>('handler');
  let sessions = 0;

  function app(): Container {
    log.length = 0;
    return new Container()
      .register(Pool, resource(log, 'pool'))
      .register(Session, {
        lifetime: 'scoped',
        factory: (r) => {
          r.resolve(Pool);
          return new Resource(`session${++sessions}`, log);
        },
      })
      .register(Handler, { lifetime: 'transient', factory: () => new Resource('handler', log) });
  }

  it('disposes only its own scoped and transient instances, never its parent singletons', async () => {
    sessions = 0;
    const c = app();
    const scope = c.createScope();
    scope.resolve(Session);
    scope.resolve(Handler);
    await scope.dispose();
    expect(log).toEqual(['handler', 'session1']);
    expect(c.resolve(Pool)).toBeInstanceOf(Resource);
    expect(() => scope.resolve(Session)).toThrow(ContainerDisposedError);
    // Other scopes go on.
    expect(c.createScope().resolve(Session).name).toBe('session2');
  });

  it('works with await using, per unit of work', async () => {
    sessions = 0;
    const c = app();
    for (let i = 0; i < 2; i++) {
      await using scope = c.createScope();
      scope.resolve(Session);
    }
    expect(log).toEqual(['session1', 'session2']);
  });

  it('disposing the root disposes its open scopes first, then its own instances', async () => {
    sessions = 0;
    const c = app();
    const s1 = c.createScope();
    const s2 = c.createScope();
    s1.resolve(Session);
    s2.resolve(Session);
    const nested = s2.createScope();
    nested.resolve(Session);
    await c.dispose();
    expect(log).toEqual(['session3', 'session2', 'session1', 'pool']);
    expect(s1.disposed).toBe(true);
    expect(nested.disposed).toBe(true);
  });

  it('a scope disposed on its own is not disposed again by its parent', async () => {
    sessions = 0;
    const c = app();
    const s1 = c.createScope();
    s1.resolve(Session);
    await s1.dispose();
    await c.dispose();
    expect(log).toEqual(['session1', 'pool']);
  });

  it('a scope whose parent is disposed refuses what it would take from the parent', async () => {
    sessions = 0;
    const c = app();
    const scope = c.createScope();
    await c.dispose();
    expect(() => scope.resolve(Pool)).toThrow(ContainerDisposedError);
    expect(() => scope.resolve(token('other'))).toThrow(ContainerDisposedError);
  });

  it('a scope that built nothing disposable stops working with its disposed root', async () => {
    const c = new Container();
    const Req = token<{ id: number }>('request');
    const Local = token<string>('local');
    let ids = 0;
    c.register(Req, { lifetime: 'scoped', factory: () => ({ id: ++ids }) });
    const scope = c.createScope().register(Local, { lifetime: 'transient', factory: () => 'local' });
    const nested = scope.createScope();
    expect(scope.resolve(Req).id).toBe(1);
    expect(nested.resolve(Req).id).toBe(2);
    expect(scope.resolve(Local)).toBe('local');
    await c.dispose();
    for (const s of [scope, nested]) {
      expect(s.disposed).toBe(true);
      expect(() => s.resolve(Req)).toThrow(ContainerDisposedError);
      expect(() => s.resolve(Local)).toThrow(ContainerDisposedError);
      await expect(s.resolveAsync(Req)).rejects.toBeInstanceOf(ContainerDisposedError);
      expect(() => s.createScope()).toThrow(ContainerDisposedError);
      expect(() => s.register(token('late'), { lifetime: 'transient', factory: () => 1 })).toThrow(
        ContainerDisposedError,
      );
    }
    expect(ids).toBe(2);
  });

  it('a disposed scope takes its descendants with it, and leaves its parent and siblings alone', async () => {
    const c = new Container();
    const Req = token<{ id: number }>('request');
    let ids = 0;
    c.register(Req, { lifetime: 'scoped', factory: () => ({ id: ++ids }) });
    const scope = c.createScope();
    const child = scope.createScope();
    const sibling = c.createScope();
    child.resolve(Req);
    sibling.resolve(Req);
    await scope.dispose();
    expect(() => child.resolve(Req)).toThrow(ContainerDisposedError);
    expect(() => child.createScope()).toThrow(ContainerDisposedError);
    expect(sibling.resolve(Req).id).toBe(2);
    expect(c.createScope().resolve(Req).id).toBe(3);
  });

  it('failures in scopes are reported with the parent', async () => {
    const c = new Container();
    const Broken = token<object>('broken');
    c.register(Broken, {
      lifetime: 'scoped',
      factory: () => ({}),
      dispose: () => {
        throw new Error('nope');
      },
    });
    c.createScope().resolve(Broken);
    const error = (await c.dispose().catch((e: unknown) => e)) as DisposalError;
    expect(error).toBeInstanceOf(DisposalError);
    expect(error.failures).toEqual([{ token: 'broken', error: new Error('nope') }]);
  });

  it('a missing token in a scope is still reported as missing', () => {
    expect(() => new Container().createScope().resolve(token('x'))).toThrow(MissingProviderError);
  });
});

describe('dispose with a bound', () => {
  it('rejects past timeoutMs naming what is pending, while the disposal goes on to the end', async () => {
    const Stuck = token<object>('stuck');
    const Calm = token<object>('calm');
    const gate = Promise.withResolvers<void>();
    const log: string[] = [];
    const container = new Container()
      .register(Calm, { lifetime: 'singleton', factory: () => ({}), dispose: () => void log.push('calm') })
      .register(Stuck, { lifetime: 'singleton', factory: () => ({}), dispose: () => gate.promise });
    container.resolve(Calm);
    container.resolve(Stuck);
    const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const error = await container.dispose({ timeoutMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DisposalTimeoutError);
    expect((error as DisposalTimeoutError).code).toBe('KEEL_CONTAINER_DISPOSAL_TIMEOUT');
    expect((error as DisposalTimeoutError).pending).toEqual(['stuck', 'calm']);
    expect((error as Error).message).toBe(
      'Disposal did not finish within 20 ms; disposers still pending: stuck, calm',
    );
    expect(log).toEqual([]);
    gate.resolve();
    // A later call joins the same disposal, which finishes.
    await container.dispose();
    expect(log).toEqual(['calm']);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(
      timers,
    );
  });

  it('resolves within timeoutMs when disposal is quick, leaving no timer behind', async () => {
    const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const container = new Container().register(token<object>('thing'), {
      lifetime: 'singleton',
      factory: () => ({}),
    });
    await container.dispose({ timeoutMs: 60_000 });
    expect(container.disposed).toBe(true);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(
      timers,
    );
  });

  it('stops waiting when the signal aborts, with its reason; an aborted signal starts nothing', async () => {
    const gate = Promise.withResolvers<void>();
    const Stuck = token<object>('stuck');
    const container = new Container().register(Stuck, {
      lifetime: 'singleton',
      factory: () => ({}),
      dispose: () => gate.promise,
    });
    container.resolve(Stuck);
    const reason = new Error('enough');
    await expect(container.dispose({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(container.disposed).toBe(false);
    const controller = new AbortController();
    const waiting = container.dispose({ signal: controller.signal });
    expect(container.disposed).toBe(true);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    gate.resolve();
    await container.dispose();
  });

  it.each([
    [null, /Container\.dispose\(\) options must be an options object; received null/],
    [[], /Container\.dispose\(\) options must be an options object; received an array/],
    [
      { timeout: 5 },
      /Container\.dispose\(\) options: unknown option "timeout"; known options: timeoutMs, signal/,
    ],
    [{ timeoutMs: -1 }, /Container\.dispose\(\) timeoutMs must be a number of milliseconds ≥ 0/],
    [{ signal: {} }, /Container\.dispose\(\) signal must be an AbortSignal/],
  ])('refuses the options %o', (options, message) => {
    const container = new Container();
    expect(() => container.dispose(options as never)).toThrow(message);
    expect(() => container.dispose(options as never)).toThrow(InvalidArgumentError);
    expect(container.disposed).toBe(false);
  });

  it('takes a timeoutMs past what a platform timer holds without giving up early', async () => {
    const gate = Promise.withResolvers<void>();
    const Slow = token<object>('slow');
    const container = new Container().register(Slow, {
      lifetime: 'singleton',
      factory: () => ({}),
      dispose: () => gate.promise,
    });
    container.resolve(Slow);
    let outcome = 'waiting';
    const waiting = container.dispose({ timeoutMs: 2 ** 31 }).then(
      () => {
        outcome = 'done';
      },
      (error: unknown) => {
        outcome = (error as Error).name;
      },
    );
    await wait(30);
    expect(outcome).toBe('waiting');
    gate.resolve();
    await waiting;
    expect(outcome).toBe('done');
  });
});
