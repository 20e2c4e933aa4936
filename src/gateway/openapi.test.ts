/** /openapi.json from the same contracts that validate, and /docs served from installed packages. */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { routes, send, startTestApp, type TestApp } from '../../test/fixtures/gateway-app.ts';
import { defineContract } from '../broker/index.ts';
import {
  baselineResources,
  expectReleased,
  type ResourceCount,
} from '../transport/contract/context.contract.ts';
import { buildOpenApi, openApiPath, route } from './index.ts';
import { component } from './openapi.ts';

// Every app, broker and request a test made is closed by now: none may leave a socket or a timer running.
let baseline: ResourceCount = { sockets: 0, timers: 0 };
beforeAll(async () => {
  baseline = await baselineResources();
});
afterAll(() => expectReleased(baseline, 3000));

describe('GET /openapi.json', () => {
  let t: TestApp;
  let doc: any;
  beforeAll(async () => {
    t = await startTestApp({ openapi: { title: 'Things', version: '2.0.0', description: 'Test things' } });
    const res = await send(t.url, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    doc = res.json;
  });
  afterAll(() => t.close());

  it('is an OpenAPI 3.1 document with the given info', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toEqual({ title: 'Things', version: '2.0.0', description: 'Test things' });
  });

  it('has every route, its path in OpenAPI form, one operation per method, with the action as operationId', () => {
    const ids: string[] = [];
    for (const r of routes) {
      const operation = doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()];
      expect(operation, `${r.method} ${r.url}`).toBeDefined();
      expect(operation.operationId.startsWith(r.action)).toBe(true);
      expect(operation.responses[String(r.status)]).toBeDefined();
      ids.push(operation.operationId);
    }
    // things.echo serves two routes: the ids stay unique.
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain('things.echo-2');
    expect(Object.keys(doc.paths)).toContain('/api/things/{id}');
    expect(Object.keys(doc.paths).some((p) => p.includes(':'))).toBe(false);
    expect(doc.paths['/api/things'].post.summary).toBe('Create a thing');
  });

  it('describes params and bodies with the actions’ schemas: path, query and body', () => {
    const get = doc.paths['/api/things/{id}'].get;
    expect(get.parameters).toContainEqual({
      name: 'id',
      in: 'path',
      required: true,
      schema: { type: 'string' },
    });
    const list = doc.paths['/api/things'].get;
    expect(list.parameters).toContainEqual({
      name: 'kind',
      in: 'query',
      required: false,
      schema: { type: 'string', enum: ['big', 'small'] },
    });
    const create = doc.paths['/api/things'].post;
    expect(create.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/things.create.params',
    });
    expect(doc.components.schemas['things.create.params']).toMatchObject({
      type: 'object',
      properties: { name: { type: 'string', minLength: 1 }, size: { type: 'number', exclusiveMinimum: 0 } },
      required: ['name', 'size'],
    });
    expect(create.parameters).toContainEqual(
      expect.objectContaining({ name: 'Idempotency-Key', in: 'header' }),
    );
    // A PATCH body leaves out what the path carries.
    const rename = doc.paths['/api/things/{id}'].patch.requestBody.content['application/json'].schema;
    expect(rename.properties).toEqual({ name: { type: 'string', minLength: 1 } });
    expect(rename.required).toEqual(['name']);
    expect(create.responses['201'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/things.create.result',
    });
    expect(doc.paths['/api/plain'].get.responses['200'].content).toEqual({
      'image/svg+xml': { schema: { type: 'string' } },
    });
    expect(doc.paths['/api/things/{id}'].delete.responses['204'].content).toBeUndefined();
  });

  it('lists each mapped error status with the error body schema; 503 with Retry-After', () => {
    const create = doc.paths['/api/things'].post;
    for (const status of ['400', '404', '409', '413', '415', '422', '500', '503', '504']) {
      expect(create.responses[status]?.content['application/json'].schema, status).toEqual({
        $ref: '#/components/schemas/Error',
      });
    }
    expect(create.responses['503'].headers['Retry-After']).toBeDefined();
    // GET has no body, so no 413/415, and no idempotency 422.
    expect(Object.keys(doc.paths['/api/things/{id}'].get.responses).sort()).toEqual(
      ['200', '400', '404', '409', '500', '503', '504'].sort(),
    );
    expect(doc.components.schemas.Error).toMatchObject({
      required: ['error'],
      properties: { error: { required: ['code', 'message'] } },
    });
  });

  it('every $ref points at something in the document', () => {
    const refs: string[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (typeof value === 'object' && value !== null) {
        for (const [key, item] of Object.entries(value)) {
          if (key === '$ref' && typeof item === 'string') refs.push(item);
          else walk(item);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(5);
    for (const ref of refs) {
      const target = ref
        .slice(2)
        .split('/')
        .reduce<any>((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
      expect(target, ref).toBeDefined();
    }
  });

  it('every component is a JSON Schema 2020-12 that validates what its action accepts', () => {
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema(doc, 'doc');
    const check = (name: string) => ajv.compile({ $ref: `doc#/components/schemas/${name}` });
    for (const name of Object.keys(doc.components.schemas)) expect(() => check(name), name).not.toThrow();
    const params = check('things.create.params');
    expect(params({ name: 'a', size: 1 })).toBe(true);
    expect(params({ name: '', size: 1 })).toBe(false);
    const error = check('Error');
    expect(error({ error: { code: 'KEEL_X', message: 'm', issues: [{ path: 'a', message: 'b' }] } })).toBe(
      true,
    );
    expect(error({ error: { message: 'm' } })).toBe(false);
  });

  it('a schema without the Standard JSON Schema interface becomes {} with a note', () => {
    expect(doc.components.schemas['things.plain.params']).toEqual({
      description: expect.stringMatching(/^No JSON Schema: this plain schema does not offer/),
    });
  });

  it('rebases a recursive schema’s own references under its component', () => {
    const node: z.ZodType = z.object({
      name: z.string(),
      get children() {
        return z.array(node);
      },
    });
    const tree = defineContract({
      name: 'tree',
      version: 1,
      actions: { put: { params: node, result: z.null() } },
    });
    const built: any = buildOpenApi([route(tree, 'put', { method: 'POST', url: '/tree' })], {
      title: 't',
      version: '1',
    });
    expect(built.components.schemas['tree.put.params'].properties.children.items).toEqual({
      $ref: '#/components/schemas/tree.put.params',
    });
    expect(component(z.date(), 'input', 'd')).toEqual({
      description: expect.stringMatching(/^No JSON Schema: .*Date/),
    });
  });
});

describe('GET /docs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('serves an HTML page whose every script, stylesheet and icon is served by this server', async () => {
    const page = await send(t.url, 'GET', '/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) {
      expect(asset, asset).not.toMatch(/^(https?:)?\/\//);
      const res = await send(t.url, 'GET', new URL(asset, `${t.url}/docs`).pathname);
      expect(res.status, asset).toBe(200);
    }
    const init = await send(t.url, 'GET', '/docs/static/swagger-initializer.js');
    expect(init.text).toMatch(/json/);
    const spec = await send(t.url, 'GET', '/docs/json');
    expect(spec.json.paths['/api/things/{id}']).toBeDefined();
  });

  it('openapi: false serves neither /openapi.json nor /docs', async () => {
    const off = await startTestApp({ openapi: false });
    try {
      expect((await send(off.url, 'GET', '/openapi.json')).status).toBe(404);
      expect((await send(off.url, 'GET', '/docs')).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
