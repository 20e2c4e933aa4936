/**
 * `GET /metrics` in Prometheus text, from a Registry of the gateway's own (never prom-client's global
 * one): HTTP requests by route pattern and status, broker calls by action and error code, jobs by state
 * (read from the queues at scrape time, bounded), and prom-client's process and event-loop metrics.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from 'prom-client';
import { raceAbort } from '../abort.ts';
import { type Broker, latencyBucketsMs } from '../broker/index.ts';
import { checkDuration, checkOptions, describe, InvalidArgumentError } from '../errors.ts';
import { exemptFromPressure } from './health.ts';
import { histogramValue, type RegistryMetric, registryMetric, type Series, SeriesFamily } from './series.ts';

/** What the metrics read from a job queue (a `JobQueue` from `openQueue` fits). */
export interface CountedQueue {
  readonly name: string;
  /** Jobs by state (`{ waiting, active, … }`); every numeric field becomes a series. */
  counts(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<object>;
}

export interface MetricsOptions {
  /** Queues whose jobs are counted by state at each scrape. @default none */
  readonly queues?: readonly CountedQueue[] | undefined;
  /** How long one scrape waits for a queue's counts; a queue that does not answer is left out. @default 1000 */
  readonly queueTimeoutMs?: number | undefined;
  /** prom-client's default metrics (process, heap, GC, event-loop delay). @default true */
  readonly defaultMetrics?: boolean | undefined;
}

export interface MetricsPluginOptions extends MetricsOptions {
  /** The broker whose outgoing calls are reported by action and outcome. */
  readonly broker?: Broker<any> | undefined;
}

export const metricsOptionKeys = ['queues', 'queueTimeoutMs', 'defaultMetrics'] as const;

declare module 'fastify' {
  interface FastifyInstance {
    /** The gateway's metrics registry, when the metrics route is registered. */
    keelMetrics?: Registry;
  }
}

/** Seconds; from 1 ms to 10 s, where an HTTP gateway's latencies live. */
const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The label of a request that matched no route: raw URLs would give one series per URL. */
const unmatched = '(unmatched)';

/** Checks the options once. */
export function metricsSettings(label: string, options: MetricsOptions | undefined) {
  checkOptions(label, options, metricsOptionKeys);
  const queues = options?.queues ?? [];
  if (!Array.isArray(queues)) {
    throw new InvalidArgumentError(
      `${label} queues must be an array of job queues; received ${describe(queues)}`,
    );
  }
  for (const [i, queue] of queues.entries()) {
    if (typeof queue?.name !== 'string' || typeof queue?.counts !== 'function') {
      throw new InvalidArgumentError(
        `${label} queues[${i}] must be a job queue (with name and counts()); received ${describe(queue)}`,
      );
    }
  }
  const defaults = options?.defaultMetrics ?? true;
  if (typeof defaults !== 'boolean') {
    throw new InvalidArgumentError(
      `${label} defaultMetrics must be a boolean; received ${describe(defaults)}`,
    );
  }
  return {
    queues: queues as readonly CountedQueue[],
    queueTimeoutMs: checkDuration(`${label} queueTimeoutMs`, options?.queueTimeoutMs ?? 1000, {
      min: 1,
      allowInfinity: false,
    }),
    defaultMetrics: defaults,
  };
}

/** Each queue's counts by name, or undefined for a queue that failed or did not answer in time. */
async function readQueues(
  queues: readonly CountedQueue[],
  timeoutMs: number,
): Promise<Map<string, object | undefined>> {
  const read = await Promise.all(
    queues.map(async (queue) => {
      try {
        const signal = AbortSignal.timeout(timeoutMs);
        // Raced as well: a queue that ignores its signal still cannot hold the scrape.
        return [queue.name, await raceAbort(queue.counts({ timeoutMs, signal }), signal)] as const;
      } catch {
        return [queue.name, undefined] as const;
      }
    }),
  );
  return new Map(read);
}

/** The metrics route and its collectors as a Fastify plugin: `app.register(keelMetrics, { broker, queues })`. */
export const keelMetrics = fp(
  async (app: FastifyInstance, options: MetricsPluginOptions) => {
    const { broker, ...rest } = options ?? {};
    const settings = metricsSettings('keelMetrics options', rest);
    // Loaded here, so a gateway without metrics runs without prom-client installed.
    const { collectDefaultMetrics, Gauge, Registry } = await import('prom-client');
    const registry = new Registry();
    if (settings.defaultMetrics) collectDefaultMetrics({ register: registry });

    // Requests by method, route pattern and status: one series each, found through maps kept per route
    // and method, and read by the registry at scrape time.
    const requests = new SeriesFamily(['method', 'route', 'status_code'], latencyBuckets);
    registry.registerMetric(
      requests.counter(
        'http_requests_total',
        'HTTP requests answered, by method, route pattern and status code',
      ) as never,
    );
    registry.registerMetric(
      requests.histogram(
        'http_request_duration_seconds',
        'Time from request to response, by method, route pattern and status code',
      ) as never,
    );
    const byRoute = new Map<string, Map<string, Map<number, Series>>>();
    const requestSeries = (method: string, route: string, status: number): Series => {
      let byMethod = byRoute.get(route);
      if (byMethod === undefined) byRoute.set(route, (byMethod = new Map()));
      let byStatus = byMethod.get(method);
      if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
      let series = byStatus.get(status);
      if (series === undefined)
        byStatus.set(status, (series = requests.series(method, route, String(status))));
      return series;
    };
    app.addHook('onResponse', (request, reply, done) => {
      const series = requestSeries(request.method, request.routeOptions.url ?? unmatched, reply.statusCode);
      requests.observe(series, reply.elapsedTime / 1000);
      done();
    });

    // The broker's calls, read from its own counters at scrape time: no work per call here.
    if (broker !== undefined)
      for (const metric of brokerCallMetrics(broker)) registry.registerMetric(metric as never);

    if (settings.queues.length > 0) {
      // One read of every queue per scrape, shared by the two gauges that report it.
      let scraping: Promise<Map<string, object | undefined>> | undefined;
      const scrape = () => {
        scraping ??= readQueues(settings.queues, settings.queueTimeoutMs).finally(
          () => (scraping = undefined),
        );
        return scraping;
      };
      new Gauge({
        name: 'keel_jobs',
        help: 'Jobs by queue and state, read at scrape time',
        labelNames: ['queue', 'state'] as const,
        registers: [registry],
        async collect() {
          this.reset();
          for (const [queue, counts] of await scrape()) {
            for (const [state, n] of Object.entries(counts ?? {})) {
              if (typeof n === 'number') this.set({ queue, state }, n);
            }
          }
        },
      });
      new Gauge({
        name: 'keel_jobs_up',
        help: 'Whether the queue reported its counts within queueTimeoutMs at this scrape (1) or not (0)',
        labelNames: ['queue'] as const,
        registers: [registry],
        async collect() {
          for (const [queue, counts] of await scrape()) this.set({ queue }, counts === undefined ? 0 : 1);
        },
      });
    }

    if (app.keelEvents !== undefined) {
      const events = app.keelEvents;
      new Gauge({
        name: 'keel_sse_clients',
        help: 'Clients connected to the events stream',
        registers: [registry],
        collect() {
          this.set(events.clients);
        },
      });
    }

    app.decorate('keelMetrics', registry);
    app.get('/metrics', { config: exemptFromPressure }, async (_request, reply) => {
      reply.header('content-type', registry.contentType).header('cache-control', 'no-store');
      return registry.metrics();
    });
  },
  { fastify: '5.x', name: 'keel-metrics' },
);

/** One action's calling-side numbers, every major of its contract together (one series per action name). */
interface CallTally {
  ok: number;
  readonly byCode: Map<string, number>;
  count: number;
  sumMs: number;
  readonly buckets: number[];
}

/** The calling side of a broker's metrics, summed per action name across the majors of its contract. */
function tallyCalls(broker: Broker<any>): Map<string, CallTally> {
  const tallies = new Map<string, CallTally>();
  for (const a of broker.metrics().actions) {
    if (a.side !== 'call') continue;
    let tally = tallies.get(a.action);
    if (tally === undefined) {
      tally = { ok: 0, byCode: new Map(), count: 0, sumMs: 0, buckets: latencyBucketsMs.map(() => 0) };
      tallies.set(a.action, tally);
    }
    tally.ok += a.calls - a.errors;
    for (const [code, n] of Object.entries(a.errorsByCode))
      tally.byCode.set(code, (tally.byCode.get(code) ?? 0) + n);
    tally.count += a.latencyMs.count;
    tally.sumMs += a.latencyMs.sum;
    for (const [i, n] of a.latencyMs.buckets.entries()) tally.buckets[i] = (tally.buckets[i] ?? 0) + n;
  }
  return tallies;
}

/**
 * `keel_broker_calls_total{action, code}` and `keel_broker_call_duration_seconds{action}`: the calling
 * side of `broker.metrics()` (every call this process's broker made, retries included; the majors of a
 * contract together under the action's name), read when scraped. A registry reset counts from then on:
 * the counts at the reset are kept and taken off.
 */
export function brokerCallMetrics(broker: Broker<any>): RegistryMetric[] {
  let baseline = new Map<string, CallTally>();
  const calls = (): { action: string; now: CallTally; before: CallTally | undefined }[] =>
    [...tallyCalls(broker)].map(([action, now]) => ({ action, now, before: baseline.get(action) }));
  const reset = () => {
    baseline = tallyCalls(broker);
  };
  const counter = (): object[] => {
    const out: object[] = [];
    for (const { action, now, before } of calls()) {
      const ok = now.ok - (before?.ok ?? 0);
      if (ok > 0) out.push({ labels: { action, code: 'OK' }, value: ok });
      for (const [code, n] of now.byCode) {
        const value = n - (before?.byCode.get(code) ?? 0);
        if (value > 0) out.push({ labels: { action, code }, value });
      }
    }
    return out;
  };
  const histogram = (split: boolean): object[] => {
    const name = 'keel_broker_call_duration_seconds';
    const out: object[] = [];
    const value = (
      labels: Record<string, string>,
      le: string | number | undefined,
      n: number,
      metricName: string,
    ) => histogramValue(split, labels, le, n, metricName);
    for (const { action, now, before } of calls()) {
      const count = now.count - (before?.count ?? 0);
      if (count === 0) continue;
      const labels = { action };
      for (const [i, ms] of latencyBucketsMs.entries()) {
        const n = (now.buckets[i] ?? 0) - (before?.buckets[i] ?? 0);
        out.push(value(labels, ms / 1000, n, `${name}_bucket`));
      }
      out.push(
        value(labels, '+Inf', count, `${name}_bucket`),
        value(labels, undefined, (now.sumMs - (before?.sumMs ?? 0)) / 1000, `${name}_sum`),
        value(labels, undefined, count, `${name}_count`),
      );
    }
    return out;
  };
  const metric = (
    name: string,
    help: string,
    type: 'counter' | 'histogram',
    forText: () => object[],
    forJson: () => object[],
  ): RegistryMetric => registryMetric(name, help, type, forText, forJson, reset);
  return [
    metric(
      'keel_broker_calls_total',
      "Calls made through this process's broker, by action and outcome (OK or the error code)",
      'counter',
      counter,
      counter,
    ),
    metric(
      'keel_broker_call_duration_seconds',
      "Latency of calls made through this process's broker, retries included, by action",
      'histogram',
      () => histogram(true),
      () => histogram(false),
    ),
  ];
}
