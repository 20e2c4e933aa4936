/** The shapes repository in this process's memory: for tests and throwaway runs (`DATABASE_URL=memory://`). */
import type { Shape } from '../contracts.ts';
import { ShapeConflictError, StorageClosedError } from '../errors.ts';
import { type ListOptions, type Page, pageLimit, type ShapeRepository } from './repository.ts';

export function openMemoryRepository(): ShapeRepository {
  // Kept sorted by id, newest last, so a page is a walk back from the cursor's position.
  const shapes = new Map<string, Shape>();
  let sorted: string[] | undefined;
  let closed = false;
  const open = (): void => {
    if (closed) throw new StorageClosedError();
  };
  const ids = (): string[] => {
    sorted ??= [...shapes.keys()].sort();
    return sorted;
  };
  const copy = (shape: Shape): Shape => structuredClone(shape);

  const repository: ShapeRepository = {
    kind: 'memory',
    async insert(shape) {
      open();
      if (shapes.has(shape.id)) throw new ShapeConflictError(shape.id);
      shapes.set(shape.id, copy(shape));
      sorted = undefined;
    },
    async get(id) {
      open();
      const shape = shapes.get(id);
      return shape === undefined ? undefined : copy(shape);
    },
    async list(options: ListOptions = {}): Promise<Page> {
      open();
      const limit = pageLimit(options.limit);
      const all = ids();
      const items: Shape[] = [];
      let more = false;
      for (let i = all.length - 1; i >= 0; i--) {
        const id = all[i] as string;
        if (options.cursor !== undefined && id >= options.cursor) continue;
        const shape = shapes.get(id) as Shape;
        if (options.kind !== undefined && shape.kind !== options.kind) continue;
        if (items.length === limit) {
          more = true;
          break;
        }
        items.push(copy(shape));
      }
      return { items, nextCursor: more ? (items.at(-1)?.id ?? null) : null };
    },
    async delete(id) {
      open();
      const shape = shapes.get(id);
      if (shape === undefined) return undefined;
      shapes.delete(id);
      sorted = undefined;
      return shape;
    },
    async ping(signal) {
      signal?.throwIfAborted();
      open();
    },
    async close() {
      closed = true;
      shapes.clear();
    },
    [Symbol.asyncDispose]() {
      return repository.close();
    },
  };
  return repository;
}
