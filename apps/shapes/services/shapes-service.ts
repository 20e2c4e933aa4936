/** The shapes service: shapes made by ShapeFactory (its validation is the API's), kept in a repository. */
import { defineService, type ServiceContext, ValidationError } from 'keel/broker';
import { InvalidShapeError, ShapeFactory } from 'keel/shapes';
import {
  type CreateShapeParams,
  dimensionFields,
  type Shape,
  shapeContract,
  shapesContract,
} from '../contracts.ts';
import { ShapeNotFoundError } from '../errors.ts';
import { type Log, silentLog } from '../log.ts';
import type { ShapeRepository } from '../storage/repository.ts';
import { newShapeId } from '../storage/shape-id.ts';

/**
 * Builds the shape with ShapeFactory and measures it. A dimension it refuses (not positive, a triangle
 * that cannot close, sizes whose area overflows) becomes a ValidationError whose issues name the field,
 * so the gateway answers 400 as it does for a schema's refusal.
 */
export function buildShape(params: CreateShapeParams, id: string = newShapeId()): Shape {
  const { kind, ...dimensions } = params;
  let shape: ReturnType<typeof ShapeFactory.createShape>;
  try {
    shape = ShapeFactory.createShape(kind, dimensions as never);
  } catch (error) {
    if (!(error instanceof InvalidShapeError)) throw error;
    const fields: readonly string[] = dimensionFields[kind];
    // `dimensions` means the sizes together (an area of Infinity): the issue is on each of them.
    const paths = fields.includes(error.field) ? [error.field] : fields;
    throw new ValidationError(
      'shapes.create',
      'params',
      paths.map((path) => ({ path: [path], message: error.message })),
    );
  }
  return {
    id,
    kind,
    dimensions,
    area: shape.area(),
    perimeter: shape.perimeter(),
    svg: shape.toSVG({ fill: 'none', stroke: 'black' }),
    createdAt: new Date().toISOString(),
  } as Shape;
}

async function find(repository: ShapeRepository, id: string): Promise<Shape> {
  const shape = await repository.get(id);
  if (shape === undefined) throw new ShapeNotFoundError(id);
  return shape;
}

export function shapesService(repository: ShapeRepository, log: Log = silentLog) {
  const announce = async (ctx: ServiceContext, event: string, payload: unknown): Promise<void> => {
    // The change is stored: an event that cannot go out is logged, and does not fail the call.
    await ctx
      .emit(event, payload)
      .catch((error: unknown) => log('warn', `could not emit ${event}`, { error }));
  };
  return defineService(
    shapesContract,
    {
      actions: {
        create: async (params, ctx) => {
          const shape = buildShape(params);
          await repository.insert(shape);
          await announce(ctx, 'shape.created', shape);
          return shape;
        },
        get: ({ id }) => find(repository, id),
        list: ({ cursor, limit, kind }) => repository.list({ cursor, limit, kind }),
        delete: async ({ id }, ctx) => {
          const removed = await repository.delete(id);
          if (removed === undefined) throw new ShapeNotFoundError(id);
          await announce(ctx, 'shape.deleted', { id, kind: removed.kind });
          return { id };
        },
        svg: async ({ id }) => (await find(repository, id)).svg,
      },
    },
    {
      actions: {
        create: { concurrency: 64, maxQueued: 1000 },
        get: { concurrency: 256, maxQueued: 5000 },
        list: { concurrency: 64, maxQueued: 1000 },
        delete: { concurrency: 64, maxQueued: 1000 },
        svg: { concurrency: 256, maxQueued: 5000 },
      },
    },
  );
}

/** The contracts the shapes service's broker must know besides its own (the events it emits). */
export const shapesServiceContracts = [shapeContract] as const;
