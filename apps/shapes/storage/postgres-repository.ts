/**
 * The shapes repository on PostgreSQL (the `pg` driver, loaded when a postgres:// URL is used): a pool with
 * short connect and statement bounds so an unreachable database fails a request fast, parameterised SQL
 * only, and migrations that run at start under an advisory lock, so instances starting together apply
 * each one once.
 */
import type { Pool, PoolConfig } from 'pg';
import { ShapeConflictError, StorageClosedError, StorageUnavailableError } from '../errors.ts';
import {
  shapeColumns as columns,
  type ListOptions,
  type Page,
  pageLimit,
  type ShapeRow as Row,
  type ShapeRepository,
  rowToShape as toShape,
} from './repository.ts';

/** Migrations in order; a migration is never edited once released, only followed by a new one. */
const migrations: readonly string[] = [
  `CREATE TABLE shapes (
     id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     dimensions JSONB NOT NULL,
     area DOUBLE PRECISION NOT NULL,
     perimeter DOUBLE PRECISION NOT NULL,
     svg TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE INDEX shapes_kind_id ON shapes (kind, id)`,
];

/** The advisory lock key that serialises migrations across instances ("keel" in ASCII). */
const migrationLock = 0x6b65656c;

/** Errors that mean "the database is not reachable right now", as opposed to a wrong query. */
function unavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (typeof e?.code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(e.code))
      return true;
    // 08xxx connection exceptions, 57P01..57P03 shutdown / cannot connect now, 53300 too many connections.
    if (/^08|^57P0[123]$|^53300$/.test(e.code)) return true;
  }
  return /timeout|Connection terminated|not queryable|Client has encountered a connection error/i.test(
    e?.message ?? '',
  );
}

export interface PostgresRepositoryOptions {
  /** Connections in the pool. @default 10 */
  readonly max?: number;
  /** How long getting a connection may take before the request fails as unavailable. @default 1000 */
  readonly connectTimeoutMs?: number;
  /** A statement's bound, on the server and on the client. @default 5000 */
  readonly statementTimeoutMs?: number;
}

/** Opens a pool on `url`, runs the migrations, and returns the repository. */
export async function openPostgresRepository(
  url: string,
  options: PostgresRepositoryOptions = {},
): Promise<ShapeRepository> {
  const { default: pg } = (await import('pg')) as unknown as {
    default: { Pool: new (c: PoolConfig) => Pool };
  };
  const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 1000,
    idleTimeoutMillis: 10_000,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + 1000,
    allowExitOnIdle: true,
  });
  // An idle connection the server closed (a restart) is reported here; the pool replaces it on next use.
  pool.on('error', () => {});
  let closed = false;

  const query = async <R>(text: string, values: readonly unknown[]): Promise<R[]> => {
    if (closed) throw new StorageClosedError();
    try {
      return (await pool.query(text, values as unknown[])).rows as R[];
    } catch (error) {
      if (closed) throw new StorageClosedError();
      if (unavailable(error)) throw new StorageUnavailableError(error);
      throw error;
    }
  };

  try {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [migrationLock]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS keel_schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
      );
      const done = new Set(
        (await client.query<{ version: number }>('SELECT version FROM keel_schema_migrations')).rows.map(
          (r) => r.version,
        ),
      );
      for (const [index, sql] of migrations.entries()) {
        if (done.has(index + 1)) continue;
        await client.query(sql);
        await client.query('INSERT INTO keel_schema_migrations (version) VALUES ($1)', [index + 1]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => {});
    if (unavailable(error)) {
      // At start, say which setting points where (without its password), and what the driver said.
      const shown = url.replace(/\/\/[^@/]*@/, '//***@');
      const why = (error as Error).message || (error as { code?: string }).code || 'no answer';
      throw new StorageUnavailableError(error, `DATABASE_URL ${shown} did not answer: ${why}`);
    }
    throw error;
  }

  const repository: ShapeRepository = {
    kind: 'postgres',
    async insert(shape) {
      try {
        await query(`INSERT INTO shapes (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
          shape.id,
          shape.kind,
          JSON.stringify(shape.dimensions),
          shape.area,
          shape.perimeter,
          shape.svg,
          shape.createdAt,
        ]);
      } catch (error) {
        if ((error as { code?: string }).code === '23505') throw new ShapeConflictError(shape.id);
        throw error;
      }
    },
    async get(id) {
      const [row] = await query<Row>(`SELECT ${columns} FROM shapes WHERE id = $1`, [id]);
      return row === undefined ? undefined : toShape(row);
    },
    async list(options: ListOptions = {}): Promise<Page> {
      const limit = pageLimit(options.limit);
      const { cursor, kind } = options;
      // Each filter is a fixed clause with a parameter; nothing from the caller becomes SQL text.
      const rows = await query<Row>(
        `SELECT ${columns} FROM shapes
         WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3`,
        [kind ?? null, cursor ?? null, limit + 1],
      );
      const items = rows.slice(0, limit).map(toShape);
      return { items, nextCursor: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
    },
    async delete(id) {
      const [row] = await query<Row>(`DELETE FROM shapes WHERE id = $1 RETURNING ${columns}`, [id]);
      return row === undefined ? undefined : toShape(row);
    },
    async ping(signal) {
      signal?.throwIfAborted();
      await query('SELECT 1', []);
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
    [Symbol.asyncDispose]() {
      return repository.close();
    },
  };
  return repository;
}
