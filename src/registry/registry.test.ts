import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, KeelError } from '../errors.ts';
import { AsyncSchemaError, type StandardSchemaV1 } from '../standard-schema.ts';
import { DuplicateKindError, InvalidOptionsError, Registry, UnknownKindError } from './registry.ts';

/** A hand-written Standard Schema: `{ port: number }` with a default of 80, optionally async. */
function portSchema(async = false): StandardSchemaV1<unknown, { port: number }> {
  const check = (value: unknown) => {
    if (typeof value !== 'object' || value === null) return { issues: [{ message: 'expected an object' }] };
    const port = (value as { port?: unknown }).port ?? 80;
    if (typeof port !== 'number')
      return { issues: [{ message: 'expected a number', path: [{ key: 'port' }] }] };
    return { value: { port } };
  };
  return {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (value) => (async ? Promise.resolve(check(value)) : check(value)),
    },
  };
}

const animals = () =>
  new Registry('animal')
    .register('cat', (name: string) => ({ kind: 'cat' as const, name }))
    .register('dog', () => ({ kind: 'dog' as const }));

describe('Registry', () => {
  it('creates by name with the factory’s arguments and lists names in registration order', () => {
    const registry = animals();
    expect(registry.create('cat', 'Tom')).toEqual({ kind: 'cat', name: 'Tom' });
    expect(registry.create('dog')).toEqual({ kind: 'dog' });
    expect(registry.names()).toEqual(['cat', 'dog']);
    expect(registry.has('cat')).toBe(true);
    expect(registry.has('Cat')).toBe(false);
  });

  it('throws UnknownKindError listing the known names for an unknown one', () => {
    const registry = animals();
    const error = (() => {
      try {
        registry.create('cow');
      } catch (e) {
        return e;
      }
    })() as UnknownKindError;
    expect(error).toBeInstanceOf(UnknownKindError);
    expect(error).toBeInstanceOf(KeelError);
    expect(error.code).toBe('KEEL_UNKNOWN_KIND');
    expect(error.message).toBe('Unknown animal "cow" (known: cat, dog)');
    expect(error.requested).toBe('cow');
    expect(error.known).toEqual(['cat', 'dog']);
  });

  it('matches names exactly: prototype names, case variants, padding and the empty string are unknown', () => {
    const registry = animals();
    for (const name of [
      'constructor',
      '__proto__',
      'toString',
      'hasOwnProperty',
      '',
      'CAT',
      ' cat',
      'cat ',
    ]) {
      expect(registry.has(name)).toBe(false);
      expect(() => registry.create(name)).toThrow(UnknownKindError);
    }
  });

  it('can register prototype-like names as ordinary names', () => {
    const registry = new Registry('thing').register('__proto__', () => 1).register('constructor', () => 2);
    expect(registry.create('__proto__')).toBe(1);
    expect(registry.create('constructor')).toBe(2);
    expect(registry.names()).toEqual(['__proto__', 'constructor']);
  });

  it('says when nothing is registered', () => {
    expect(() => new Registry('plugin').create('x')).toThrow('Unknown plugin "x" (none are registered)');
  });

  it('refuses to register a name twice, keeping the first factory', () => {
    const registry = animals();
    expect(() => registry.register('cat', () => 'other')).toThrow(DuplicateKindError);
    expect(() => registry.register('cat', () => 'other')).toThrow('The animal "cat" is already registered');
    expect(registry.create('cat', 'Tom')).toEqual({ kind: 'cat', name: 'Tom' });
  });

  it('rejects bad registrations with errors naming what came', () => {
    const registry = new Registry('animal');
    expect(() => registry.register('', () => 1)).toThrow(
      /animal name must be a non-empty string; received ""/,
    );
    expect(() => registry.register(3 as never, () => 1)).toThrow(InvalidArgumentError);
    expect(() => registry.register('x', 'nope' as never)).toThrow(
      /factory for animal "x" must be a function/,
    );
    expect(() => registry.register('x', () => 1, { schema: {} as never })).toThrow(/Standard Schema v1/);
    expect(() => new Registry('')).toThrow(/label must be a non-empty string/);
    expect(registry.names()).toEqual([]);
  });
});

describe('Registry.register() options', () => {
  it('refuses an unknown option, naming the call, the key and the known keys, and registers nothing', () => {
    const registry = new Registry('codec');
    expect(() => registry.register('json', () => 1, { shema: {} } as never)).toThrow(
      'Registry.register() options: unknown option "shema"; known options: schema',
    );
    expect(registry.has('json')).toBe(false);
  });
});

describe('Registry with schemas', () => {
  it('validates the options and passes the schema’s output (defaults filled) to the factory', () => {
    const servers = new Registry('server').register('http', (options: { port: number }) => options.port, {
      schema: portSchema(),
    });
    expect(servers.create('http', { port: 8080 })).toBe(8080);
    expect(servers.create('http', {} as { port: number })).toBe(80);
  });

  it('rejects invalid options with InvalidOptionsError naming the entry and the failing path', () => {
    const servers = new Registry('server').register('http', (options: { port: number }) => options, {
      schema: portSchema(),
    });
    const attempt = () => servers.create('http', { port: 'eighty' } as never);
    expect(attempt).toThrow(InvalidOptionsError);
    expect(attempt).toThrow('Invalid options for server "http": port: expected a number');
    expect(() => servers.create('http', null as never)).toThrow('(root): expected an object');
  });

  it('asks for createAsync when the schema validates asynchronously, and createAsync works', async () => {
    const servers = new Registry('server').register('http', (options: { port: number }) => options.port, {
      schema: portSchema(true),
    });
    expect(() => servers.create('http', { port: 1 })).toThrow(AsyncSchemaError);
    expect(() => servers.create('http', { port: 1 })).toThrow(/validates asynchronously; use createAsync/);
    await expect(servers.createAsync('http', { port: 1 })).resolves.toBe(1);
    await expect(servers.createAsync('http', { port: 'x' } as never)).rejects.toBeInstanceOf(
      InvalidOptionsError,
    );
  });

  it('createAsync awaits an async factory and reports unknown names', async () => {
    const registry = new Registry('conn').register('db', async () => 'connected');
    await expect(registry.createAsync('db')).resolves.toBe('connected');
    await expect(registry.createAsync('cache')).rejects.toBeInstanceOf(UnknownKindError);
  });
});

describe('Registry.resolveUrl', () => {
  const transports = new Registry('transport')
    .register('nats', (url: URL) => `nats at ${url.host}`)
    .register('memory', () => 'memory');

  it('finds the entry named by the URL scheme', () => {
    const { kind, url } = transports.resolveUrl('nats://127.0.0.1:4222');
    expect(kind).toBe('nats');
    expect(transports.create(kind, url)).toBe('nats at 127.0.0.1:4222');
    expect(transports.resolveUrl(new URL('memory://')).kind).toBe('memory');
  });

  it('an unregistered scheme is an UnknownKindError listing the known ones', () => {
    expect(() => transports.resolveUrl('kafka://broker:9092')).toThrow(
      'Unknown transport "kafka" (known: nats, memory)',
    );
  });

  it('a host without a scheme reads as an unknown scheme, named in the error', () => {
    expect(() => transports.resolveUrl('localhost:4222')).toThrow('Unknown transport "localhost"');
  });

  it('a string that is not a URL is an InvalidArgumentError naming it', () => {
    expect(() => transports.resolveUrl('://missing-scheme')).toThrow(InvalidArgumentError);
    expect(() => transports.resolveUrl('not a url')).toThrow(
      /transport URL must be a valid URL string; received "not a url"/,
    );
    expect(() => transports.resolveUrl(42 as never)).toThrow(/received 42/);
  });
});
