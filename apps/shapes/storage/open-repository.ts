/** Opens the shapes repository a DATABASE_URL names: `sqlite:<path>` (the default), or `memory://`. */
import { ConfigError } from '../errors.ts';
import { openMemoryRepository } from './memory-repository.ts';
import { openPostgresRepository } from './postgres-repository.ts';
import type { ShapeRepository } from './repository.ts';
import { openSqliteRepository } from './sqlite-repository.ts';

/** The default store: a SQLite file under data/ in the working directory. */
export const defaultDatabaseUrl = 'sqlite:data/shapes.db';

/** Where the URL points, or why it cannot be used (checked at start, before anything opens). */
export type DatabaseTarget =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'memory' }
  | { readonly kind: 'postgres'; readonly url: string };

/**
 * Reads a DATABASE_URL: `sqlite:data/shapes.db` (relative to the working directory), `sqlite:///abs/path.db`,
 * `sqlite::memory:`, `memory://`, or `postgres://…` (PostgreSQL, for many instances sharing one store).
 * @throws ConfigError naming DATABASE_URL.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url === 'memory://') return { kind: 'memory' };
  if (url.startsWith('sqlite:')) {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '' || path.endsWith('/')) {
      throw new ConfigError(
        'DATABASE_URL',
        `a sqlite: URL needs a file path (sqlite:data/shapes.db); received ${JSON.stringify(url)}`,
      );
    }
    return { kind: 'sqlite', path };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  throw new ConfigError(
    'DATABASE_URL',
    `must be sqlite:<path>, memory:// or postgres://…; received ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}`,
  );
}

export async function openRepository(url: string): Promise<ShapeRepository> {
  const target = parseDatabaseUrl(url);
  switch (target.kind) {
    case 'memory':
      return openMemoryRepository();
    case 'sqlite':
      return openSqliteRepository(target.path);
    case 'postgres':
      return openPostgresRepository(target.url);
  }
}
