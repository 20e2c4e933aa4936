import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../apps/shapes/errors.ts';
import { openMemoryRepository } from '../../apps/shapes/storage/memory-repository.ts';
import { openRepository, parseDatabaseUrl } from '../../apps/shapes/storage/open-repository.ts';
import { makeShape, runRepositoryContract } from '../../apps/shapes/storage/repository.contract.ts';
import { openSqliteRepository } from '../../apps/shapes/storage/sqlite-repository.ts';

const dir = mkdtempSync(join(tmpdir(), 'keel-shapes-repo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

runRepositoryContract('sqlite file', () => openSqliteRepository(join(dir, `nested/dir/${n++}.db`)));
runRepositoryContract('sqlite :memory:', () => openSqliteRepository(':memory:'));
runRepositoryContract('memory', () => openMemoryRepository());

describe('the SQLite repository', () => {
  it('creates the directory and the schema, uses WAL, and keeps shapes across a reopen', async () => {
    const path = join(dir, 'a/b/shapes.db');
    const first = openSqliteRepository(path);
    const shape = makeShape('triangle');
    await first.insert(shape);
    await first.close();
    expect(statSync(path).isFile()).toBe(true);
    expect(statSync(`${path}-wal`, { throwIfNoEntry: false })).toBeUndefined(); // checkpointed on close
    await using second = openSqliteRepository(path);
    expect(await second.get(shape.id)).toEqual(shape);
  });

  it('two handles on one file see each other’s writes (several processes may share it)', async () => {
    const path = join(dir, 'shared.db');
    await using a = openSqliteRepository(path);
    await using b = openSqliteRepository(path);
    const shape = makeShape();
    await a.insert(shape);
    expect(await b.get(shape.id)).toEqual(shape);
    expect(await b.delete(shape.id)).toEqual(shape);
    expect(await a.get(shape.id)).toBeUndefined();
  });
});

describe('DATABASE_URL', () => {
  it('reads sqlite paths, memory:// and postgres://', () => {
    expect(parseDatabaseUrl('sqlite:data/shapes.db')).toEqual({ kind: 'sqlite', path: 'data/shapes.db' });
    expect(parseDatabaseUrl('sqlite:///tmp/x.db')).toEqual({ kind: 'sqlite', path: '/tmp/x.db' });
    expect(parseDatabaseUrl('sqlite::memory:')).toEqual({ kind: 'sqlite', path: ':memory:' });
    expect(parseDatabaseUrl('memory://')).toEqual({ kind: 'memory' });
    expect(parseDatabaseUrl('postgres://u:p@h/db').kind).toBe('postgres');
  });

  it('refuses anything else naming DATABASE_URL, never echoing credentials', async () => {
    for (const bad of ['mysql://root:secret@h/db', 'sqlite:', 'sqlite:dir/', 'data/shapes.db']) {
      const error = (() => {
        try {
          parseDatabaseUrl(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/^DATABASE_URL: /);
      expect((error as Error).message).not.toContain('secret');
    }
    await expect(openRepository('postgres://keel@127.0.0.1:1/keel')).rejects.toThrow(
      /^DATABASE_URL postgres:\/\/\*\*\*@127\.0\.0\.1:1\/keel did not answer \(credentials hidden\)|^DATABASE_URL postgres:\/\/\*\*\*@127\.0\.0\.1:1\/keel did not answer/,
    );
  });
});
