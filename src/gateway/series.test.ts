/** Series families: the same Prometheus text as prom-client's Counter and Histogram for the same events. */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SeriesFamily } from './series.ts';

const bounds = [0.001, 0.01, 0.1, 1];
const events: [string, string, number][] = [
  ['GET', '200', 0.0005],
  ['GET', '200', 0.001],
  ['GET', '200', 0.05],
  ['POST', '201', 0.2],
  ['GET', '404', 7],
  ['GET', '200', 0.0101],
];

function withPromClient(): Registry {
  const registry = new Registry();
  const counter = new Counter({
    name: 'requests_total',
    help: 'requests "quoted"\nand a line',
    labelNames: ['method', 'status'],
    registers: [registry],
  });
  const histogram = new Histogram({
    name: 'request_seconds',
    help: 'latency',
    labelNames: ['method', 'status'],
    buckets: bounds,
    registers: [registry],
  });
  for (const [method, status, value] of events) {
    counter.inc({ method, status });
    histogram.observe({ method, status }, value);
  }
  return registry;
}

function withSeries(): Registry {
  const registry = new Registry();
  const family = new SeriesFamily(['method', 'status'], bounds);
  registry.registerMetric(family.counter('requests_total', 'requests "quoted"\nand a line') as never);
  registry.registerMetric(family.histogram('request_seconds', 'latency') as never);
  for (const [method, status, value] of events) family.observe(family.series(method, status), value);
  return registry;
}

describe('SeriesFamily', () => {
  it('writes the text and JSON prom-client writes for the same counts and observations', async () => {
    const expected = withPromClient();
    const actual = withSeries();
    expect(await actual.metrics()).toBe(await expected.metrics());
    expect(await actual.getMetricsAsJSON()).toEqual(await expected.getMetricsAsJSON());
  });

  it('finds the same series for the same label values; a reset empties every series, and counting starts again', async () => {
    const registry = new Registry();
    const family = new SeriesFamily(['action', 'code']);
    registry.registerMetric(family.counter('calls_total', 'calls') as never);
    const ok = family.series('a.b', 'OK');
    expect(family.series('a.b', 'OK')).toBe(ok);
    expect(family.series('a.b', 'FAILED')).not.toBe(ok);
    family.inc(ok);
    family.inc(ok);
    expect(await registry.metrics()).toBe(
      '# HELP calls_total calls\n# TYPE calls_total counter\ncalls_total{action="a.b",code="OK"} 2\n',
    );
    registry.resetMetrics();
    expect(await registry.metrics()).toBe('# HELP calls_total calls\n# TYPE calls_total counter\n');
    family.inc(ok);
    expect(await registry.metrics()).toContain('calls_total{action="a.b",code="OK"} 1');
  });
});
