/**
 * The shapes repository on a real PostgreSQL server (started here from Debian's packages): the same
 * contract suite SQLite passes, migrations run once when instances start together, and an unreachable
 * or restarting database fails calls fast with a retryable StorageUnavailableError, then recovers alone.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageUnavailableError } from '../../apps/shapes/errors.ts';
import { openPostgresRepository } from '../../apps/shapes/storage/postgres-repository.ts';
import { makeShape, runRepositoryContract } from '../../apps/shapes/storage/repository.contract.ts';
import { type Engine, startPostgres } from '../../scripts/engines.ts';

let server: Engine;
let admin: pg.Pool;
let n = 0;

beforeAll(async () => {
  server = await startPostgres();
  admin = new pg.Pool({ connectionString: server.url, max: 2 });
  // Its idle connections die with the restart below; the pool replaces them.
  admin.on('error', () => {});
}, 60_000);

afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

/** A fresh database per repository, so each contract test starts from an empty store. */
async function freshDatabase(): Promise<string> {
  const name = `shapes_${process.pid}_${n++}`;
  await admin.query(`CREATE DATABASE ${name}`);
  return server.url.replace(/\/[^/]+$/, `/${name}`);
}

runRepositoryContract('postgres', async () => openPostgresRepository(await freshDatabase()));

describe('the PostgreSQL repository', () => {
  it('runs its migrations once when several instances start at the same moment', async () => {
    const url = await freshDatabase();
    const repos = await Promise.all(Array.from({ length: 5 }, () => openPostgresRepository(url)));
    try {
      const check = new pg.Pool({ connectionString: url, max: 1 });
      const { rows } = await check.query('SELECT version FROM keel_schema_migrations ORDER BY version');
      await check.end();
      expect(rows).toEqual([{ version: 1 }]);
      const shape = makeShape('rectangle');
      await repos[0]?.insert(shape);
      expect(await repos[4]?.get(shape.id)).toEqual(shape);
    } finally {
      await Promise.all(repos.map((r) => r.close()));
    }
  });

  it('an unreachable server fails the open fast with StorageUnavailableError', async () => {
    const started = Date.now();
    const error = await openPostgresRepository('postgres://keel@127.0.0.1:1/keel').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageUnavailableError);
    expect((error as StorageUnavailableError).retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('while the server restarts, calls fail fast as unavailable; afterwards the same repository works again', async () => {
    const repo = await openPostgresRepository(await freshDatabase());
    try {
      const shape = makeShape('circle');
      await repo.insert(shape);
      await server.kill();
      const started = Date.now();
      const during = await repo.get(shape.id).catch((e: unknown) => e);
      expect(during).toBeInstanceOf(StorageUnavailableError);
      expect(Date.now() - started).toBeLessThan(3000);
      await expect(repo.ping()).rejects.toBeInstanceOf(StorageUnavailableError);
      await server.start();
      // The pool drops the dead connections and opens new ones on the next call.
      let back: unknown;
      for (let i = 0; i < 50; i++) {
        back = await repo.get(shape.id).catch((e: unknown) => e);
        if (!(back instanceof Error)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(back).toEqual(shape);
    } finally {
      await repo.close();
    }
  }, 60_000);
});
