/**
 * SIGTERM under load, a gateway in its own process: every request in flight succeeds, readiness turns
 * 503 before the listener closes, and the process exits 0 within its deadline.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { expect, it } from 'vitest';

interface Outcome {
  readonly status?: number;
  readonly error?: string;
  readonly at: number;
}

/** One request over a keep-alive agent: its status, or the error code it failed with. */
function call(agent: Agent, url: string, method: string, body?: unknown): Promise<Outcome> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(url, {
      method,
      agent,
      headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      timeout: 10_000,
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, at: Date.now() }));
      res.on('error', (error: NodeJS.ErrnoException) =>
        resolve({ error: error.code ?? error.message, at: Date.now() }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ error: error.code ?? error.message, at: Date.now() }),
    );
    req.end(payload);
  });
}

it('SIGTERM under load: no request in flight fails, readiness went 503 before the listener closed, exit 0 within the deadline', async () => {
  const drainDelayMs = 500;
  const stopTimeoutMs = 5000;
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'fixtures/gateway-process.ts'), String(drainDelayMs), String(stopTimeoutMs)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  let buffered = '';
  child.stdout.on('data', (chunk) => {
    buffered += chunk;
    let at = buffered.indexOf('\n');
    while (at >= 0) {
      lines.push(JSON.parse(buffered.slice(0, at)));
      buffered = buffered.slice(at + 1);
      at = buffered.indexOf('\n');
    }
  });
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, at: Date.now() })),
  );
  try {
    const deadline = Date.now() + 15_000;
    while (!lines.some((l) => typeof l.url === 'string')) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`the gateway did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const url = lines.find((l) => typeof l.url === 'string')?.url as string;
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });
    const outcomes: Outcome[] = [];
    const readiness: Outcome[] = [];
    let running = true;
    // The probe plays the load balancer: once readiness says 503, no new request is sent (HAProxy
    // takes the server out of rotation); every request already sent must still succeed.
    let drainSeen = false;
    // Load: 16 loops of GETs through the broker and POSTs.
    const loop = async (i: number) => {
      while (running && !drainSeen) {
        const outcome =
          i % 2 === 0
            ? await call(agent, `${url}/api/slow?ms=20`, 'GET')
            : await call(agent, `${url}/api/things`, 'POST', { name: `n${i}`, size: 1 });
        if (outcome.error === 'ECONNREFUSED') return;
        outcomes.push(outcome);
      }
    };
    const probe = async () => {
      const fresh = new Agent({ keepAlive: false });
      while (running) {
        const outcome = await call(fresh, `${url}/health/ready`, 'GET');
        readiness.push(outcome);
        if (outcome.status === 503) drainSeen = true;
        // Refused: the listener is closed. Reset: the probe's connection sat in the kernel's accept
        // queue when the listener closed (the kernel resets those). Either marks the close.
        if (outcome.error !== undefined) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const loops = [...Array.from({ length: 16 }, (_, i) => loop(i)), probe()];
    // Requests keep coming until the probe has seen the drain.
    // Under load for a while, and the probe has seen the gateway ready (a loaded machine may be slow).
    const loaded = Date.now() + 10_000;
    await new Promise((resolve) => setTimeout(resolve, 500));
    while (!readiness.some((o) => o.status === 200) || outcomes.length === 0) {
      if (Date.now() > loaded) throw new Error('no load or no ready answer within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const served = outcomes.length;
    // Four long requests (1.5 s, past the 0.5 s drain delay) in flight when the signal comes.
    const long = Array.from({ length: 4 }, () => call(agent, `${url}/api/slower?ms=1500`, 'GET'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const killedAt = Date.now();
    child.kill('SIGTERM');
    const exit = await exited;
    running = false;
    await Promise.all(loops);
    const longOutcomes = await Promise.all(long);
    agent.destroy();
    const closedAt = lines.find((l) => l.state === 'stopped')?.at as number;

    // What a failure message shows, so a failure on a loaded machine says what happened.
    const first = (pick: (o: Outcome) => boolean) => {
      const found = readiness.find(pick);
      return found === undefined ? undefined : found.at - killedAt;
    };
    const summary = JSON.stringify({
      sentBeforeSignal: served,
      answered: outcomes.length,
      first503Ms: first((o) => o.status === 503),
      closedMs: first((o) => o.error !== undefined),
      exitMs: exit.at - killedAt,
      exitCode: exit.code,
      long: longOutcomes.map((o) => [o.status ?? o.error, o.at - killedAt]),
      failed: outcomes
        .filter((o) => o.status === undefined || o.status >= 300)
        .map((o) => [o.status ?? o.error, o.at - killedAt]),
      states: lines.filter((l) => l.state !== undefined).map((l) => [l.state, (l.at as number) - killedAt]),
      stderr: stderr.slice(0, 500),
    });
    expect(served, summary).toBeGreaterThan(0);
    expect(outcomes.length, summary).toBeGreaterThan(served);
    const failed = outcomes.filter((o) => o.status === undefined || o.status >= 300);
    expect(failed, `client requests that failed: ${summary}`).toEqual([]);
    // The long ones were in flight through the drain delay and the listener's close, and all succeeded.
    expect(
      longOutcomes.map((o) => o.status),
      summary,
    ).toEqual([200, 200, 200, 200]);
    for (const o of longOutcomes) expect(o.at, summary).toBeGreaterThan(killedAt + drainDelayMs);
    expect(closedAt, summary).toBeGreaterThan(killedAt);
    // Readiness answered 503 before the first refused connection, and 200 before the signal.
    const first503 = readiness.find((o) => o.status === 503);
    const refused = readiness.find((o) => o.error !== undefined);
    expect(['ECONNREFUSED', 'ECONNRESET'], summary).toContain(refused?.error);
    expect(
      readiness.some((o) => o.status === 200 && o.at < killedAt),
      summary,
    ).toBe(true);
    expect(first503, summary).toBeDefined();
    expect(refused, summary).toBeDefined();
    expect((first503 as Outcome).at, summary).toBeLessThan((refused as Outcome).at);
    expect(
      readiness.filter((o) => o.status !== undefined && o.status !== 200 && o.status !== 503),
      summary,
    ).toEqual([]);
    // The process said what it did, and exited 0 within its deadline.
    expect(
      lines.filter((l) => l.state !== undefined).map((l) => l.state),
      summary,
    ).toEqual(['ready', 'draining', 'stopped']);
    const messages = lines.map((l) => l.msg).filter((m) => typeof m === 'string');
    expect(messages, summary).toContain('SIGTERM received: stopping');
    expect(messages.at(-1), summary).toBe('stopped');
    // Every log line of a request names its request id and trace id.
    const requestLines = lines.filter((l) => l.req !== undefined || l.res !== undefined);
    expect(requestLines.length, summary).toBeGreaterThan(0);
    for (const line of requestLines) {
      expect(line.reqId, summary).toEqual(expect.any(String));
      expect(line.traceId, summary).toMatch(/^[0-9a-f]{32}$/);
    }
    expect(exit.code, summary).toBe(0);
    expect(exit.at - killedAt, summary).toBeLessThan(stopTimeoutMs);
    expect(exit.at - killedAt, summary).toBeGreaterThanOrEqual(drainDelayMs);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  }
}, 30_000);
