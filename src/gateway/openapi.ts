/**
 * OpenAPI 3.1 from the routes and the same contract schemas that validate: each action's params and result
 * become components (read through the Standard JSON Schema interface), each route a path operation.
 */
import type { StandardSchemaV1 } from '../standard-schema.ts';
import type { Route } from './route.ts';

/** The document's `info`, and the options of `/openapi.json` and `/docs`. */
export interface OpenApiOptions {
  readonly title: string;
  readonly version: string;
  readonly description?: string | undefined;
}

type Json = Record<string, unknown>;

/** The Standard JSON Schema interface (zod ≥ 4.2, and others): a schema that can describe itself. */
interface JsonSchemaConverter {
  readonly input: (options: { readonly target: string }) => Json;
  readonly output: (options: { readonly target: string }) => Json;
}

const errorSchema: Json = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'A stable KEEL_… code' },
        message: { type: 'string' },
        issues: {
          type: 'array',
          items: {
            type: 'object',
            required: ['path', 'message'],
            properties: { path: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
    },
  },
};

/** Each error status the gateway answers, its description, and when a route can get it. */
const errorStatuses: readonly [string, string, (r: Route) => boolean][] = [
  [
    '400',
    'The request failed its action’s schema (issues list each failing path), or its body is not JSON',
    () => true,
  ],
  ['404', 'No such resource (the action said so), or no such route', () => true],
  [
    '409',
    'A conflict (the action said so), or a repeat of an Idempotency-Key whose first request still runs',
    () => true,
  ],
  ['413', 'The body is larger than the server takes', hasBody],
  ['415', 'The body’s content type is not one the server reads', hasBody],
  ['422', 'The Idempotency-Key was used before with a different request', idempotent],
  ['500', 'An internal error; the body says nothing of its cause', () => true],
  [
    '503',
    'Unavailable for now (circuit open, service busy, shutting down); retry after Retry-After seconds',
    () => true,
  ],
  ['504', 'The service did not answer in time', () => true],
];

function hasBody(route: Route): boolean {
  return route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH';
}

/** Routes that honour `Idempotency-Key`. */
export function idempotent(route: Route): boolean {
  return route.method === 'POST' || route.method === 'PATCH';
}

/** A Fastify path as OpenAPI writes it: `/api/shapes/:id` → `/api/shapes/{id}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

/** The OpenAPI 3.1 document of `routes`. */
export function buildOpenApi(routes: readonly Route[], info: OpenApiOptions): Json {
  const schemas: Record<string, Json> = { Error: errorSchema };
  const paths: Record<string, Record<string, Json>> = {};
  const operationIds = new Set<string>();
  for (const route of routes) {
    const actions = route.contract.actions as Record<
      string,
      { params: StandardSchemaV1; result: StandardSchemaV1 }
    >;
    const name = route.action.slice(route.contract.name.length + 1);
    const spec = actions[name];
    if (spec === undefined) continue;
    const paramsName = `${route.action}.params`;
    const resultName = `${route.action}.result`;
    schemas[paramsName] ??= component(spec.params, 'input', paramsName);
    schemas[resultName] ??= component(spec.result, 'output', resultName);
    const params = schemas[paramsName] as Json;
    const properties = (params.properties ?? {}) as Record<string, Json>;
    const required = new Set(Array.isArray(params.required) ? (params.required as string[]) : []);

    const parameters: Json[] = route.pathParams.map((param) => ({
      name: param,
      in: 'path',
      required: true,
      schema: properties[param] ?? { type: 'string' },
    }));
    if (!hasBody(route)) {
      for (const [param, schema] of Object.entries(properties)) {
        if (route.pathParams.includes(param)) continue;
        parameters.push({ name: param, in: 'query', required: required.has(param), schema });
      }
    }
    if (idempotent(route)) {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'Makes a retry safe: a repeat within the window gets the first response',
        schema: { type: 'string', maxLength: 200 },
      });
    }
    parameters.push({
      name: 'X-Request-Id',
      in: 'header',
      required: false,
      description: 'Kept when sane (1–128 of A–Z a–z 0–9 . _ ~ : @ + = / -), else a new one is made',
      schema: { type: 'string', maxLength: 128 },
    });

    // One action may sit behind several routes; an operationId must still be unique in the document.
    let operationId = route.action;
    for (let n = 2; operationIds.has(operationId); n++) operationId = `${route.action}-${n}`;
    operationIds.add(operationId);
    const operation: Json = {
      operationId,
      tags: [...route.tags],
      ...(route.summary === undefined ? {} : { summary: route.summary }),
      ...(route.description === undefined ? {} : { description: route.description }),
      parameters,
      responses: responses(route, resultName),
    };
    if (hasBody(route)) {
      operation.requestBody = {
        required: true,
        content: { 'application/json': { schema: bodySchema(params, paramsName, route.pathParams) } },
      };
    }
    const path = openApiPath(route.url);
    paths[path] ??= {};
    (paths[path] as Record<string, Json>)[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      ...(info.description === undefined ? {} : { description: info.description }),
    },
    paths,
    components: { schemas },
  };
}

function responses(route: Route, resultName: string): Json {
  const headers = {
    'X-Request-Id': { schema: { type: 'string' } },
    'X-Served-By': { schema: { type: 'string' } },
  };
  const out: Json = {};
  const success: Json = { description: 'Success', headers };
  if (route.status !== 204) {
    success.content =
      route.contentType === undefined || route.contentType.includes('json')
        ? { [route.contentType ?? 'application/json']: { schema: ref(resultName) } }
        : { [route.contentType]: { schema: { type: 'string' } } };
  }
  out[String(route.status)] = success;
  for (const [status, description, applies] of errorStatuses) {
    if (!applies(route)) continue;
    const response: Json = {
      description,
      headers: status === '503' ? { ...headers, 'Retry-After': { schema: { type: 'integer' } } } : headers,
      content: { 'application/json': { schema: ref('Error') } },
    };
    out[status] = response;
  }
  return out;
}

/** The body's schema: the params without the ones the path carries, or the params as they are. */
function bodySchema(params: Json, name: string, pathParams: readonly string[]): Json {
  const properties = params.properties as Record<string, Json> | undefined;
  if (pathParams.length === 0 || properties === undefined || !pathParams.some((p) => p in properties)) {
    return ref(name);
  }
  const rest = Object.fromEntries(Object.entries(properties).filter(([key]) => !pathParams.includes(key)));
  const required = Array.isArray(params.required)
    ? (params.required as string[]).filter((key) => !pathParams.includes(key))
    : undefined;
  return { ...params, properties: rest, ...(required === undefined ? {} : { required }) };
}

function ref(name: string): Json {
  return { $ref: `#/components/schemas/${name}` };
}

/**
 * One schema's JSON Schema, ready to sit at `#/components/schemas/<name>`: its own references (`#`,
 * `#/$defs/...`) are rewritten to point there. A schema that cannot describe itself becomes `{}` with a note.
 */
export function component(schema: StandardSchemaV1, side: 'input' | 'output', name: string): Json {
  const converter = (schema['~standard'] as { jsonSchema?: JsonSchemaConverter }).jsonSchema;
  if (converter === undefined || typeof converter[side] !== 'function') {
    return {
      description: `No JSON Schema: this ${schema['~standard'].vendor} schema does not offer the Standard JSON Schema interface`,
    };
  }
  let generated: Json;
  try {
    generated = converter[side]({ target: 'draft-2020-12' });
  } catch (error) {
    return { description: `No JSON Schema: ${error instanceof Error ? error.message : String(error)}` };
  }
  const { $schema: _ignored, ...rest } = generated;
  return rebase(rest, `#/components/schemas/${name}`) as Json;
}

/** Rewrites every local `$ref` (`#...`) of a schema to sit under `base`. */
function rebase(value: unknown, base: string): unknown {
  if (Array.isArray(value)) return value.map((item) => rebase(item, base));
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      key === '$ref' && typeof item === 'string' && item.startsWith('#')
        ? base + item.slice(1)
        : rebase(item, base);
  }
  return out;
}
