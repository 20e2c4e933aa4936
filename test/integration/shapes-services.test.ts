import { defineService, ValidationError } from 'keel/broker';
import { afterEach, describe, expect, it } from 'vitest';
import { type Backend, startBackend } from '../../apps/shapes/backend.ts';
import { type Shape, shapeContract } from '../../apps/shapes/contracts.ts';
import { buildShape } from '../../apps/shapes/services/shapes-service.ts';

let backend: Backend | undefined;
afterEach(async () => {
  await backend?.close({ timeoutMs: 2000 });
  backend = undefined;
});

const embedded = async (): Promise<Backend> => {
  backend = await startBackend({
    role: 'all',
    transportUrl: `memory://services-${Math.random()}`,
    queueUrl: 'memory://',
    databaseUrl: 'memory://',
  });
  return backend;
};

const issuesOf = (error: unknown) =>
  (error as ValidationError).issues.map((i) => ({ path: i.path?.join('.'), message: i.message }));

describe('ShapeFactory decides what a valid shape is', () => {
  it.each([
    [{ kind: 'circle', radius: 0 }, ['radius']],
    [{ kind: 'circle', radius: -2 }, ['radius']],
    [{ kind: 'rectangle', width: 2, height: -1 }, ['height']],
    [{ kind: 'triangle', a: 1, b: 2, c: 10 }, ['c']],
    [{ kind: 'triangle', a: 10, b: 2, c: 1 }, ['a']],
    [{ kind: 'circle', radius: 1e200 }, ['radius']],
    [{ kind: 'rectangle', width: 1e200, height: 1e200 }, ['width', 'height']],
  ] as const)('%j is refused with issues at %j', (params, paths) => {
    const error = (() => {
      try {
        buildShape(params as never);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect(issuesOf(error).map((i) => i.path)).toEqual(paths);
    expect(issuesOf(error)[0]?.message).toMatch(/Invalid (circle|rectangle|triangle)/);
  });

  it('measures a valid shape and keeps its SVG', () => {
    const shape = buildShape({ kind: 'triangle', a: 3, b: 4, c: 5 });
    expect(shape).toMatchObject({ kind: 'triangle', dimensions: { a: 3, b: 4, c: 5 }, perimeter: 12 });
    expect(shape.area).toBeCloseTo(6, 10);
    expect(shape.svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg".*<polygon/);
  });
});

describe('the shapes and render services, embedded', () => {
  it('create, get, svg, list by kind, delete — with shape.created and shape.deleted emitted', async () => {
    const heard: { key: string; payload: unknown }[] = [];
    const listener = defineService(shapeContract, {
      actions: {},
      events: {
        'shape.created': (payload) => void heard.push({ key: 'shape.created', payload }),
        'shape.deleted': (payload) => void heard.push({ key: 'shape.deleted', payload }),
      },
    });
    const b = await embedded();
    // A second broker on the same memory transport listens as another service would.
    const { createBroker } = await import('keel/broker');
    const other = await createBroker({ transport: b.broker.transport, services: [listener] });
    try {
      const circle = (await b.broker.call('shapes.create', { kind: 'circle', radius: 2 })) as Shape;
      const rect = (await b.broker.call('shapes.create', {
        kind: 'rectangle',
        width: 2,
        height: 3,
      })) as Shape;
      expect(circle.area).toBeCloseTo(Math.PI * 4, 10);
      expect(await b.broker.call('shapes.get', { id: circle.id })).toEqual(circle);
      expect(await b.broker.call('shapes.svg', { id: rect.id })).toBe(rect.svg);
      const page = (await b.broker.call('shapes.list', { kind: 'rectangle' })) as { items: Shape[] };
      expect(page.items.map((s) => s.id)).toEqual([rect.id]);
      expect(await b.broker.call('shapes.delete', { id: circle.id })).toEqual({ id: circle.id });
      await expect(b.broker.call('shapes.get', { id: circle.id })).rejects.toMatchObject({
        code: 'KEEL_SHAPE_NOT_FOUND',
      });
      await expect(b.broker.call('shapes.delete', { id: circle.id })).rejects.toMatchObject({
        code: 'KEEL_SHAPE_NOT_FOUND',
      });
      await expect.poll(() => heard.length, { timeout: 2000 }).toBe(3);
      expect(heard).toEqual([
        { key: 'shape.created', payload: circle },
        { key: 'shape.created', payload: rect },
        { key: 'shape.deleted', payload: { id: circle.id, kind: 'circle' } },
      ]);
    } finally {
      await other.stop();
    }
  });

  it('refuses bad params by schema (types) and by ShapeFactory (values), storing nothing', async () => {
    const b = await embedded();
    const bad = [
      { kind: 'circle', radius: '2' },
      { kind: 'hexagon', side: 1 },
      { kind: 'circle', radius: 1, width: 2 },
      { kind: 'triangle', a: 1, b: 1, c: 3 },
      { kind: 'circle', radius: 0 },
    ];
    for (const params of bad) {
      await expect(b.broker.call('shapes.create', params as never)).rejects.toBeInstanceOf(ValidationError);
    }
    expect(await b.broker.call('shapes.list', {})).toEqual({ items: [], nextCursor: null });
  });

  it('renders shapes into one sheet with progress per shape, readable through render.get and render.sheet', async () => {
    const b = await embedded();
    const ids: string[] = [];
    for (const params of [
      { kind: 'circle', radius: 1 },
      { kind: 'rectangle', width: 4, height: 1 },
      { kind: 'triangle', a: 3, b: 4, c: 5 },
    ] as const) {
      ids.push(((await b.broker.call('shapes.create', params)) as Shape).id);
    }
    const progress: unknown[] = [];
    b.queue?.on('progress', ({ progress: p }) => void progress.push(p));
    const { jobId } = (await b.broker.call('render.start', { ids })) as { jobId: string };
    await b.queue?.result(jobId, { timeoutMs: 5000 });
    expect(progress).toEqual([
      { done: 1, total: 3 },
      { done: 2, total: 3 },
      { done: 3, total: 3 },
    ]);
    const render = await b.broker.call('render.get', { id: jobId });
    expect(render).toMatchObject({ jobId, state: 'completed', progress: 100, done: 3, total: 3 });
    expect((render as { sheetUrl: string }).sheetUrl).toBe(`/api/renders/${jobId}/svg`);
    const svg = (await b.broker.call('render.sheet', { id: jobId })) as string;
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<circle /g)).toHaveLength(1);
    expect(svg.match(/<rect x="0"/g)).toHaveLength(1);
    expect(svg.match(/<polygon /g)).toHaveLength(1);
  });

  it('refuses a render of unknown shapes naming each, and unknown or unfinished renders by code', async () => {
    const b = await embedded();
    const shape = (await b.broker.call('shapes.create', { kind: 'circle', radius: 1 })) as Shape;
    const error = await b.broker.call('render.start', { ids: [shape.id, 'nope', 'nada'] }).catch((e) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(issuesOf(error).map((i) => i.path)).toEqual(['ids.1', 'ids.2']);
    expect(await b.queue?.counts()).toMatchObject({ waiting: 0, active: 0, completed: 0 });
    await expect(b.broker.call('render.get', { id: '999' })).rejects.toMatchObject({
      code: 'KEEL_RENDER_NOT_FOUND',
    });
    await expect(b.broker.call('render.get', { id: 'abc' })).rejects.toMatchObject({
      code: 'KEEL_RENDER_NOT_FOUND',
    });
    await b.worker?.pause();
    const { jobId } = (await b.broker.call('render.start', { ids: [shape.id] })) as { jobId: string };
    expect(await b.broker.call('render.get', { id: jobId })).toMatchObject({ state: 'waiting', progress: 0 });
    await expect(b.broker.call('render.sheet', { id: jobId })).rejects.toMatchObject({
      code: 'KEEL_RENDER_CONFLICT',
    });
  });

  it('a render whose shape is deleted before it runs fails, saying why; its sheet is a conflict', async () => {
    const b = await embedded();
    const shape = (await b.broker.call('shapes.create', { kind: 'circle', radius: 1 })) as Shape;
    await b.worker?.pause();
    const { jobId } = (await b.broker.call('render.start', { ids: [shape.id] })) as { jobId: string };
    await b.broker.call('shapes.delete', { id: shape.id });
    await b.worker?.resume();
    await expect(b.queue?.result(jobId, { timeoutMs: 5000 })).rejects.toMatchObject({
      causeCode: 'KEEL_SHAPE_NOT_FOUND',
    });
    expect(await b.broker.call('render.get', { id: jobId })).toMatchObject({
      state: 'failed',
      done: 0,
      total: 1,
      error: { code: 'KEEL_SHAPE_NOT_FOUND', message: expect.stringContaining(shape.id) },
    });
    await expect(b.broker.call('render.sheet', { id: jobId })).rejects.toMatchObject({
      code: 'KEEL_RENDER_CONFLICT',
      message: expect.stringContaining('failed'),
    });
  });

  it('has readiness checks for transport, queue and database in role all, and closes idempotently', async () => {
    const b = await embedded();
    expect(Object.keys(b.checks).sort()).toEqual(['database', 'queue', 'transport']);
    for (const check of Object.values(b.checks)) await check(AbortSignal.timeout(2000));
    await b.close();
    await b.close();
    await expect(b.checks.database?.(AbortSignal.timeout(2000))).rejects.toMatchObject({
      code: 'KEEL_SHAPES_STORAGE_CLOSED',
    });
    backend = undefined;
  });
});
