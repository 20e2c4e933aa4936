/** The storage contract of the shapes service: what SQLite, memory and (later) PostgreSQL each implement. */
import { InvalidArgumentError } from 'keel';
import type { Shape, ShapeKind } from '../contracts.ts';

export interface ListOptions {
  /** The `nextCursor` of the previous page; the page starts after that shape. */
  readonly cursor?: string | undefined;
  /** Shapes in the page. @default 20 */
  readonly limit?: number | undefined;
  /** Only shapes of this kind. */
  readonly kind?: ShapeKind | undefined;
}

export interface Page {
  /** Newest first. */
  readonly items: Shape[];
  /** The cursor of the next page, or null when this page is the last. */
  readonly nextCursor: string | null;
}

/**
 * Where shapes live. Ids are made by the caller (`newShapeId`) and sort by creation time: pages run newest
 * first, and a cursor is the id of a page's last shape. Every implementation passes
 * `runRepositoryContract` (storage/repository.contract.ts).
 */
export interface ShapeRepository extends AsyncDisposable {
  /** Which engine this is (`sqlite`, `memory`, `postgres`), for health output. */
  readonly kind: string;
  /** Stores a new shape. @throws ShapeConflictError when its id is taken. */
  insert(shape: Shape): Promise<void>;
  /** The shape with this id, or undefined. */
  get(id: string): Promise<Shape | undefined>;
  list(options?: ListOptions): Promise<Page>;
  /** Removes the shape; the removed shape, or undefined when there was none. */
  delete(id: string): Promise<Shape | undefined>;
  /** Resolves when the store answers a trivial query; rejects otherwise (readiness checks call it). */
  ping(signal?: AbortSignal): Promise<void>;
  /** Closes the store; idempotent. Calls after it reject. */
  close(): Promise<void>;
}

export const defaultLimit = 20;
export const maxLimit = 100;

/** The limit a list call uses: the default when none, never above maxLimit. */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return defaultLimit;
  if (!Number.isInteger(limit) || limit < 1)
    throw new InvalidArgumentError(`ShapeRepository.list() limit must be an integer ≥ 1; received ${limit}`);
  return Math.min(limit, maxLimit);
}

/** A stored shape as SQL returns it: `dimensions` as JSON text (SQLite) or already parsed (PostgreSQL JSONB). */
export interface ShapeRow {
  id: string;
  kind: string;
  dimensions: string | Record<string, number>;
  area: number;
  perimeter: number;
  svg: string;
  created_at: string;
}

/** The columns every SQL repository selects, in the order its inserts bind them. */
export const shapeColumns = 'id, kind, dimensions, area, perimeter, svg, created_at';

/** A row back to a shape. */
export function rowToShape(row: ShapeRow): Shape {
  return {
    id: row.id,
    kind: row.kind,
    dimensions: typeof row.dimensions === 'string' ? JSON.parse(row.dimensions) : row.dimensions,
    area: row.area,
    perimeter: row.perimeter,
    svg: row.svg,
    createdAt: row.created_at,
  } as Shape;
}
