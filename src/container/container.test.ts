import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, KeelError } from '../errors.ts';
import {
  AsyncProviderError,
  CaptiveDependencyError,
  CircularDependencyError,
  Container,
  ContainerDisposedError,
  DuplicateProviderError,
  MissingProviderError,
  ProviderFailedError,
  type Resolver,
  ScopeRequiredError,
  token,
} from './index.ts';

class Config {
  readonly url = 'postgres://localhost';
}
class Repo {
  readonly config: Config;
  constructor(config: Config) {
    this.config = config;
  }
}

const ConfigT = token<Config>('config');
const RepoT = token<Repo>('repo');

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('token', () => {
  it('makes distinct keys, even with the same name', () => {
    const a = token<number>('n');
    const b = token<number>('n');
    const c = new Container()
      .register(a, { lifetime: 'singleton', factory: () => 1 })
      .register(b, { lifetime: 'singleton', factory: () => 2 });
    expect(c.resolve(a)).toBe(1);
    expect(c.resolve(b)).toBe(2);
    expect(a.name).toBe('n');
    expect(String(a)).toBe('Token(n)');
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('rejects an empty or non-string name', () => {
    expect(() => token('')).toThrow(InvalidArgumentError);
    expect(() => token(42 as unknown as string)).toThrow(
      /token name must be a non-empty string; received 42/,
    );
  });
});

describe('register', () => {
  it('returns the container, so registrations chain', () => {
    const c = new Container();
    expect(c.register(ConfigT, { lifetime: 'singleton', factory: () => new Config() })).toBe(c);
  });

  it('rejects a second registration of a token unless replace is asked for', () => {
    const c = new Container().register(ConfigT, { lifetime: 'singleton', factory: () => new Config() });
    const error = thrown(() => c.register(ConfigT, { lifetime: 'singleton', factory: () => new Config() }));
    expect(error).toBeInstanceOf(DuplicateProviderError);
    expect(error).toMatchObject({ code: 'KEEL_CONTAINER_DUPLICATE' });
    expect((error as Error).message).toMatch(/"config" is already registered.*replace: true/);
    const replacement = new Config();
    c.register(ConfigT, { lifetime: 'singleton', factory: () => replacement }, { replace: true });
    expect(c.resolve(ConfigT)).toBe(replacement);
  });

  it('replacing keeps instances already built, and later resolutions use the new provider', () => {
    const c = new Container().register(ConfigT, { lifetime: 'singleton', factory: () => new Config() });
    const first = c.resolve(ConfigT);
    c.register(ConfigT, { lifetime: 'transient', factory: () => new Config() }, { replace: true });
    const second = c.resolve(ConfigT);
    expect(second).not.toBe(first);
    expect(c.resolve(ConfigT)).not.toBe(second);
  });

  it.each<[unknown, RegExp]>([
    [null, /provider for "config" must be an object; received null/],
    [
      { lifetime: 'forever', factory: () => 1 },
      /lifetime for "config" must be 'singleton', 'scoped' or 'transient'; received "forever"/,
    ],
    [{ lifetime: 'singleton' }, /factory for "config" must be a function; received undefined/],
    [
      { lifetime: 'singleton', factory: () => 1, dispose: 'no' },
      /dispose for "config" must be a function; received "no"/,
    ],
  ])('rejects the provider %o', (provider, message) => {
    const error = thrown(() => new Container().register(ConfigT, provider as never));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(message);
  });

  it('rejects a token not made by token(), and bad options', () => {
    const c = new Container();
    expect(() => c.register({ name: 'fake' } as never, { lifetime: 'singleton', factory: () => 1 })).toThrow(
      /register\(\) token must be made by token\(\); received an object/,
    );
    expect(() =>
      c.register(
        ConfigT,
        { lifetime: 'singleton', factory: () => new Config() },
        { replace: 'yes' as never },
      ),
    ).toThrow(/replace must be a boolean; received "yes"/);
    expect(() =>
      c.register(ConfigT, { lifetime: 'singleton', factory: () => new Config() }, null as never),
    ).toThrow(/Container\.register\(\) options must be an options object; received null/);
  });
});

describe('resolve', () => {
  it('builds a singleton once, lazily, and hands the factory a resolver', () => {
    let built = 0;
    const c = new Container()
      .register(ConfigT, {
        lifetime: 'singleton',
        factory: () => {
          built++;
          return new Config();
        },
      })
      .register(RepoT, { lifetime: 'singleton', factory: (r) => new Repo(r.resolve(ConfigT)) });
    expect(built).toBe(0);
    const repo = c.resolve(RepoT);
    expect(repo.config).toBe(c.resolve(ConfigT));
    expect(c.resolve(RepoT)).toBe(repo);
    expect(built).toBe(1);
  });

  it('builds a transient on every resolution', () => {
    const c = new Container()
      .register(ConfigT, { lifetime: 'singleton', factory: () => new Config() })
      .register(RepoT, { lifetime: 'transient', factory: (r) => new Repo(r.resolve(ConfigT)) });
    const a = c.resolve(RepoT);
    const b = c.resolve(RepoT);
    expect(a).not.toBe(b);
    expect(a.config).toBe(b.config);
  });

  it('caches falsy singleton values too', () => {
    let built = 0;
    const n = token<number>('zero');
    const c = new Container().register(n, {
      lifetime: 'singleton',
      factory: () => {
        built++;
        return 0;
      },
    });
    expect(c.resolve(n)).toBe(0);
    expect(c.resolve(n)).toBe(0);
    expect(built).toBe(1);
  });

  it('tells whether a token has a provider here or above', () => {
    const c = new Container().register(ConfigT, { lifetime: 'singleton', factory: () => new Config() });
    const scope = c
      .createScope()
      .register(RepoT, { lifetime: 'scoped', factory: (r) => new Repo(r.resolve(ConfigT)) });
    expect(c.has(ConfigT)).toBe(true);
    expect(c.has(RepoT)).toBe(false);
    expect(scope.has(ConfigT)).toBe(true);
    expect(scope.has(RepoT)).toBe(true);
  });

  it('rejects a token not made by token()', () => {
    expect(() => new Container().resolve('config' as never)).toThrow(InvalidArgumentError);
  });

  it('names a missing token and the chain that asked for it', () => {
    const Service = token<unknown>('service');
    const Handler = token<unknown>('handler');
    const Logger = token<unknown>('logger');
    const c = new Container()
      .register(Service, { lifetime: 'singleton', factory: (r) => r.resolve(Handler) })
      .register(Handler, { lifetime: 'transient', factory: (r) => r.resolve(Logger) });
    const error = thrown(() => c.resolve(Service)) as MissingProviderError;
    expect(error).toBeInstanceOf(MissingProviderError);
    expect(error.code).toBe('KEEL_CONTAINER_MISSING');
    expect(error.message).toBe('No provider is registered for "logger" (required by service -> handler)');
    expect(error.token).toBe('logger');
    expect(error.path).toEqual(['service', 'handler', 'logger']);
    expect(String(error.stack)).toContain('required by service -> handler');
    const direct = thrown(() => c.resolve(Logger)) as MissingProviderError;
    expect(direct.message).toBe('No provider is registered for "logger"');
  });

  it('reports a cycle with its whole path', () => {
    const a = token<unknown>('a');
    const b = token<unknown>('b');
    const cc = token<unknown>('c');
    const c = new Container()
      .register(a, { lifetime: 'singleton', factory: (r) => r.resolve(b) })
      .register(b, { lifetime: 'transient', factory: (r) => r.resolve(cc) })
      .register(cc, { lifetime: 'singleton', factory: (r) => r.resolve(a) });
    const error = thrown(() => c.resolve(a)) as CircularDependencyError;
    expect(error).toBeInstanceOf(CircularDependencyError);
    expect(error.code).toBe('KEEL_CONTAINER_CYCLE');
    expect(error.message).toBe('Circular dependency: a -> b -> c -> a');
    expect(error.cycle).toEqual(['a', 'b', 'c', 'a']);
    // Entering the loop from outside shows where it was reached from.
    const outer = token<unknown>('outer');
    c.register(outer, { lifetime: 'transient', factory: (r) => r.resolve(b) });
    const reached = thrown(() => c.resolve(outer)) as CircularDependencyError;
    expect(reached.message).toBe('Circular dependency: b -> c -> a -> b (reached from outer)');
    expect(reached.cycle).toEqual(['b', 'c', 'a', 'b']);
    expect(reached.path).toEqual(['outer', 'b', 'c', 'a', 'b']);
  });

  it('reports a provider that depends on itself', () => {
    const self = token<unknown>('self');
    const c = new Container().register(self, { lifetime: 'transient', factory: (r) => r.resolve(self) });
    expect(() => c.resolve(self)).toThrow('Circular dependency: self -> self');
  });

  it('recovers after a cycle: the in-progress marks are cleared', () => {
    const a = token<number>('a');
    let loop = true;
    const c = new Container().register(a, {
      lifetime: 'singleton',
      factory: (r) => (loop ? r.resolve(a) : 7),
    });
    expect(() => c.resolve(a)).toThrow(CircularDependencyError);
    loop = false;
    expect(c.resolve(a)).toBe(7);
  });

  it('wraps a failing factory with the path, and tries again on the next resolution', () => {
    let attempts = 0;
    const boom = new Error('connection refused');
    const c = new Container()
      .register(ConfigT, {
        lifetime: 'singleton',
        factory: () => {
          attempts++;
          if (attempts === 1) throw boom;
          return new Config();
        },
      })
      .register(RepoT, { lifetime: 'singleton', factory: (r) => new Repo(r.resolve(ConfigT)) });
    const error = thrown(() => c.resolve(RepoT)) as ProviderFailedError;
    expect(error).toBeInstanceOf(ProviderFailedError);
    expect(error.code).toBe('KEEL_CONTAINER_PROVIDER_FAILED');
    expect(error.cause).toBe(boom);
    expect(error.message).toBe('The provider of "config" failed (required by repo): connection refused');
    expect(c.resolve(RepoT).config).toBeInstanceOf(Config);
    expect(attempts).toBe(2);
  });

  it('lets a factory catch a missing optional dependency and go on', () => {
    const Optional = token<string>('optional');
    const Greeting = token<string>('greeting');
    const c = new Container().register(Greeting, {
      lifetime: 'singleton',
      factory: (r) => (r.has(Optional) ? r.resolve(Optional) : 'default'),
    });
    expect(c.resolve(Greeting)).toBe('default');
  });

  it('refuses an async provider and says to use resolveAsync, without starting it twice', async () => {
    let runs = 0;
    const Db = token<{ id: number }>('db');
    const c = new Container().register(Db, {
      lifetime: 'singleton',
      factory: async () => {
        runs++;
        return { id: 1 };
      },
    });
    const error = thrown(() => c.resolve(Db)) as AsyncProviderError;
    expect(error).toBeInstanceOf(AsyncProviderError);
    expect(error.code).toBe('KEEL_CONTAINER_ASYNC');
    expect(error.message).toBe('The provider of "db" is asynchronous; use resolveAsync() to resolve it');
    expect(runs).toBe(0);
    const db = await c.resolveAsync(Db);
    // Once built, the instance is there for synchronous resolution too.
    expect(c.resolve(Db)).toBe(db);
    expect(runs).toBe(1);
  });

  it('refuses a factory that returns a promise, and shares the creation it started with resolveAsync', async () => {
    let runs = 0;
    const Db = token<{ id: number }>('db');
    const Repo2 = token<{ db: Promise<unknown> }>('repo');
    const c = new Container()
      .register(Db, {
        lifetime: 'singleton',
        factory: () => {
          runs++;
          return Promise.resolve({ id: runs });
        },
      })
      .register(Repo2, { lifetime: 'transient', factory: (r) => ({ db: r.resolve(Db) as never }) });
    expect(() => c.resolve(Repo2)).toThrow('The provider of "db" is asynchronous (required by repo)');
    expect(() => c.resolve(Db)).toThrow(AsyncProviderError);
    expect(await c.resolveAsync(Db)).toEqual({ id: 1 });
    expect(runs).toBe(1);
  });

  it('refuses a transient factory that returns a promise, and still disposes what it built', async () => {
    const disposed: number[] = [];
    const Job = token<number>('job');
    const c = new Container().register(Job, {
      lifetime: 'transient',
      factory: () => Promise.resolve(5),
      dispose: (n) => {
        disposed.push(n);
      },
    });
    expect(() => c.resolve(Job)).toThrow(AsyncProviderError);
    expect(() => c.resolve(Job)).toThrow(AsyncProviderError);
    await c.dispose();
    expect(disposed).toEqual([5]);
  });

  it('keeps every error a KeelError', () => {
    const c = new Container();
    expect(thrown(() => c.resolve(ConfigT))).toBeInstanceOf(KeelError);
  });
});

describe('scopes', () => {
  const Request = token<{ id: number }>('request');

  function app(): Container {
    let next = 0;
    return new Container()
      .register(ConfigT, { lifetime: 'singleton', factory: () => new Config() })
      .register(Request, { lifetime: 'scoped', factory: () => ({ id: ++next }) });
  }

  it('give each scope its own scoped instances, and share singletons', () => {
    const c = app();
    const s1 = c.createScope();
    const s2 = c.createScope();
    expect(s1.resolve(Request)).toBe(s1.resolve(Request));
    expect(s1.resolve(Request)).not.toBe(s2.resolve(Request));
    expect(s1.resolve(ConfigT)).toBe(s2.resolve(ConfigT));
    expect(s1.resolve(ConfigT)).toBe(c.resolve(ConfigT));
  });

  it('nested scopes have their own scoped instances', () => {
    const c = app();
    const outer = c.createScope();
    const inner = outer.createScope();
    expect(inner.resolve(Request)).not.toBe(outer.resolve(Request));
  });

  it("see their parent's registrations, and the parent never sees theirs", () => {
    const c = app();
    const User = token<string>('user');
    const scope = c.createScope().register(User, { lifetime: 'scoped', factory: () => 'ada' });
    expect(scope.resolve(User)).toBe('ada');
    expect(() => c.resolve(User)).toThrow(MissingProviderError);
    expect(() => c.createScope().resolve(User)).toThrow(MissingProviderError);
  });

  it('may register a token their parent has; it wins inside the scope only', () => {
    const c = app();
    const override = new Config();
    const scope = c.createScope().register(ConfigT, { lifetime: 'singleton', factory: () => override });
    expect(scope.resolve(ConfigT)).toBe(override);
    expect(scope.createScope().resolve(ConfigT)).toBe(override);
    expect(c.resolve(ConfigT)).not.toBe(override);
  });

  it('resolve transients with the scope, so they can use scoped instances', () => {
    const c = app();
    const Handler = token<{ request: { id: number } }>('handler');
    c.register(Handler, { lifetime: 'transient', factory: (r) => ({ request: r.resolve(Request) }) });
    const scope = c.createScope();
    expect(scope.resolve(Handler).request).toBe(scope.resolve(Request));
  });

  it('refuse a scoped provider resolved from the root container', () => {
    const error = thrown(() => app().resolve(Request)) as ScopeRequiredError;
    expect(error).toBeInstanceOf(ScopeRequiredError);
    expect(error.code).toBe('KEEL_CONTAINER_SCOPE_REQUIRED');
    expect(error.message).toBe(
      'The provider of "request" is scoped; resolve it from a scope (container.createScope())',
    );
  });

  it('reject a singleton depending on a scoped provider, naming both', () => {
    const c = app();
    const Cache = token<unknown>('cache');
    const Helper = token<unknown>('helper');
    c.register(Cache, { lifetime: 'singleton', factory: (r) => r.resolve(Helper) });
    c.register(Helper, { lifetime: 'transient', factory: (r) => r.resolve(Request) });
    const scope = c.createScope();
    const error = thrown(() => scope.resolve(Cache)) as CaptiveDependencyError;
    expect(error).toBeInstanceOf(CaptiveDependencyError);
    expect(error.code).toBe('KEEL_CONTAINER_CAPTIVE');
    expect(error.singleton).toBe('cache');
    expect(error.scoped).toBe('request');
    expect(error.message).toMatch(
      /^Captive dependency: the singleton "cache" depends on the scoped "request" \(cache -> helper -> request\)/,
    );
    // The same from the root container: captive, not merely "scope required".
    expect(thrown(() => c.resolve(Cache))).toBeInstanceOf(CaptiveDependencyError);
  });

  it("let a singleton registered in a scope use that scope's scoped instances: both live as long as the scope", () => {
    const c = app();
    const Cache = token<{ request: { id: number } }>('cache');
    const scope = c
      .createScope()
      .register(Cache, { lifetime: 'singleton', factory: (r) => ({ request: r.resolve(Request) }) });
    const nested = scope.createScope();
    expect(nested.resolve(Cache)).toBe(scope.resolve(Cache));
    expect(scope.resolve(Cache).request).toBe(scope.resolve(Request));
    expect(nested.resolve(Request)).not.toBe(scope.resolve(Request));
  });

  it('cannot be created from a disposed container', async () => {
    const c = app();
    await c.dispose();
    expect(() => c.createScope()).toThrow(ContainerDisposedError);
  });
});

describe('the resolver a factory receives', () => {
  it('is the container that owns the instance: singletons resolve from where they are registered', () => {
    let seen: Resolver | undefined;
    const c = new Container().register(ConfigT, {
      lifetime: 'singleton',
      factory: (r) => {
        seen = r;
        return new Config();
      },
    });
    c.createScope().resolve(ConfigT);
    expect(seen).toBe(c);
  });
});

describe('options of the container calls', () => {
  const T = token<number>('t');
  const provider = { lifetime: 'singleton', factory: () => 1 } as const;

  it.each([
    [[], /Container\.register\(\) options must be an options object; received an array/],
    [{ replcae: true }, /Container\.register\(\) options: unknown option "replcae"; known options: replace/],
  ])('register() refuses the options %o', (options, message) => {
    const c = new Container();
    expect(() => c.register(T, provider, options as never)).toThrow(message);
    expect(() => c.register(T, provider, options as never)).toThrow(InvalidArgumentError);
    expect(c.has(T)).toBe(false);
  });

  it('register() refuses a provider with a misspelt key, naming it and the known ones', () => {
    const c = new Container();
    const misspelt = { lifetime: 'singleton', factory: () => 1, dispos: () => {} };
    expect(() => c.register(T, misspelt as never)).toThrow(
      new InvalidArgumentError(
        'Container.register() provider for "t": unknown option "dispos"; known options: lifetime, factory, dispose',
      ),
    );
    expect(() => c.register(T, [] as never)).toThrow(/provider for "t" must be an object; received an array/);
    expect(c.has(T)).toBe(false);
  });

  it.each([
    [[], /Container\.resolveAsync\(\) options must be an options object; received an array/],
    [
      { signl: undefined },
      /Container\.resolveAsync\(\) options: unknown option "signl"; known options: signal/,
    ],
  ])(
    'resolveAsync() refuses the options %o, from the outside and inside a factory',
    async (options, message) => {
      const Outer = token<unknown>('outer');
      const c = new Container()
        .register(T, provider)
        .register(Outer, { lifetime: 'transient', factory: (r) => r.resolveAsync(T, options as never) });
      expect(() => c.resolveAsync(T, options as never)).toThrow(message);
      const error = await c.resolveAsync(Outer).catch((e: unknown) => e);
      expect((error as Error).cause).toBeInstanceOf(InvalidArgumentError);
      expect(((error as Error).cause as Error).message).toMatch(message);
    },
  );
});
