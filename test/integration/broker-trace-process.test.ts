/**
 * One trace across three processes over a real nats-server: a caller here calls `front.relay` in a
 * second process, whose handler calls `back.leaf` in a third. Each process exports its own spans (the
 * children print theirs as JSON lines); the trace ids and the parent chain must join up.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBroker } from '../../src/index.ts';
import { until } from '../../src/transport/event-bridge.contract.ts';
import { type SpanJson, startTestTracing, type TestTracing } from '../fixtures/otel-tracing.ts';
import { engineUrl } from './engine-urls.ts';
import { traceContracts } from './fixtures/trace-contracts.ts';

const url = engineUrl('KEEL_NATS_URL');

interface Node {
  readonly child: ChildProcessByStdio<Writable, Readable, null>;
  readonly exited: Promise<unknown[]>;
  lines(): (string | { span?: SpanJson })[];
  spans(): SpanJson[];
}

function start(role: 'front' | 'back', suffix: string, sdk: 'sdk' | 'none'): Node {
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'fixtures/trace-node.ts'), role, url, suffix, sdk],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = once(child, 'exit');
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const lines = () =>
    out
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as string | { span?: SpanJson });
  const spans = () => lines().flatMap((l) => (typeof l === 'object' && l.span !== undefined ? [l.span] : []));
  return { child, exited, lines, spans };
}

/** Ends a node's stdin, so it stops its broker and exits; SIGKILL if it has not within the bound. */
async function finish(node: Node): Promise<void> {
  node.child.stdin.end();
  const timer = setTimeout(() => node.child.kill('SIGKILL'), 10_000);
  try {
    const [code] = await node.exited;
    expect(code).toBe(0);
    expect(node.lines().at(-1)).toBe('closed');
  } finally {
    clearTimeout(timer);
  }
}

let tracing: TestTracing;
const nodes: Node[] = [];
beforeAll(() => {
  tracing = startTestTracing();
});
afterAll(async () => {
  for (const node of nodes) {
    if (node.child.exitCode === null && node.child.signalCode === null) {
      node.child.kill('SIGKILL');
      await node.exited;
    }
  }
  await tracing.stop();
});

/** Starts front and back, calls `front.relay` from here, stops both; returns what each side saw. */
async function scenario(frontSdk: 'sdk' | 'none') {
  const suffix = randomUUID().slice(0, 8);
  const back = start('back', suffix, 'sdk');
  const front = start('front', suffix, frontSdk);
  nodes.push(back, front);
  for (const [name, node] of [
    ['back', back],
    ['front', front],
  ] as const) {
    await until(
      () => node.lines().includes('ready'),
      () => `the ${name} process to print ready, got ${JSON.stringify(node.lines())}`,
      15_000,
    );
  }
  const { front: contract } = traceContracts(suffix);
  const caller = await createBroker({ transport: url, contracts: [contract], nodeId: 'trace-caller' });
  tracing.exporter.reset();
  let result: unknown;
  try {
    result = await caller.client(contract).relay(null, { meta: { 'x-request-id': 'r-1' }, timeoutMs: 5000 });
  } finally {
    await caller.stop({ timeoutMs: 2000 });
  }
  // The spans of a process are all ended before it replies; stopping flushes the printing too.
  await finish(front);
  await finish(back);
  return {
    result: result as {
      front: { traceId: string; meta: Record<string, string> };
      back: { traceId: string; meta: Record<string, string> };
    },
    here: tracing.spans(),
    front: front.spans(),
    back: back.spans(),
    contracts: traceContracts(suffix),
  };
}

it('one trace id and one parent chain from a caller through a service to its nested call, across three processes', async () => {
  const { result, here, front, back, contracts } = await scenario('sdk');
  expect(here.map((s) => `${s.kind} ${s.name}`)).toEqual([`CLIENT ${contracts.front.name}/relay`]);
  expect(front.map((s) => `${s.kind} ${s.name}`).sort()).toEqual([
    `CLIENT ${contracts.back.name}/leaf`,
    `SERVER ${contracts.front.name}/relay`,
  ]);
  expect(back.map((s) => `${s.kind} ${s.name}`)).toEqual([`SERVER ${contracts.back.name}/leaf`]);
  const caller = here[0] as SpanJson;
  const served = front.find((s) => s.kind === 'SERVER') as SpanJson;
  const nested = front.find((s) => s.kind === 'CLIENT') as SpanJson;
  const leaf = back[0] as SpanJson;

  expect(caller.parentSpanId).toBeUndefined();
  expect(served.parentSpanId).toBe(caller.spanId);
  expect(nested.parentSpanId).toBe(served.spanId);
  expect(leaf.parentSpanId).toBe(nested.spanId);
  for (const span of [served, nested, leaf]) expect(span.traceId).toBe(caller.traceId);
  expect(result.front.traceId).toBe(caller.traceId);
  expect(result.back.traceId).toBe(caller.traceId);

  // Each side names itself and its caller; the trace context never shows in the handler's meta.
  expect(caller.attributes).toMatchObject({ 'keel.node.id': 'trace-caller', 'keel.call.local': false });
  expect(served.attributes).toMatchObject({
    'rpc.system': 'keel',
    'rpc.service': contracts.front.name,
    'rpc.method': 'relay',
    'keel.node.id': 'trace-front',
    'keel.caller.node.id': 'trace-caller',
  });
  expect(leaf.attributes).toMatchObject({
    'keel.node.id': 'trace-back',
    'keel.caller.node.id': 'trace-front',
    'keel.call.depth': 2,
  });
  expect(result.front.meta).toEqual({ 'x-request-id': 'r-1' });
  expect(result.back.meta).toEqual({ 'x-request-id': 'r-1' });
}, 60_000);

it('a middle process without an SDK passes the trace context on unchanged', async () => {
  const { result, here, front, back } = await scenario('none');
  expect(front).toEqual([]);
  const caller = here[0] as SpanJson;
  const leaf = back[0] as SpanJson;
  expect(here).toHaveLength(1);
  expect(back).toHaveLength(1);
  // W3C pass-through: the middle hop makes no span, so the leaf is a child of the caller's span.
  expect(leaf.traceId).toBe(caller.traceId);
  expect(leaf.parentSpanId).toBe(caller.spanId);
  expect(result.front.traceId).toBe(caller.traceId);
  expect(result.back.traceId).toBe(caller.traceId);
}, 60_000);
