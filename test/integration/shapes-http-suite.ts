/**
 * The HTTP suite of the shapes backend: every route, status and error body, over real sockets. It runs
 * embedded (shapes-http.test.ts) and with each role in its own process over NATS and Redis
 * (shapes-distributed.test.ts): the same requests, the same answers.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvents, type Running, request, until } from './shapes-harness.ts';

const errorBody = (code: string) => ({
  error: expect.objectContaining({ code, message: expect.any(String) }),
});

/**
 * `workerHere`: the render worker runs in this process (embedded), so a test can hold a render back; the
 * test that needs it is registered only then.
 */
export function runHttpSuite(
  label: string,
  start: () => Promise<Running>,
  { workerHere = false }: { readonly workerHere?: boolean } = {},
): void {
  describe(`shapes over HTTP: ${label}`, () => {
    let running: Running;
    let url: string;
    beforeAll(async () => {
      running = await start();
      url = running.url;
    }, 60_000);
    afterAll(async () => {
      await running?.stop();
    }, 30_000);

    const create = async (body: unknown, headers: Record<string, string> = {}) =>
      request(url, '/api/shapes', { method: 'POST', body, headers });

    it('POST /api/shapes creates each kind: 201, Location, the stored shape, request id and X-Served-By', async () => {
      for (const body of [
        { kind: 'circle', radius: 2 },
        { kind: 'rectangle', width: 3, height: 4 },
        { kind: 'triangle', a: 3, b: 4, c: 5 },
      ]) {
        const answer = await create(body);
        expect(answer.status).toBe(201);
        const { kind, ...dimensions } = body;
        expect(answer.json).toMatchObject({
          kind,
          dimensions,
          id: expect.any(String),
          svg: expect.stringMatching(/^<svg /),
        });
        expect(answer.headers.get('location')).toBe(`/api/shapes/${answer.json.id}`);
        expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
        expect(answer.headers.get('x-request-id')).toBeTruthy();
        expect(answer.headers.get('x-served-by')).toBeTruthy();
        expect(Date.parse(answer.json.createdAt)).toBeGreaterThan(Date.now() - 60_000);
      }
      const circle = (await create({ kind: 'circle', radius: 1 })).json;
      expect(circle.area).toBeCloseTo(Math.PI, 12);
      expect(circle.perimeter).toBeCloseTo(2 * Math.PI, 12);
    });

    it('X-Served-By names the gateway and the instance that served the call', async () => {
      const shape = (await create({ kind: 'circle', radius: 1 })).json;
      const byShapes = (await request(url, `/api/shapes/${shape.id}`)).headers.get('x-served-by');
      const { jobId } = (await request(url, '/api/renders', { method: 'POST', body: { ids: [shape.id] } }))
        .json;
      const byRenderer = (await request(url, `/api/renders/${jobId}`)).headers.get('x-served-by');
      if (running.processes === undefined) {
        // Embedded: one process is the gateway and serves every call itself.
        const [gateway, served] = (byShapes ?? '').split(/,\s*/);
        expect(served).toBe(gateway);
        expect(byRenderer).toBe(byShapes);
      } else {
        expect(byShapes).toBe('gw-1, shapes-1');
        expect(byRenderer).toBe('gw-1, renderer-1');
      }
    });

    it('keeps a request id the client sends', async () => {
      const answer = await request(url, '/api/shapes?limit=1', {
        headers: { 'x-request-id': 'req-abc-123' },
      });
      expect(answer.headers.get('x-request-id')).toBe('req-abc-123');
    });

    it.each([
      [{ kind: 'circle', radius: -1 }, 'radius'],
      [{ kind: 'circle', radius: 0 }, 'radius'],
      [{ kind: 'circle', radius: '2' }, 'radius'],
      [{ kind: 'circle' }, 'radius'],
      [{ kind: 'rectangle', width: 2, height: 0 }, 'height'],
      [{ kind: 'triangle', a: 1, b: 2, c: 3 }, 'c'],
      [{ kind: 'triangle', a: 1, b: 1, c: 1, d: 1 }, ''],
      [{ kind: 'hexagon', side: 1 }, 'kind'],
      [{ radius: 1 }, 'kind'],
      [{ kind: 'circle', radius: null }, 'radius'],
    ])('POST %j → 400 with an issue at %j, nothing stored', async (body, path) => {
      const before = (await request(url, '/api/shapes?limit=100')).json.items.length;
      const answer = await create(body);
      expect(answer.status).toBe(400);
      expect(answer.json).toEqual(errorBody('KEEL_BROKER_VALIDATION'));
      expect(answer.json.error.issues.map((i: { path: string }) => i.path)).toContain(path);
      expect((await request(url, '/api/shapes?limit=100')).json.items.length).toBe(before);
    });

    it('a huge radius whose area overflows → 400 naming radius (ShapeFactory refuses it)', async () => {
      const answer = await create({ kind: 'circle', radius: 1e200 });
      expect(answer.status).toBe(400);
      expect(answer.json.error.issues).toEqual([{ path: 'radius', message: expect.stringMatching(/area/) }]);
    });

    it('bodies that are not a shape: bad JSON 400, not JSON 415 or 400, too large 413, never 5xx', async () => {
      const bad = await request(url, '/api/shapes', {
        method: 'POST',
        raw: '{"kind": "circle",',
        headers: { 'content-type': 'application/json' },
      });
      expect(bad.status).toBe(400);
      expect(bad.json.error.code).toMatch(/^KEEL_/);
      const text = await request(url, '/api/shapes', {
        method: 'POST',
        raw: 'kind=circle',
        headers: { 'content-type': 'text/plain' },
      });
      expect([400, 415]).toContain(text.status);
      expect(text.json.error.code).toMatch(/^KEEL_/);
      const array = await create([1, 2, 3]);
      expect(array.status).toBe(400);
      const huge = await request(url, '/api/shapes', {
        method: 'POST',
        raw: JSON.stringify({ kind: 'circle', radius: 1, pad: 'x'.repeat(1024 * 1024 + 10) }),
        headers: { 'content-type': 'application/json' },
      });
      expect(huge.status).toBe(413);
      expect(huge.json.error.code).toMatch(/^KEEL_/);
    });

    it('GET /api/shapes/:id → 200 the shape; unknown → 404 KEEL_SHAPE_NOT_FOUND', async () => {
      const made = (await create({ kind: 'rectangle', width: 1, height: 2 })).json;
      const got = await request(url, `/api/shapes/${made.id}`);
      expect(got.status).toBe(200);
      expect(got.json).toEqual(made);
      const missing = await request(url, '/api/shapes/does-not-exist');
      expect(missing.status).toBe(404);
      expect(missing.json).toEqual(errorBody('KEEL_SHAPE_NOT_FOUND'));
      expect(missing.json.error.message).toContain('does-not-exist');
    });

    it('GET /api/shapes/:id/svg → image/svg+xml; unknown → 404 JSON error', async () => {
      const made = (await create({ kind: 'triangle', a: 3, b: 4, c: 5 })).json;
      const svg = await request(url, `/api/shapes/${made.id}/svg`);
      expect(svg.status).toBe(200);
      expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
      expect(svg.text).toBe(made.svg);
      const missing = await request(url, '/api/shapes/nope/svg');
      expect(missing.status).toBe(404);
      expect(missing.json).toEqual(errorBody('KEEL_SHAPE_NOT_FOUND'));
    });

    it('GET /api/shapes pages newest first by cursor and filters by kind', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push((await create({ kind: 'triangle', a: 2, b: 2, c: 1 + i / 10 })).json.id);
      const first = await request(url, '/api/shapes?kind=triangle&limit=3');
      expect(first.status).toBe(200);
      expect(first.json.items.map((s: { id: string }) => s.id)).toEqual(ids.slice(2).reverse());
      expect(first.json.nextCursor).toEqual(expect.any(String));
      const second = await request(
        url,
        `/api/shapes?kind=triangle&limit=3&cursor=${encodeURIComponent(first.json.nextCursor)}`,
      );
      expect(second.json.items.map((s: { id: string }) => s.id).slice(0, 2)).toEqual(
        ids.slice(0, 2).reverse(),
      );
      expect(second.json.items.every((s: { kind: string }) => s.kind === 'triangle')).toBe(true);
      const all = await request(url, '/api/shapes');
      expect(all.json.items.length).toBeLessThanOrEqual(20);
      expect(all.json.items[0].id).toBe(ids.at(-1));
    });

    it.each([
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=2.5', 'limit'],
      ['kind=hexagon', 'kind'],
    ])('GET /api/shapes?%s → 400 naming %s', async (query, path) => {
      const answer = await request(url, `/api/shapes?${query}`);
      expect(answer.status).toBe(400);
      expect(answer.json).toEqual(errorBody('KEEL_BROKER_VALIDATION'));
      expect(answer.json.error.issues.map((i: { path: string }) => i.path)).toContain(path);
    });

    it('DELETE /api/shapes/:id → 204 with no body, then 404; the shape is gone', async () => {
      const made = (await create({ kind: 'circle', radius: 3 })).json;
      const gone = await request(url, `/api/shapes/${made.id}`, { method: 'DELETE' });
      expect(gone.status).toBe(204);
      expect(gone.text).toBe('');
      expect((await request(url, `/api/shapes/${made.id}`)).status).toBe(404);
      const again = await request(url, `/api/shapes/${made.id}`, { method: 'DELETE' });
      expect(again.status).toBe(404);
      expect(again.json).toEqual(errorBody('KEEL_SHAPE_NOT_FOUND'));
    });

    it('POST /api/renders → 202 { jobId }; GET follows it to completed; the sheet is SVG', async () => {
      const ids = [];
      for (const body of [
        { kind: 'circle', radius: 1 },
        { kind: 'rectangle', width: 2, height: 1 },
        { kind: 'triangle', a: 3, b: 4, c: 5 },
      ]) {
        ids.push((await create(body)).json.id);
      }
      const started = await request(url, '/api/renders', { method: 'POST', body: { ids } });
      expect(started.status).toBe(202);
      expect(started.json).toEqual({ jobId: expect.any(String) });
      const { jobId } = started.json;
      expect(started.headers.get('location')).toBe(`/api/renders/${jobId}`);
      let render: any;
      await until(async () => {
        render = (await request(url, `/api/renders/${jobId}`)).json;
        return render.state === 'completed';
      }, 15_000);
      expect(render).toMatchObject({ jobId, state: 'completed', progress: 100, done: 3, total: 3 });
      expect(render.sheetUrl).toBe(`/api/renders/${jobId}/svg`);
      const sheet = await request(url, render.sheetUrl);
      expect(sheet.status).toBe(200);
      expect(sheet.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
      expect(sheet.text).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      expect(sheet.text.match(/<svg /g)).toHaveLength(4);
    });

    // Registered only where the worker runs in this process: holding a render back needs it.
    if (workerHere) {
      it('GET /api/renders/:id/svg before the render completes → 409 KEEL_RENDER_CONFLICT', async () => {
        const worker = running.app?.backend.worker;
        if (worker === undefined) throw new Error('the embedded backend has no render worker');
        const id = (await create({ kind: 'circle', radius: 1 })).json.id;
        await worker.pause();
        try {
          const { jobId } = (await request(url, '/api/renders', { method: 'POST', body: { ids: [id] } }))
            .json;
          expect((await request(url, `/api/renders/${jobId}`)).json).toMatchObject({
            state: 'waiting',
            progress: 0,
          });
          const early = await request(url, `/api/renders/${jobId}/svg`);
          expect(early.status).toBe(409);
          expect(early.json).toEqual(errorBody('KEEL_RENDER_CONFLICT'));
        } finally {
          await worker.resume();
        }
      });
    }

    it('POST /api/renders with unknown ids or none → 400 naming each; unknown render → 404', async () => {
      const real = (await create({ kind: 'circle', radius: 1 })).json.id;
      const unknown = await request(url, '/api/renders', {
        method: 'POST',
        body: { ids: [real, 'missing'] },
      });
      expect(unknown.status).toBe(400);
      expect(unknown.json.error.issues).toEqual([
        { path: 'ids[1]', message: expect.stringContaining('missing') },
      ]);
      const empty = await request(url, '/api/renders', { method: 'POST', body: { ids: [] } });
      expect(empty.status).toBe(400);
      expect(empty.json.error.issues[0].path).toBe('ids');
      for (const path of ['/api/renders/999999', '/api/renders/abc', '/api/renders/999999/svg']) {
        const answer = await request(url, path);
        expect(answer.status).toBe(404);
        expect(answer.json).toEqual(errorBody('KEEL_RENDER_NOT_FOUND'));
      }
    });

    it('GET /api/events streams shape.created, shape.deleted, render.progress and render.completed', async () => {
      const events = await openEvents(url);
      try {
        const shape = (await create({ kind: 'circle', radius: 5 })).json;
        const created = await events.next((m) => m.event === 'shape.created' && m.data.id === shape.id);
        expect(created.data).toEqual(shape);
        // Ids count up per gateway: `<gateway>-<n>`.
        expect(created.id).toMatch(/-\d+$/);
        const { jobId } = (await request(url, '/api/renders', { method: 'POST', body: { ids: [shape.id] } }))
          .json;
        const progress = await events.next(
          (m) => m.event === 'render.progress' && m.data.jobId === jobId,
          15_000,
        );
        expect(progress.data).toEqual({ jobId, shapeId: shape.id, done: 1, total: 1, progress: 100 });
        const completed = await events.next(
          (m) => m.event === 'render.completed' && m.data.jobId === jobId,
          15_000,
        );
        expect(completed.data).toEqual({ jobId, total: 1, sheetUrl: `/api/renders/${jobId}/svg` });
        // Heard completed: the sheet is there.
        expect((await request(url, completed.data.sheetUrl)).status).toBe(200);
        expect((await request(url, `/api/shapes/${shape.id}`, { method: 'DELETE' })).status).toBe(204);
        const deleted = await events.next((m) => m.event === 'shape.deleted' && m.data.id === shape.id);
        expect(deleted.data).toEqual({ id: shape.id, kind: 'circle' });
        const counter = (id: string | undefined) => Number(id?.slice(id.lastIndexOf('-') + 1));
        expect(counter(deleted.id)).toBeGreaterThan(counter(created.id));
      } finally {
        events.close();
      }
    });

    it('the same Idempotency-Key twice, and five at once, creates one shape and answers the same', async () => {
      const key = randomUUID();
      const body = { kind: 'rectangle', width: 7, height: 11 };
      const first = await create(body, { 'idempotency-key': key });
      const second = await create(body, { 'idempotency-key': key });
      expect(first.status).toBe(201);
      expect(second.status).toBe(201);
      expect(second.json).toEqual(first.json);
      const concurrentKey = randomUUID();
      const answers = await Promise.all(
        Array.from({ length: 5 }, () =>
          create({ kind: 'circle', radius: 7.25 }, { 'idempotency-key': concurrentKey }),
        ),
      );
      const created = answers.filter((a) => a.status === 201);
      expect(created.length).toBeGreaterThanOrEqual(1);
      // A repeat that arrives while the first runs waits for it (same answer) or is told 409.
      expect(answers.every((a) => a.status === 201 || a.status === 409)).toBe(true);
      expect(new Set(created.map((a) => a.json.id)).size).toBe(1);
      const stored = (await request(url, '/api/shapes?kind=circle&limit=100')).json.items.filter(
        (s: { dimensions: { radius: number } }) => s.dimensions.radius === 7.25,
      );
      expect(stored).toHaveLength(1);
      const changed = await create({ ...body, width: 8 }, { 'idempotency-key': key });
      expect(changed.status).toBe(422);
      expect(changed.json.error.code).toMatch(/^KEEL_/);
    });

    it('an unknown route → 404 in the error body; a wrong method too', async () => {
      const answer = await request(url, '/api/nothing-here');
      expect(answer.status).toBe(404);
      expect(answer.json.error.code).toMatch(/^KEEL_/);
      const put = await request(url, '/api/shapes', { method: 'PUT', body: {} });
      expect([404, 405]).toContain(put.status);
      expect(put.json.error.code).toMatch(/^KEEL_/);
    });

    it('health, metrics, OpenAPI and docs', async () => {
      const live = await request(url, '/health/live');
      expect(live.status).toBe(200);
      const ready = await request(url, '/health/ready');
      expect(ready.status).toBe(200);
      expect(JSON.stringify(ready.json)).toContain('transport');
      const metrics = await request(url, '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(metrics.text).toMatch(/http_request/);
      const openapi = await request(url, '/openapi.json');
      expect(openapi.status).toBe(200);
      expect(openapi.json.openapi).toMatch(/^3\.1/);
      for (const path of [
        '/api/shapes',
        '/api/shapes/{id}',
        '/api/shapes/{id}/svg',
        '/api/renders',
        '/api/renders/{id}',
        '/api/renders/{id}/svg',
      ]) {
        expect(Object.keys(openapi.json.paths)).toContain(path);
      }
      expect(openapi.json.paths['/api/shapes'].post.requestBody.content['application/json'].schema).toEqual({
        $ref: '#/components/schemas/shapes.create.params',
      });
      expect(JSON.stringify(openapi.json.components.schemas['shapes.create.params'])).toContain('radius');
      const docs = await request(url, '/docs');
      expect(docs.status).toBe(200);
      expect(docs.text).toMatch(/<html/i);
      expect(docs.text).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs)/);
    });

    it('no answer carries a stack trace or SQL', async () => {
      const answers = await Promise.all([
        request(url, '/api/shapes/%27%20OR%201=1--'),
        request(url, "/api/shapes?cursor=' OR 1=1 --"),
        create({ kind: 'circle', radius: 'DROP TABLE shapes' }),
      ]);
      for (const a of answers) {
        expect(a.status).toBeLessThan(500);
        expect(a.text).not.toMatch(/\n\s+at |SELECT|sqlite/i);
      }
    });
  });
}
