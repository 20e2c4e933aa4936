/**
 * The stack's fault suite (`npm run test:stack`): the shapes backend as many processes behind HAProxy,
 * over a 3-node NATS cluster, Redis (AOF) and PostgreSQL, with instances and engines killed and
 * restarted under load. Each scenario prints what it measured: requests sent, failures by method, p99.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../deploy/stack.ts';
import { findBinary } from '../../scripts/engines.ts';
import { type LoadReport, runLoad } from '../integration/stack-load.ts';

const runDir = mkdtempSync(join(tmpdir(), 'keel-stack-'));
// Render workers pause after each shape, so a render is still running when a worker is killed.
process.env.RENDER_PACE_MS = '300';
const stack = new Stack({
  command: 'up',
  gateways: 2,
  services: 2,
  workers: 2,
  port: 0,
  natsNodes: 3,
  runDir,
  quiet: true,
});
let shapeId = '';
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function report(name: string, load: LoadReport): void {
  console.log(
    `[stack] ${name}: sent ${load.sent}, failed GET ${load.failed.GET} POST ${load.failed.POST} transport ${load.failed.transport}, p99 ${load.p99Ms} ms, statuses ${JSON.stringify(load.statuses)}${load.samples.length > 0 ? `, e.g. ${load.samples.join(' | ')}` : ''}`,
  );
}

function expectNoFailures(load: LoadReport): void {
  expect(load.sent).toBeGreaterThan(100);
  expect(load.failed).toEqual({ GET: 0, POST: 0, transport: 0 });
}

async function json(
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${stack.url}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text, headers: res.headers };
}

async function createShapes(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await json('/api/shapes', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'rectangle', width: 2 + i, height: 3 }),
    });
    expect(res.status).toBe(201);
    ids.push(res.body.id);
  }
  return ids;
}

async function renderAndWait(
  ids: string[],
  timeoutMs: number,
  during?: (jobId: string) => Promise<void>,
): Promise<string> {
  const started = await json('/api/renders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ids }),
  });
  expect(started.status).toBe(202);
  const { jobId } = started.body;
  await during?.(jobId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await json(`/api/renders/${jobId}`);
    if (res.status === 200 && res.body.state === 'completed') break;
    if (res.status === 200 && res.body.state === 'failed')
      throw new Error(`render ${jobId} failed: ${JSON.stringify(res.body)}`);
    if (Date.now() > deadline)
      throw new Error(`render ${jobId} not completed within ${timeoutMs} ms: ${JSON.stringify(res.body)}`);
    await delay(100);
  }
  const sheet = await json(`/api/renders/${jobId}/svg`);
  expect(sheet.status).toBe(200);
  return sheet.body as string;
}

beforeAll(async () => {
  await stack.up();
  shapeId = (await createShapes(1))[0] as string;
}, 180_000);

afterAll(async () => {
  await stack.stop();
  rmSync(runDir, { recursive: true, force: true });
}, 120_000);

describe('the stack under faults', () => {
  it('serves through HAProxy from every gateway', async () => {
    const servedBy = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await json(`/api/shapes/${shapeId}`);
      expect(res.status).toBe(200);
      servedBy.add((res.headers.get('x-served-by') ?? '').split(/[ ,;]/)[0] ?? '');
    }
    expect(servedBy.size).toBe(2);
  });

  it('the live page through the stack shows both gateways; one killed, it shows only the other and nothing fails', async () => {
    const executablePath = findBinary('chromium');
    if (!executablePath) throw new Error('chromium not found: install the Debian package chromium');
    const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('response', (response) => {
        if (response.status() >= 500) problems.push(`${response.status()} ${response.url()}`);
      });
      page.on('requestfailed', (request) => {
        // A stream or a poll cut by the kill is the page's to recover; it must not fail anything else.
        const url = request.url();
        if (!url.endsWith('/api/events') && !url.endsWith('/api/services')) problems.push(`failed ${url}`);
      });
      await page.goto(stack.url);
      await page.locator('#conn', { hasText: 'Live' }).waitFor({ timeout: 15_000 });
      const gateways = () => page.locator('#gateways li').allTextContents();
      // The page polls the services every 2 s through HAProxy: both gateways answer in turn.
      await expect.poll(gateways, { timeout: 20_000, interval: 250 }).toEqual(['gw1', 'gw2']);
      await stack.parts.slots.find((s) => s.name === 'gw1')?.process.kill();
      await expect.poll(gateways, { timeout: 30_000, interval: 250 }).toEqual(['gw2']);
      await page.locator('#conn', { hasText: 'Live' }).waitFor({ timeout: 15_000 });
      console.log(
        `[stack] live page: both gateways shown, then only gw2 after gw1 was killed; problems: ${problems.length}`,
      );
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
    await stack.revive('gw1');
  }, 120_000);

  it('1. SIGKILL one of two gateways under load: no failed request', async () => {
    const gw = stack.parts.slots.find((s) => s.name === 'gw1');
    const load = await runLoad({
      url: stack.url,
      durationMs: 6000,
      getPath: `/api/shapes/${shapeId}`,
      during: async () => {
        await delay(2000);
        await gw?.process.kill();
      },
    });
    report('SIGKILL a gateway', load);
    expectNoFailures(load);
    await stack.revive('gw1');
  }, 120_000);

  it('2. SIGKILL one of two shapes services under load: no failed request', async () => {
    const svc = stack.parts.slots.find((s) => s.name === 'svc1');
    const load = await runLoad({
      url: stack.url,
      durationMs: 6000,
      getPath: `/api/shapes/${shapeId}`,
      during: async () => {
        await delay(2000);
        await svc?.process.kill();
      },
    });
    report('SIGKILL a shapes service', load);
    expectNoFailures(load);
    await stack.revive('svc1');
  }, 120_000);

  it('3. SIGKILL a render worker mid-job: the render completes elsewhere with the same sheet', async () => {
    const ids = await createShapes(6);
    const reference = await renderAndWait(ids, 60_000);
    // Only wrk1 runs while the job starts, so the kill below hits the worker that holds it.
    const [wrk1, wrk2] = stack.parts.slots.filter((slot) => slot.role === 'workers');
    await wrk2?.process.stop(30_000);
    const sheet = await renderAndWait(ids, 120_000, async (jobId) => {
      let progress = -1;
      for (let i = 0; i < 200 && progress < 0; i++) {
        const res = await json(`/api/renders/${jobId}`);
        if (res.body.state === 'active') progress = res.body.progress;
        else await delay(20);
      }
      await wrk1?.process.kill();
      // Killed mid-job: the render was running (each shape takes RENDER_PACE_MS, so it had not finished).
      expect(progress).toBeGreaterThanOrEqual(0);
      expect(progress).toBeLessThan(100);
      // The job's lock lapses and wrk2, started again, takes the stalled job over.
      await stack.revive('wrk2');
    });
    console.log(
      `[stack] SIGKILL the render worker running a job: completed on the other, sheet ${sheet.length} bytes`,
    );
    expect(sheet).toBe(reference);
    await stack.revive('wrk1');
  }, 240_000);

  it('4. SIGKILL one NATS node of three under load: no failed request', async () => {
    const node = stack.parts.nats?.nodes[0];
    const load = await runLoad({
      url: stack.url,
      durationMs: 6000,
      getPath: `/api/shapes/${shapeId}`,
      during: async () => {
        await delay(2000);
        await node?.kill();
      },
    });
    report('SIGKILL a NATS node', load);
    expectNoFailures(load);
    await node?.start();
  }, 120_000);

  it('5. rolling restart of all gateways, then all services, under load: no failed request, no reset', async () => {
    const load = await runLoad({
      url: stack.url,
      durationMs: 40_000,
      getPath: `/api/shapes/${shapeId}`,
      during: async () => {
        await stack.restart('gateways', () => {});
        await stack.restart('services', () => {});
      },
    });
    report('rolling restart of gateways and services', load);
    expectNoFailures(load);
  }, 180_000);

  it('6. redis-server restarted: renders continue and no job is lost', async () => {
    const ids = await createShapes(3);
    const before = renderAndWait(ids, 90_000);
    await delay(200);
    await stack.parts.redis?.restart();
    const after = renderAndWait(ids, 90_000);
    const [a, b] = await Promise.all([before, after]);
    expect(a).toBe(b);
    console.log('[stack] redis restarted: both renders completed');
  }, 240_000);

  it('7. PostgreSQL restarted: requests in the gap fail fast with 503 and Retry-After; service recovers alone', async () => {
    const pg = stack.parts.postgres;
    await pg?.kill();
    const started = Date.now();
    const gap = await json(`/api/shapes/${shapeId}`);
    const took = Date.now() - started;
    expect(gap.status).toBe(503);
    expect(gap.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(took).toBeLessThan(5000);
    await pg?.start();
    let back = 0;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      back = (await json(`/api/shapes/${shapeId}`)).status;
      if (back === 200) break;
      await delay(100);
    }
    console.log(
      `[stack] PostgreSQL restarted: gap answered ${gap.status} in ${took} ms; recovered in ${Date.now() - started} ms`,
    );
    expect(back).toBe(200);
  }, 120_000);
});
