/** The shapes repository on node:sqlite: one file, WAL journal, parameterised statements prepared once. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { ShapeConflictError, StorageClosedError } from '../errors.ts';
import {
  shapeColumns as columns,
  type ListOptions,
  type Page,
  pageLimit,
  type ShapeRow as Row,
  type ShapeRepository,
  rowToShape as toShape,
} from './repository.ts';

const schema = `
CREATE TABLE IF NOT EXISTS shapes (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  dimensions TEXT NOT NULL,
  area REAL NOT NULL,
  perimeter REAL NOT NULL,
  svg TEXT NOT NULL,
  created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS shapes_kind_id ON shapes (kind, id);
`;

/**
 * Opens (creating it and its directory when missing) the SQLite file at `path`, or an in-memory database
 * for `:memory:`, and creates the schema. Several processes may share one file (WAL, a busy timeout).
 */
export function openSqliteRepository(path: string): ShapeRepository {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path, { timeout: 5000 });
  try {
    if (path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec(schema);
  } catch (error) {
    db.close();
    throw error;
  }
  const statements = {
    insert: db.prepare(`INSERT INTO shapes (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    get: db.prepare(`SELECT ${columns} FROM shapes WHERE id = ?`),
    delete: db.prepare(`DELETE FROM shapes WHERE id = ? RETURNING ${columns}`),
    ping: db.prepare('SELECT 1 AS ok'),
    // One statement per combination of filters, so each query stays a constant, parameterised string.
    list: db.prepare(`SELECT ${columns} FROM shapes ORDER BY id DESC LIMIT ?`),
    listAfter: db.prepare(`SELECT ${columns} FROM shapes WHERE id < ? ORDER BY id DESC LIMIT ?`),
    listKind: db.prepare(`SELECT ${columns} FROM shapes WHERE kind = ? ORDER BY id DESC LIMIT ?`),
    listKindAfter: db.prepare(
      `SELECT ${columns} FROM shapes WHERE kind = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    ),
  } satisfies Record<string, StatementSync>;
  let closed = false;
  const open = (): void => {
    if (closed) throw new StorageClosedError();
  };

  const repository: ShapeRepository = {
    kind: 'sqlite',
    async insert(shape) {
      open();
      try {
        statements.insert.run(
          shape.id,
          shape.kind,
          JSON.stringify(shape.dimensions),
          shape.area,
          shape.perimeter,
          shape.svg,
          shape.createdAt,
        );
      } catch (error) {
        if ((error as { errcode?: number }).errcode === 1555 /* SQLITE_CONSTRAINT_PRIMARYKEY */) {
          throw new ShapeConflictError(shape.id);
        }
        throw error;
      }
    },
    async get(id) {
      open();
      const row = statements.get.get(id) as Row | undefined;
      return row === undefined ? undefined : toShape(row);
    },
    async list(options: ListOptions = {}): Promise<Page> {
      open();
      const limit = pageLimit(options.limit);
      const { cursor, kind } = options;
      const rows = (kind === undefined
        ? cursor === undefined
          ? statements.list.all(limit + 1)
          : statements.listAfter.all(cursor, limit + 1)
        : cursor === undefined
          ? statements.listKind.all(kind, limit + 1)
          : statements.listKindAfter.all(kind, cursor, limit + 1)) as unknown as Row[];
      const items = rows.slice(0, limit).map(toShape);
      return { items, nextCursor: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
    },
    async delete(id) {
      open();
      const row = statements.delete.get(id) as Row | undefined;
      return row === undefined ? undefined : toShape(row);
    },
    async ping(signal) {
      signal?.throwIfAborted();
      open();
      statements.ping.get();
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
    [Symbol.asyncDispose]() {
      return repository.close();
    },
  };
  return repository;
}
