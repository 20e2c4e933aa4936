/**
 * Cancellation crosses a real process boundary: a caller here aborts (or times out) a request that a
 * handler in a child process is serving over nats-server, and that handler's `meta.signal` aborts.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { until } from '../../src/transport/event-bridge.contract.ts';
import { openTransport, TransportTimeoutError } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';

const url = engineUrl('KEEL_NATS_URL');

it("a caller's abort and a caller's deadline reach the handler's signal in another process", async () => {
  const subject = `keel.process.cancel.${randomUUID()}`;
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'fixtures/cancel-responder.ts'), url, subject],
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
      .map((line) => JSON.parse(line) as Record<string, unknown> | string);
  const line = (key: string, payload: string) =>
    lines().find((l) => typeof l === 'object' && l[key] === payload) as Record<string, unknown> | undefined;
  await using transport = await openTransport(url);
  try {
    await until(
      () => lines().includes('ready'),
      () => `the child to print ready, got ${JSON.stringify(out)}`,
      10_000,
    );

    // An abort: the caller's signal.
    const controller = new AbortController();
    const reason = new Error('the caller gave up');
    const aborted = transport.request(subject, 'abort me', {
      signal: controller.signal,
      timeoutMs: 30_000,
      headers: {
        'x-request-id': 'r-1',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      },
    });
    await until(
      () => line('started', 'abort me') !== undefined,
      () => `the handler to start, got ${JSON.stringify(out)}`,
    );
    const started = line('started', 'abort me') as Record<string, unknown>;
    expect(started.headers).toEqual({
      'x-request-id': 'r-1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    // The budget travelled as a relative timeout: what is left there is at most what was given here.
    expect(started.budgetMs).toBeGreaterThan(20_000);
    expect(started.budgetMs).toBeLessThanOrEqual(30_000);
    const abortedAt = Date.now();
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    await until(
      () => line('ended', 'abort me') !== undefined,
      () => `the remote handler's signal to abort, got ${JSON.stringify(out)}`,
    );
    const ended = line('ended', 'abort me') as Record<string, unknown>;
    expect(ended).toMatchObject({ aborted: true, code: 'KEEL_TRANSPORT_CANCELLED' });
    // One host, one clock: a generous bound for a loaded machine (loopback takes a few milliseconds).
    expect((ended.at as number) - abortedAt).toBeLessThan(1000);

    // A deadline: the caller's timeoutMs.
    const timedOut = await transport
      .request(subject, 'time me out', { timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(TransportTimeoutError);
    await until(
      () => line('ended', 'time me out') !== undefined,
      () => `the remote handler's signal to abort at the deadline, got ${JSON.stringify(out)}`,
    );
    expect(line('ended', 'time me out')).toMatchObject({ aborted: true, code: 'KEEL_TRANSPORT_DEADLINE' });

    child.stdin.end();
    const [code] = await exited;
    expect(code).toBe(0);
    expect(lines().at(-1)).toBe('closed');
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
});
