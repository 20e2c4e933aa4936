import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request, tempDir } from './shapes-harness.ts';

// The backend runs in a process of its own (role all, SQLite file), so the heap measured is the server's.
const fixture = join(import.meta.dirname, 'shapes-fuzz-server.ts');
const dir = tempDir('fuzz');
let server: ChildProcess;
let url: string;

function ask<T>(message: object): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer to ${JSON.stringify(message)} in 30 s`)),
      30_000,
    );
    server.once('message', (answer) => {
      clearTimeout(timer);
      resolve(answer as T);
    });
    server.send(message);
  });
}

/** The server's heap after full collections, once the responses of the last batch have settled. */
async function settledHeap(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  return (await ask<{ heapUsed: number }>({ kind: 'heap' })).heapUsed;
}

beforeAll(async () => {
  server = spawn(
    process.execPath,
    ['--expose-gc', '--conditions=keel-source', fixture, `sqlite:${join(dir.path, 'shapes.db')}`],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, NODE_NO_WARNINGS: '1' } },
  );
  const [first] = (await Promise.race([
    once(server, 'message'),
    new Promise((_, fail) =>
      setTimeout(() => fail(new Error('the fuzz server did not start in 30 s')), 30_000),
    ),
  ])) as [{ url: string }];
  url = first.url;
}, 60_000);

afterAll(async () => {
  if (server?.connected) {
    const exited = once(server, 'exit');
    server.send({ kind: 'stop' });
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  }
  if (server?.exitCode === null) server.kill('SIGKILL');
  dir.remove();
}, 30_000);

const oddText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '\u0000',
    '\uFEFF',
    '\u202E',
    '𝕊𝕙𝕒𝕡𝕖',
    '../../etc/passwd',
    '%00',
    '%',
    '%E0%A4%A',
    '__proto__',
    'constructor',
  ),
);
const hugeNumber = fc.oneof(
  fc.double(),
  fc.constantFrom(1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER + 2, 2 ** 64),
  fc.integer(),
);
const deep = fc.integer({ min: 1, max: 5000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth));
const deepObject = fc
  .integer({ min: 1, max: 2000 })
  .map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);

const segment = fc.oneof(fc.constantFrom('shapes', 'renders', 'svg', 'events', '1', '0', '-1'), oddText);
const path = fc.oneof(
  fc.constantFrom(
    '/api/shapes',
    '/api/renders',
    '/health/ready',
    '/health/live',
    '/openapi.json',
    '/api/shapes/x/svg',
  ),
  fc.array(segment, { maxLength: 5 }).map((parts) => `/api/${parts.map(encodeURIComponent).join('/')}`),
  fc
    .tuple(fc.constantFrom('/api/shapes', '/api/renders/1'), fc.dictionary(oddText, oddText, { maxKeys: 4 }))
    .map(([p, query]) => `${p}?${new URLSearchParams(query)}`),
  fc
    .tuple(fc.constantFrom('limit', 'cursor', 'kind'), fc.oneof(oddText, hugeNumber.map(String)))
    .map(([k, v]) => `/api/shapes?${k}=${encodeURIComponent(v)}`),
);
const shapeLike = fc.record(
  {
    kind: fc.oneof(fc.constantFrom('circle', 'rectangle', 'triangle'), oddText),
    radius: fc.oneof(hugeNumber, oddText),
    width: hugeNumber,
    height: hugeNumber,
    a: hugeNumber,
    b: hugeNumber,
    c: hugeNumber,
    ids: fc.array(oddText, { maxLength: 3 }),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  shapeLike.map((v) => ({ raw: JSON.stringify(v), type: 'application/json' })),
  fc.jsonValue({ maxDepth: 6 }).map((v) => ({ raw: JSON.stringify(v), type: 'application/json' })),
  deep.map((raw) => ({ raw, type: 'application/json' })),
  deepObject.map((raw) => ({ raw, type: 'application/json' })),
  oddText.map((raw) => ({ raw, type: 'application/json' })),
  fc
    .tuple(
      oddText,
      fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/xml',
        'multipart/form-data',
        'weird/type; charset=nope',
      ),
    )
    .map(([raw, type]) => ({ raw, type })),
  fc.constant(undefined),
);
const anyRequest = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
  path,
  body,
  idempotencyKey: fc.option(oddText, { nil: undefined }),
});
// Requests aimed at the real routes, so the services and the store are exercised too, not only the router.
const size = fc.oneof(
  { weight: 4, arbitrary: fc.double({ min: 0.001, max: 1e6, noNaN: true }) },
  { weight: 1, arbitrary: hugeNumber },
);
const validishShape = fc.oneof(
  fc.record({ kind: fc.constant('circle'), radius: size }),
  fc.record({ kind: fc.constant('rectangle'), width: size, height: size }),
  fc.record({ kind: fc.constant('triangle'), a: size, b: size, c: size }),
);
const json = (value: unknown) => ({ raw: JSON.stringify(value), type: 'application/json' });
const id = fc.oneof(oddText, fc.uuid({ version: 7 })).map(encodeURIComponent);
const routeRequest = fc.oneof(
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant('/api/shapes'),
    body: fc.oneof(validishShape, shapeLike).map(json),
  }),
  fc.record({ method: fc.constant('POST'), path: fc.constant('/api/shapes'), body: validishShape.map(json) }),
  fc.record({
    method: fc.constant('GET'),
    path: path.filter((p) => p.startsWith('/api/shapes?')),
    body: fc.constant(undefined),
  }),
  fc.record({
    method: fc.constantFrom('GET', 'DELETE'),
    path: fc.tuple(id, fc.constantFrom('', '/svg')).map(([i, tail]) => `/api/shapes/${i}${tail}`),
    body: fc.constant(undefined),
  }),
  fc.record({
    method: fc.constant('POST'),
    path: fc.constant('/api/renders'),
    body: fc.oneof(fc.record({ ids: fc.array(id, { maxLength: 5 }) }), shapeLike).map(json),
  }),
  fc.record({
    method: fc.constant('GET'),
    path: fc
      .tuple(fc.oneof(oddText, fc.nat().map(String)), fc.constantFrom('', '/svg'))
      .map(([i, tail]) => `/api/renders/${encodeURIComponent(i)}${tail}`),
    body: fc.constant(undefined),
  }),
);
const requestArb = fc.oneof(
  { weight: 1, arbitrary: anyRequest },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        routeRequest,
        fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: oddText }),
      )
      .map(([r, idempotencyKey]) => ({ ...r, idempotencyKey })),
  },
);

type FuzzRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

async function send(r: FuzzRequest, signal: AbortSignal): Promise<number> {
  const headers: Record<string, string> = {};
  if (r.body !== undefined) headers['content-type'] = r.body.type;
  if (r.idempotencyKey !== undefined) {
    // fetch refuses header values with control characters or past latin-1; send those percent-encoded.
    headers['idempotency-key'] = /^[\x20-\x7e]*$/.test(r.idempotencyKey)
      ? r.idempotencyKey
      : encodeURIComponent(r.idempotencyKey);
  }
  const withBody = r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD';
  const response = await fetch(new URL(r.path, url), {
    method: r.method,
    headers,
    ...(withBody ? { body: r.body?.raw as string } : {}),
    signal,
  });
  // GET /api/events is a stream that never ends by itself: its status is the answer.
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) await response.body?.cancel();
  else await response.arrayBuffer();
  return response.status;
}

it('5,000 random requests: no 5xx, the process stays up, the heap is flat after GC', {
  timeout: 120_000,
}, async () => {
  const requests = fc.sample(requestArb, { numRuns: 5000, seed: 20261202 });
  const failures: { request: FuzzRequest; status: number }[] = [];
  const heapAt: number[] = [];
  const byStatus = new Map<number, number>();
  const concurrency = 8;
  const started = Date.now();
  for (let i = 0; i < requests.length; i += concurrency) {
    const batch = requests.slice(i, i + concurrency);
    // One bound per batch, cleared after it: a timer per request would keep each request alive 15 s.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('a batch of requests took over 15 s')), 15_000);
    const statuses = await Promise.all(batch.map((r) => send(r, controller.signal))).finally(() =>
      clearTimeout(timer),
    );
    statuses.forEach((status, j) => {
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      if (status >= 500) failures.push({ request: batch[j] as FuzzRequest, status });
    });
    // The first 1,000 warm everything up (JIT, pools, caches); the heap is measured from there.
    if (i + concurrency === 1000) heapAt.push(await settledHeap());
  }
  const seconds = (Date.now() - started) / 1000;
  const end = await settledHeap();
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
  console.log(
    `fuzz: 5000 requests in ${seconds.toFixed(1)} s, ${failures.length} answered 5xx; heap after GC at 1,000 requests ${mib(heapAt[0] as number)} MiB, at 5,000 ${mib(end)} MiB; statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort(([a], [b]) => a - b)))}`,
  );
  const shown = failures.slice(0, 5).map(({ request: r, status }) => ({
    status,
    method: r.method,
    path: r.path,
    idempotencyKey: r.idempotencyKey,
    body: r.body && `${r.body.type}: ${r.body.raw.slice(0, 60)}… (${r.body.raw.length} chars)`,
  }));
  expect(shown, `${failures.length} answers were 5xx`).toEqual([]);
  // Still up (the same process) and still right.
  expect(server.exitCode).toBeNull();
  expect((await request(url, '/health/live')).status).toBe(200);
  const made = await request(url, '/api/shapes', { body: { kind: 'circle', radius: 1 } });
  expect(made.status).toBe(201);
  // Flat: what the last 4,000 requests added to the heap after a full GC stays within a few megabytes
  // (a per-request leak of even 1 KB would add 4 MB).
  const growth = end - (heapAt[0] as number);
  expect(growth).toBeLessThan(4 * 2 ** 20);
});
