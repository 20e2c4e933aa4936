/**
 * Load for the stack's fault tests: autocannon on 127.0.0.1, bounded in time, a mix of GETs and POSTs
 * where each POST carries its own Idempotency-Key. Reports requests sent, failures by method (any status
 * ≥ 500 or a transport error), and the p99 latency over the run.
 */
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';

export interface LoadReport {
  readonly sent: number;
  readonly failed: { readonly GET: number; readonly POST: number; readonly transport: number };
  readonly statuses: Readonly<Record<string, number>>;
  /** The first few failed answers' bodies, to say what failed. */
  readonly samples: readonly string[];
  readonly p99Ms: number;
  readonly durationMs: number;
}

export interface LoadOptions {
  readonly url: string;
  /** The run's length; autocannon stops at it. */
  readonly durationMs: number;
  /** Concurrent connections. @default 16 */
  readonly connections?: number;
  /** The path a GET reads (e.g. an existing shape). @default '/api/shapes?limit=5' */
  readonly getPath?: string;
  /** Runs during the load (the fault); its promise is awaited before the report. */
  readonly during?: () => Promise<void>;
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const statuses: Record<string, number> = {};
  const failed = { GET: 0, POST: 0 };
  const samples: string[] = [];
  // A failure is what a client would have to handle: any 5xx, and a 409 (an Idempotency-Key still held).
  const count = (method: 'GET' | 'POST') => (status: number, body: string) => {
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status >= 500 || status === 409) {
      failed[method]++;
      if (samples.length < 5) samples.push(`${method} ${status} ${String(body).slice(0, 200)}`);
    }
  };
  const started = Date.now();
  const instance = autocannon({
    url: options.url,
    connections: options.connections ?? 16,
    duration: Math.max(1, Math.round(options.durationMs / 1000)),
    // A POST retried while its first gateway's claim lapses may take the route's deadline and more.
    timeout: 20,
    requests: [
      { method: 'GET', path: options.getPath ?? '/api/shapes?limit=5', onResponse: count('GET') },
      {
        method: 'POST',
        path: '/api/shapes',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({
          ...request,
          headers: { ...request.headers, 'idempotency-key': randomUUID() },
          body: JSON.stringify({ kind: 'circle', radius: 1 + Math.random() }),
        }),
        onResponse: count('POST'),
      },
    ],
  });
  const result: autocannon.Result = await new Promise((resolve, reject) => {
    const fault = options.during?.();
    (instance as unknown as Promise<autocannon.Result>).then(async (r) => {
      try {
        await fault;
        resolve(r);
      } catch (error) {
        reject(error);
      }
    }, reject);
  });
  return {
    sent: result.requests.sent,
    failed: { ...failed, transport: result.errors + result.timeouts },
    statuses,
    samples,
    p99Ms: result.latency.p99,
    durationMs: Date.now() - started,
  };
}
