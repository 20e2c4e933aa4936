/**
 * The one test suite every ShapeRepository passes (SQLite and memory here; PostgreSQL later): call
 * `runRepositoryContract('sqlite', () => openSqliteRepository(path))` inside a vitest file.
 */
import { ShapeFactory } from 'keel/shapes';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Shape, ShapeKind } from '../contracts.ts';
import { ShapeConflictError, StorageClosedError } from '../errors.ts';
import type { ShapeRepository } from './repository.ts';
import { newShapeId } from './shape-id.ts';

/** A shape as the service stores it, made by ShapeFactory. */
export function makeShape(kind: ShapeKind = 'circle', id: string = newShapeId()): Shape {
  const dimensions =
    kind === 'circle' ? { radius: 2 } : kind === 'rectangle' ? { width: 3, height: 4 } : { a: 3, b: 4, c: 5 };
  const shape = ShapeFactory.createShape(kind, dimensions as never);
  return {
    id,
    kind,
    dimensions,
    area: shape.area(),
    perimeter: shape.perimeter(),
    svg: shape.toSVG(),
    createdAt: new Date().toISOString(),
  } as Shape;
}

export function runRepositoryContract(
  name: string,
  open: () => ShapeRepository | Promise<ShapeRepository>,
): void {
  describe(`ShapeRepository contract: ${name}`, () => {
    let repo: ShapeRepository;
    beforeEach(async () => {
      repo = await open();
    });
    afterEach(async () => {
      await repo.close();
    });

    it('stores a shape and reads back every field exactly', async () => {
      const shape = makeShape('triangle');
      await repo.insert(shape);
      expect(await repo.get(shape.id)).toEqual(shape);
      expect(await repo.get('no-such-id')).toBeUndefined();
    });

    it('keeps fractional numbers and SVG text unchanged', async () => {
      const shape = {
        ...makeShape('circle'),
        area: 0.1 + 0.2,
        perimeter: 1e-300,
        svg: '<svg>é "q" & </svg>',
      };
      await repo.insert(shape);
      expect(await repo.get(shape.id)).toEqual(shape);
    });

    it('refuses a second shape with the same id with ShapeConflictError, keeping the first', async () => {
      const first = makeShape('circle');
      await repo.insert(first);
      const second = { ...makeShape('rectangle'), id: first.id };
      await expect(repo.insert(second)).rejects.toBeInstanceOf(ShapeConflictError);
      expect(await repo.get(first.id)).toEqual(first);
    });

    it('lists newest first, in pages joined by cursors, with nothing lost or repeated', async () => {
      const made: Shape[] = [];
      for (let i = 0; i < 7; i++) {
        const shape = makeShape(shapeKindAt(i));
        made.push(shape);
        await repo.insert(shape);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await repo.list({ limit: 3, ...(cursor === undefined ? {} : { cursor }) });
        pages++;
        expect(page.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.items.map((s) => s.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(made.map((s) => s.id).reverse());
    });

    it('gives no next cursor when a page ends exactly at the last shape', async () => {
      for (let i = 0; i < 4; i++) await repo.insert(makeShape());
      const page = await repo.list({ limit: 4 });
      expect(page.items).toHaveLength(4);
      expect(page.nextCursor).toBeNull();
      expect(await repo.list({ limit: 4 })).toEqual(page);
    });

    it('filters by kind, across pages', async () => {
      const circles: string[] = [];
      for (let i = 0; i < 9; i++) {
        const shape = makeShape(shapeKindAt(i));
        if (shape.kind === 'circle') circles.push(shape.id);
        await repo.insert(shape);
      }
      const first = await repo.list({ kind: 'circle', limit: 2 });
      expect(first.items.every((s) => s.kind === 'circle')).toBe(true);
      const second = await repo.list({ kind: 'circle', limit: 2, cursor: first.nextCursor as string });
      expect([...first.items, ...second.items].map((s) => s.id)).toEqual(circles.reverse());
      expect(second.nextCursor).toBeNull();
      expect((await repo.list({ kind: 'rectangle' })).items).toHaveLength(3);
    });

    it('uses 20 as the default page size and caps a page at 100', async () => {
      for (let i = 0; i < 105; i++) await repo.insert(makeShape());
      expect((await repo.list()).items).toHaveLength(20);
      const big = await repo.list({ limit: 1000 });
      expect(big.items).toHaveLength(100);
      expect(big.nextCursor).not.toBeNull();
    });

    it('an empty store lists an empty last page; a cursor past the end too', async () => {
      expect(await repo.list()).toEqual({ items: [], nextCursor: null });
      await repo.insert(makeShape());
      expect(await repo.list({ cursor: '0' })).toEqual({ items: [], nextCursor: null });
    });

    it('treats ids and cursors as data, never as query text', async () => {
      const shape = makeShape();
      await repo.insert(shape);
      expect(await repo.get("' OR '1'='1")).toBeUndefined();
      expect(await repo.delete("' OR '1'='1")).toBeUndefined();
      expect((await repo.list({ cursor: "zzzz' OR 1=1 --" })).items.map((s) => s.id)).toEqual([shape.id]);
      expect(await repo.get(shape.id)).toEqual(shape);
    });

    it('deletes a shape, returning it, and a second delete finds nothing', async () => {
      const shape = makeShape('rectangle');
      await repo.insert(shape);
      expect(await repo.delete(shape.id)).toEqual(shape);
      expect(await repo.get(shape.id)).toBeUndefined();
      expect(await repo.delete(shape.id)).toBeUndefined();
      expect((await repo.list()).items).toEqual([]);
    });

    it('answers ping while open; after close every call rejects with StorageClosedError', async () => {
      await expect(repo.ping()).resolves.toBeUndefined();
      const aborted = AbortSignal.abort(new Error('gone'));
      await expect(repo.ping(aborted)).rejects.toThrow('gone');
      await repo.close();
      await repo.close();
      await expect(repo.ping()).rejects.toBeInstanceOf(StorageClosedError);
      await expect(repo.get('x')).rejects.toBeInstanceOf(StorageClosedError);
      await expect(repo.insert(makeShape())).rejects.toBeInstanceOf(StorageClosedError);
      await expect(repo.list()).rejects.toBeInstanceOf(StorageClosedError);
      await expect(repo.delete('x')).rejects.toBeInstanceOf(StorageClosedError);
    });

    it('ids made in a burst sort in creation order', () => {
      const ids = Array.from({ length: 5000 }, () => newShapeId());
      expect([...ids].sort()).toEqual(ids);
      expect(new Set(ids).size).toBe(ids.length);
    });
  });
}

function shapeKindAt(i: number): ShapeKind {
  return (['circle', 'rectangle', 'triangle'] as const)[i % 3] as ShapeKind;
}
