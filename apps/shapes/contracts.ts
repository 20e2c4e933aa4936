/**
 * The shapes backend's contracts: what the gateway, the services and the render worker agree on. The zod
 * schemas validate every call and event and are also what the gateway's OpenAPI document is made from.
 */
import { defineContract } from 'keel/broker';
import { z } from 'zod';

/** The kinds ShapeFactory builds. */
export const shapeKinds = ['circle', 'rectangle', 'triangle'] as const;
export type ShapeKind = (typeof shapeKinds)[number];

/** The fields of each kind, in the order a form shows them (labels Radius, Width, Height, Side a/b/c). */
export const dimensionFields = {
  circle: ['radius'],
  rectangle: ['width', 'height'],
  triangle: ['a', 'b', 'c'],
} as const satisfies Record<ShapeKind, readonly string[]>;

// The schema checks types only; whether a size is positive and a triangle closes is ShapeFactory's call.
const size = (label: string) => z.number().meta({ description: `${label} (a positive number)` });

const CircleParams = z.strictObject({ kind: z.literal('circle'), radius: size('Radius') });
const RectangleParams = z.strictObject({
  kind: z.literal('rectangle'),
  width: size('Width'),
  height: size('Height'),
});
const TriangleParams = z.strictObject({
  kind: z.literal('triangle'),
  a: size('Side a'),
  b: size('Side b'),
  c: size('Side c'),
});

/** What `POST /api/shapes` takes: the kind and that kind's dimensions, side by side. */
export const CreateShapeParams = z
  .discriminatedUnion('kind', [CircleParams, RectangleParams, TriangleParams])
  .meta({ title: 'CreateShape' });
export type CreateShapeParams = z.infer<typeof CreateShapeParams>;

/** An id as the repository makes them: a UUID v7, so ids sort by creation time. */
export const ShapeId = z.string().min(1).max(100);

const measures = {
  id: z.string(),
  area: z.number(),
  perimeter: z.number(),
  svg: z.string().meta({ description: 'A standalone SVG document of the shape' }),
  createdAt: z.string().meta({ description: 'ISO 8601 time of creation' }),
};

/** A stored shape: its kind and dimensions, what ShapeFactory computed from them, and when it was made. */
export const Shape = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('circle'), dimensions: z.object({ radius: z.number() }), ...measures }),
    z.object({
      kind: z.literal('rectangle'),
      dimensions: z.object({ width: z.number(), height: z.number() }),
      ...measures,
    }),
    z.object({
      kind: z.literal('triangle'),
      dimensions: z.object({ a: z.number(), b: z.number(), c: z.number() }),
      ...measures,
    }),
  ])
  .meta({ title: 'Shape' });
export type Shape = z.infer<typeof Shape>;

// Query strings arrive as text: `limit=5` is coerced, and anything that is not an integer in range refused.
const Limit = z.coerce.number().int().min(1).max(100);

export const ListShapesParams = z.strictObject({
  cursor: z.string().min(1).max(100).optional().meta({ description: 'nextCursor of the previous page' }),
  limit: Limit.optional().meta({ description: 'Shapes per page, 1 to 100 (default 20)' }),
  kind: z.enum(shapeKinds).optional(),
});
export type ListShapesParams = z.infer<typeof ListShapesParams>;

export const ShapePage = z
  .object({
    items: z.array(Shape),
    nextCursor: z
      .string()
      .nullable()
      .meta({ description: 'Pass as cursor for the next page; null at the end' }),
  })
  .meta({ title: 'ShapePage' });
export type ShapePage = z.infer<typeof ShapePage>;

const ById = z.strictObject({ id: ShapeId });

/** The shape actions: the gateway's `/api/shapes` routes call these. */
export const shapesContract = defineContract({
  name: 'shapes',
  version: 1,
  actions: {
    create: { params: CreateShapeParams, result: Shape },
    get: { params: ById, result: Shape, idempotent: true },
    list: { params: ListShapesParams, result: ShapePage, idempotent: true },
    delete: { params: ById, result: z.object({ id: z.string() }) },
    svg: { params: ById, result: z.string(), idempotent: true },
  },
});

/** The events of shapes, emitted by the shapes service; SSE names them `shape.created`, `shape.deleted`. */
export const shapeContract = defineContract({
  name: 'shape',
  version: 1,
  events: {
    created: { payload: Shape },
    deleted: { payload: z.object({ id: z.string(), kind: z.enum(shapeKinds) }) },
  },
});

export const renderStates = ['waiting', 'delayed', 'active', 'completed', 'failed', 'paused'] as const;

export const StartRenderParams = z.strictObject({
  ids: z.array(ShapeId).min(1).max(100).meta({ description: 'The shapes to put on the sheet, in order' }),
});

export const Render = z
  .object({
    jobId: z.string(),
    state: z.enum(renderStates),
    progress: z.number().meta({ description: 'Percent of the shapes rendered, 0 to 100' }),
    done: z.number().int(),
    total: z.number().int(),
    createdAt: z.string(),
    finishedAt: z.string().optional(),
    sheetUrl: z.string().optional().meta({ description: 'Where the sheet is, once completed' }),
    error: z.object({ code: z.string().optional(), message: z.string() }).optional(),
  })
  .meta({ title: 'Render' });
export type Render = z.infer<typeof Render>;

const RenderById = z.strictObject({ id: z.string().min(1).max(100) });

/** Render jobs: start one over some shapes, follow it, fetch its sheet. */
export const renderContract = defineContract({
  name: 'render',
  version: 1,
  actions: {
    start: { params: StartRenderParams, result: z.object({ jobId: z.string() }) },
    get: { params: RenderById, result: Render, idempotent: true },
    sheet: { params: RenderById, result: z.string(), idempotent: true },
  },
  events: {
    progress: {
      payload: z.object({
        jobId: z.string(),
        shapeId: z.string(),
        done: z.number().int(),
        total: z.number().int(),
        progress: z.number(),
      }),
    },
    completed: {
      payload: z.object({ jobId: z.string(), total: z.number().int(), sheetUrl: z.string() }),
    },
  },
});

/** The job a render queue holds: the shapes to draw. */
export const RenderJobData = z.object({ ids: z.array(z.string()).min(1) });
export type RenderJobData = z.infer<typeof RenderJobData>;

/** What a finished render job returns (kept by the queue, so any process can read the sheet). */
export interface RenderJobResult {
  readonly svg: string;
  readonly total: number;
}

/** The event keys the gateway streams over SSE. */
export const eventKeys = ['shape.created', 'shape.deleted', 'render.progress', 'render.completed'] as const;

/** Where a render's sheet is served. */
export const sheetUrl = (jobId: string): string => `/api/renders/${encodeURIComponent(jobId)}/svg`;
