import { describe, expectTypeOf, it } from 'vitest';
import { Container, type Resolver, type Token, token } from './index.ts';

interface Db {
  query(sql: string): Promise<unknown[]>;
}
interface Logger {
  log(message: string): void;
}
const DbT = token<Db>('db');
const LoggerT = token<Logger>('logger');
const db: Db = { query: async () => [] };
const logger: Logger = { log: () => {} };

describe('container types', () => {
  it('types a token with what it stands for', () => {
    expectTypeOf(DbT).toEqualTypeOf<Token<Db>>();
    expectTypeOf(token('x')).toEqualTypeOf<Token<unknown>>();
  });

  it('types resolve and resolveAsync with the token', () => {
    const c = new Container().register(DbT, { lifetime: 'singleton', factory: () => db });
    expectTypeOf(c.resolve(DbT)).toEqualTypeOf<Db>();
    expectTypeOf(c.resolveAsync(DbT)).toEqualTypeOf<Promise<Db>>();
    expectTypeOf(c.createScope()).toEqualTypeOf<Container>();
  });

  it('accepts sync and async factories of the right type, and gives them a resolver', () => {
    new Container().register(LoggerT, { lifetime: 'transient', factory: () => logger }).register(DbT, {
      lifetime: 'singleton',
      factory: async (r) => {
        expectTypeOf(r).toEqualTypeOf<Resolver>();
        expectTypeOf(r.resolve(LoggerT)).toEqualTypeOf<Logger>();
        return db;
      },
      dispose: (instance) => {
        expectTypeOf(instance).toEqualTypeOf<Db>();
      },
    });
  });

  it('rejects a factory returning the wrong type', () => {
    const c = new Container();
    // @ts-expect-error: a Logger is not a Db
    c.register(DbT, { lifetime: 'singleton', factory: () => logger });
    // @ts-expect-error: a promise of a Logger is not a Db either
    c.register(DbT, { lifetime: 'singleton', factory: async () => logger });
    // @ts-expect-error: the disposer takes a Db
    c.register(DbT, { lifetime: 'singleton', factory: () => db, dispose: (l: Logger) => l.log('') });
  });

  it('rejects an unknown lifetime and a non-token key', () => {
    const c = new Container();
    // @ts-expect-error: no such lifetime
    c.register(DbT, { lifetime: 'forever', factory: () => db });
    // @ts-expect-error: a string is not a token
    c.resolve('db');
  });

  it('is AsyncDisposable, so await using works', () => {
    expectTypeOf(new Container()).toExtend<AsyncDisposable>();
  });
});
