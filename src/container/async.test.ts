import { setTimeout as wait } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import {
  AsyncProviderError,
  CaptiveDependencyError,
  CircularDependencyError,
  Container,
  ContainerDisposedError,
  MissingProviderError,
  ProviderFailedError,
  ScopeRequiredError,
  token,
} from './index.ts';

interface Pool {
  readonly id: number;
}
const PoolT = token<Pool>('pool');

describe('resolveAsync', () => {
  it('runs an async singleton factory once for 100 concurrent first resolutions', async () => {
    let runs = 0;
    const c = new Container().register(PoolT, {
      lifetime: 'singleton',
      factory: async () => {
        runs++;
        await wait(5);
        return { id: runs };
      },
    });
    const pools = await Promise.all(Array.from({ length: 100 }, () => c.resolveAsync(PoolT)));
    expect(runs).toBe(1);
    expect(new Set(pools).size).toBe(1);
    expect(await c.resolveAsync(PoolT)).toBe(pools[0]);
    expect(c.resolve(PoolT)).toBe(pools[0]);
  });

  it('runs a scoped async factory once per scope under concurrency', async () => {
    let runs = 0;
    const Session = token<{ n: number }>('session');
    const c = new Container().register(Session, {
      lifetime: 'scoped',
      factory: async () => {
        await wait(1);
        return { n: ++runs };
      },
    });
    const a = c.createScope();
    const b = c.createScope();
    const results = await Promise.all([
      ...Array.from({ length: 20 }, () => a.resolveAsync(Session)),
      ...Array.from({ length: 20 }, () => b.resolveAsync(Session)),
    ]);
    expect(runs).toBe(2);
    expect(new Set(results.slice(0, 20)).size).toBe(1);
    expect(new Set(results.slice(20)).size).toBe(1);
    expect(results[0]).not.toBe(results[20]);
  });

  it('forgets a failed factory, so the next resolution tries again', async () => {
    let runs = 0;
    const c = new Container().register(PoolT, {
      lifetime: 'singleton',
      factory: async () => {
        runs++;
        await wait(1);
        if (runs === 1) throw new Error('database down');
        return { id: runs };
      },
    });
    const first = await Promise.allSettled([c.resolveAsync(PoolT), c.resolveAsync(PoolT)]);
    expect(runs).toBe(1);
    for (const outcome of first) {
      expect(outcome.status).toBe('rejected');
      const reason = (outcome as PromiseRejectedResult).reason as ProviderFailedError;
      expect(reason).toBeInstanceOf(ProviderFailedError);
      expect(reason.message).toBe('The provider of "pool" failed: database down');
      expect((reason.cause as Error).message).toBe('database down');
    }
    expect(await c.resolveAsync(PoolT)).toEqual({ id: 2 });
    expect(runs).toBe(2);
  });

  it('forgets a failed creation that resolve() started, so resolveAsync tries again', async () => {
    let runs = 0;
    const c = new Container().register(PoolT, {
      lifetime: 'singleton',
      factory: () => {
        runs++;
        return runs === 1 ? Promise.reject(new Error('not yet')) : Promise.resolve({ id: runs });
      },
    });
    expect(() => c.resolve(PoolT)).toThrow(AsyncProviderError);
    // The creation resolve() started is shared, and its failure reported to whoever waits for it.
    await expect(c.resolveAsync(PoolT)).rejects.toThrow('The provider of "pool" failed: not yet');
    expect(await c.resolveAsync(PoolT)).toEqual({ id: 2 });
    expect(runs).toBe(2);
  });

  it('resolves synchronous providers too, and builds transients each time', async () => {
    let n = 0;
    const Counter = token<number>('counter');
    const c = new Container().register(Counter, { lifetime: 'transient', factory: () => ++n });
    expect(await c.resolveAsync(Counter)).toBe(1);
    expect(await c.resolveAsync(Counter)).toBe(2);
  });

  it('builds async transients with async dependencies', async () => {
    const Repo = token<{ pool: Pool }>('repo');
    const c = new Container()
      .register(PoolT, { lifetime: 'singleton', factory: async () => ({ id: 1 }) })
      .register(Repo, {
        lifetime: 'transient',
        factory: async (r) => ({ pool: await r.resolveAsync(PoolT) }),
      });
    const [a, b] = await Promise.all([c.resolveAsync(Repo), c.resolveAsync(Repo)]);
    expect(a).not.toBe(b);
    expect(a?.pool).toBe(b?.pool);
  });

  it('lets an async factory resolve synchronous dependencies with resolve()', async () => {
    const Name = token<string>('name');
    const Greeting = token<string>('greeting');
    const c = new Container()
      .register(Name, { lifetime: 'singleton', factory: () => 'ada' })
      .register(Greeting, {
        lifetime: 'singleton',
        factory: async (r) => {
          await wait(1);
          return `hello ${r.resolve(Name)}`;
        },
      });
    expect(await c.resolveAsync(Greeting)).toBe('hello ada');
  });

  it('names a missing token with the chain, across awaits', async () => {
    const Service = token<unknown>('service');
    const Logger = token<unknown>('logger');
    const c = new Container().register(Service, {
      lifetime: 'singleton',
      factory: async (r) => {
        await wait(1);
        return r.resolveAsync(Logger);
      },
    });
    const error = await c.resolveAsync(Service).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingProviderError);
    expect((error as Error).message).toBe('No provider is registered for "logger" (required by service)');
  });

  it('reports a cycle across awaits, mixing resolveAsync and resolve', async () => {
    const a = token<unknown>('a');
    const b = token<unknown>('b');
    const cc = token<unknown>('c');
    const c = new Container()
      .register(a, {
        lifetime: 'singleton',
        factory: async (r) => {
          await wait(1);
          return r.resolveAsync(b);
        },
      })
      .register(b, {
        lifetime: 'transient',
        factory: async (r) => {
          await wait(1);
          return r.resolve(cc);
        },
      })
      .register(cc, { lifetime: 'singleton', factory: (r) => r.resolve(a) });
    const error = await c.resolveAsync(a).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CircularDependencyError);
    expect((error as Error).message).toBe('Circular dependency: a -> b -> c -> a');
  });

  it('reports a cycle of async providers that would otherwise wait for each other forever', async () => {
    const a = token<unknown>('a');
    const b = token<unknown>('b');
    const c = new Container()
      .register(a, {
        lifetime: 'singleton',
        factory: async (r) => {
          await wait(1);
          return r.resolveAsync(b);
        },
      })
      .register(b, {
        lifetime: 'singleton',
        factory: async (r) => {
          await wait(1);
          return r.resolveAsync(a);
        },
      });
    const error = await c.resolveAsync(a).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CircularDependencyError);
    expect((error as Error).message).toBe('Circular dependency: a -> b -> a');
  });

  it('sees a cycle between two creations started separately, instead of waiting forever', async () => {
    const a = token<unknown>('a');
    const b = token<unknown>('b');
    const gate = Promise.withResolvers<void>();
    const c = new Container()
      .register(a, {
        lifetime: 'singleton',
        factory: async (r) => {
          await gate.promise;
          return r.resolveAsync(b);
        },
      })
      .register(b, {
        lifetime: 'singleton',
        factory: async (r) => {
          await gate.promise;
          await wait(5);
          return r.resolveAsync(a);
        },
      });
    // Both creations start from the outside; each then reaches for the other.
    const results = Promise.allSettled([c.resolveAsync(a), c.resolveAsync(b)]);
    gate.resolve();
    const [ra, rb] = await results;
    expect(ra.status).toBe('rejected');
    expect(rb.status).toBe('rejected');
    const reason = (rb as PromiseRejectedResult).reason as CircularDependencyError;
    expect(reason).toBeInstanceOf(CircularDependencyError);
    expect(reason.cycle).toEqual(['b', 'a', 'b']);
  });

  it('rejects a captive dependency across awaits', async () => {
    const Request = token<unknown>('request');
    const Cache = token<unknown>('cache');
    const c = new Container()
      .register(Request, { lifetime: 'scoped', factory: async () => ({}) })
      .register(Cache, {
        lifetime: 'singleton',
        factory: async (r) => {
          await wait(1);
          return r.resolveAsync(Request);
        },
      });
    const error = await c
      .createScope()
      .resolveAsync(Cache)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CaptiveDependencyError);
    expect((error as CaptiveDependencyError).singleton).toBe('cache');
    expect((error as Error).message).toMatch(/"cache" depends on the scoped "request" \(cache -> request\)/);
  });

  it('rejects a captive dependency reached through resolve() inside an async singleton', async () => {
    const Request = token<unknown>('request');
    const Cache = token<unknown>('cache');
    const c = new Container().register(Request, { lifetime: 'scoped', factory: () => ({}) }).register(Cache, {
      lifetime: 'singleton',
      factory: async (r) => {
        await wait(1);
        return r.resolve(Request);
      },
    });
    const error = await c
      .createScope()
      .resolveAsync(Cache)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CaptiveDependencyError);
    expect((error as CaptiveDependencyError).singleton).toBe('cache');
  });

  it('refuses a scoped provider from the root container', async () => {
    const Request = token<unknown>('request');
    const c = new Container().register(Request, { lifetime: 'scoped', factory: async () => ({}) });
    await expect(c.resolveAsync(Request)).rejects.toBeInstanceOf(ScopeRequiredError);
  });

  it('reports an async provider reached by resolve() inside an async factory', async () => {
    const Db = token<unknown>('db');
    const Repo = token<unknown>('repo');
    const c = new Container()
      .register(Db, { lifetime: 'singleton', factory: async () => ({}) })
      .register(Repo, { lifetime: 'singleton', factory: async (r) => r.resolve(Db) });
    const error = await c.resolveAsync(Repo).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AsyncProviderError);
    expect((error as Error).message).toBe(
      'The provider of "db" is asynchronous (required by repo); use resolveAsync() to resolve it',
    );
  });

  it('wraps a factory that throws synchronously', async () => {
    const c = new Container().register(PoolT, {
      lifetime: 'singleton',
      factory: () => {
        throw new TypeError('bad config');
      },
    });
    const error = await c.resolveAsync(PoolT).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderFailedError);
    expect((error as Error).cause).toBeInstanceOf(TypeError);
  });

  it("stops the caller's wait on abort, without cancelling the shared creation", async () => {
    const gate = Promise.withResolvers<Pool>();
    let runs = 0;
    const c = new Container().register(PoolT, {
      lifetime: 'singleton',
      factory: () => {
        runs++;
        return gate.promise;
      },
    });
    const controller = new AbortController();
    const waiting = c.resolveAsync(PoolT, { signal: controller.signal });
    const other = c.resolveAsync(PoolT);
    controller.abort(new Error('client went away'));
    await expect(waiting).rejects.toThrow('client went away');
    gate.resolve({ id: 9 });
    expect(await other).toEqual({ id: 9 });
    expect(runs).toBe(1);
  });

  it('rejects at once with an aborted signal, without running the factory', async () => {
    let runs = 0;
    const c = new Container().register(PoolT, {
      lifetime: 'singleton',
      factory: async () => ({ id: ++runs }),
    });
    const reason = new Error('already aborted');
    await expect(c.resolveAsync(PoolT, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(runs).toBe(0);
    // A bad argument is a programming error: thrown at the call, as lazy().get() does.
    expect(() => c.resolveAsync(PoolT, { signal: 'nope' as never })).toThrow(InvalidArgumentError);
  });

  it('rejects with the reason of an aborted signal from a scope and inside a factory, running nothing', async () => {
    let runs = 0;
    const Leaf = token<Pool>('leaf');
    const Outer = token<unknown>('outer');
    const reason = new Error('already aborted');
    const c = new Container()
      .register(Leaf, { lifetime: 'scoped', factory: async () => ({ id: ++runs }) })
      .register(Outer, {
        lifetime: 'scoped',
        factory: (r) => r.resolveAsync(Leaf, { signal: AbortSignal.abort(reason) }),
      });
    const scope = c.createScope();
    await expect(scope.resolveAsync(Leaf, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    const error = await scope.resolveAsync(Outer).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderFailedError);
    expect((error as Error).cause).toBe(reason);
    expect(runs).toBe(0);
  });

  it('rejects an options value that is not an object, naming it; undefined means defaults', async () => {
    const c = new Container().register(PoolT, { lifetime: 'singleton', factory: async () => ({ id: 1 }) });
    for (const [options, received] of [
      [null, 'null'],
      [5, '5'],
      ['fast', '"fast"'],
    ] as const) {
      expect(() => c.resolveAsync(PoolT, options as never)).toThrow(InvalidArgumentError);
      expect(() => c.resolveAsync(PoolT, options as never)).toThrow(
        `resolveAsync() options must be an options object; received ${received}`,
      );
    }
    const Outer = token<unknown>('outer');
    c.register(Outer, { lifetime: 'transient', factory: (r) => r.resolveAsync(PoolT, null as never) });
    const error = await c.resolveAsync(Outer).catch((e: unknown) => e);
    expect((error as Error).cause).toBeInstanceOf(InvalidArgumentError);
    expect(await c.resolveAsync(PoolT, undefined)).toEqual({ id: 1 });
  });

  it('removes its abort listener once settled', async () => {
    const c = new Container().register(PoolT, { lifetime: 'singleton', factory: async () => ({ id: 1 }) });
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const { signal } = controller;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      added++;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      removed++;
      remove(...args);
    }) as typeof remove;
    await c.resolveAsync(PoolT, { signal });
    expect(added).toBe(1);
    expect(removed).toBe(1);
  });

  it('passes a signal given inside a factory to that wait', async () => {
    const Slow = token<unknown>('slow');
    const Outer = token<unknown>('outer');
    const c = new Container()
      .register(Slow, { lifetime: 'singleton', factory: () => new Promise(() => {}) })
      .register(Outer, {
        lifetime: 'transient',
        factory: (r) => r.resolveAsync(Slow, { signal: AbortSignal.timeout(5) }),
      });
    const error = await c.resolveAsync(Outer).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderFailedError);
    expect((error as Error).cause).toMatchObject({ name: 'TimeoutError' });
  });

  it('a resolver kept after its factory finished behaves like its container', async () => {
    const Name = token<string>('name');
    const Later = token<() => Promise<string>>('later');
    const c = new Container()
      .register(Name, { lifetime: 'transient', factory: () => 'ada' })
      .register(Later, { lifetime: 'transient', factory: async (r) => () => r.resolveAsync(Name) });
    const later = await c.resolveAsync(Later);
    expect(await later()).toBe('ada');
  });

  it('refuses to resolve once the container is disposed', async () => {
    const c = new Container().register(PoolT, { lifetime: 'singleton', factory: async () => ({ id: 1 }) });
    await c.resolveAsync(PoolT);
    await c.dispose();
    await expect(c.resolveAsync(PoolT)).rejects.toBeInstanceOf(ContainerDisposedError);
    expect(() => c.resolve(PoolT)).toThrow(ContainerDisposedError);
  });
});
