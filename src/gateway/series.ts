/**
 * Counters and histograms kept as plain numbers per label set, read by a prom-client Registry at scrape
 * time: the hot path finds its series once and adds to it, with no label object hashed per request.
 */

/** One label set's tallies: its count (a counter's value), and a histogram's sum and buckets. */
export class Series {
  readonly labels: Readonly<Record<string, string>>;
  count = 0;
  sum = 0;
  /** Observations per bucket (not cumulative); the last slot holds those above every bound. */
  readonly buckets: number[];

  constructor(labels: Readonly<Record<string, string>>, bucketCount: number) {
    this.labels = labels;
    this.buckets = new Array<number>(bucketCount + 1).fill(0);
  }
}

interface MetricValues {
  name: string;
  help: string;
  type: string;
  values: object[];
  aggregator: 'sum';
}

/** What prom-client's Registry reads from a metric (`registerMetric`, `metrics()`, `resetMetrics()`). */
export interface RegistryMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  /** For the text format. */
  getForPromString(): MetricValues;
  /** For `getMetricsAsJSON()`. */
  get(): MetricValues;
  reset(): void;
}

/** A family of series with the same label names, found by their values. */
export class SeriesFamily {
  readonly #labelNames: readonly string[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  /** `bounds`: a histogram's upper bounds in seconds, ascending; empty for a counter only. */
  constructor(labelNames: readonly string[], bounds: readonly number[] = []) {
    this.#labelNames = labelNames;
    this.#bounds = bounds;
  }

  /** The series of these label values (in the order of the label names); callers keep it for reuse. */
  series(...values: string[]): Series {
    const key = values.join('\u0000');
    let found = this.#series.get(key);
    if (found === undefined) {
      const labels: Record<string, string> = {};
      for (const [i, name] of this.#labelNames.entries()) labels[name] = values[i] as string;
      found = new Series(labels, this.#bounds.length);
      this.#series.set(key, found);
    }
    return found;
  }

  /** Counts one event (and, for a histogram, its value). */
  observe(series: Series, value: number): void {
    series.count++;
    series.sum += value;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (series.buckets[i] as number)++;
  }

  /** Counts one event. */
  inc(series: Series): void {
    series.count++;
  }

  /** The family as a counter: each series' count. */
  counter(name: string, help: string): RegistryMetric {
    const values = () => {
      const out: object[] = [];
      for (const s of this.#live()) out.push({ labels: s.labels, value: s.count });
      return out;
    };
    return this.#metric(name, help, 'counter', values, values);
  }

  /** The family as a histogram: cumulative buckets, `+Inf`, sum and count, as prom-client writes them. */
  histogram(name: string, help: string): RegistryMetric {
    // The text writer takes a series' labels apart from `le` (`sharedLabels`); JSON gets them merged.
    const values = (split: boolean) => {
      const out: object[] = [];
      const bucket = `${name}_bucket`;
      const value = (le: number | string | undefined, s: Series, n: number, metricName: string) =>
        histogramValue(split, s.labels, le, n, metricName);
      for (const s of this.#live()) {
        let total = 0;
        for (const [i, le] of this.#bounds.entries()) {
          total += s.buckets[i] as number;
          out.push(value(le, s, total, bucket));
        }
        out.push(
          value('+Inf', s, s.count, bucket),
          value(undefined, s, s.sum, `${name}_sum`),
          value(undefined, s, s.count, `${name}_count`),
        );
      }
      return out;
    };
    return this.#metric(
      name,
      help,
      'histogram',
      () => values(true),
      () => values(false),
    );
  }

  /** Series with something counted: a reset (or a label set never used) lists none. */
  *#live(): Iterable<Series> {
    for (const s of this.#series.values()) if (s.count > 0) yield s;
  }

  #metric(
    name: string,
    help: string,
    type: 'counter' | 'histogram',
    forText: () => object[],
    forJson: () => object[],
  ): RegistryMetric {
    // The series stay (callers hold them); zeroed, they are left out until counted again.
    return registryMetric(name, help, type, forText, forJson, () => {
      for (const s of this.#series.values()) {
        s.count = 0;
        s.sum = 0;
        s.buckets.fill(0);
      }
    });
  }
}

/** A metric for prom-client's Registry whose values are made when it is read: `forText` and `forJson`. */
export function registryMetric(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  forText: () => object[],
  forJson: () => object[],
  reset: () => void,
): RegistryMetric {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    getForPromString: () => ({ name, help, type, values: forText(), aggregator: 'sum' }),
    get: () => ({ name, help, type, values: forJson(), aggregator: 'sum' }),
    reset,
  };
}

/**
 * One value of a histogram as prom-client's writers take it: `le` set for a bucket, undefined for the sum
 * and the count. The text writer takes the series' labels apart (`split`); JSON gets them merged.
 */
export function histogramValue(
  split: boolean,
  labels: Readonly<Record<string, string>>,
  le: number | string | undefined,
  value: number,
  metricName: string,
): object {
  if (le === undefined) {
    return split
      ? { labels: {}, sharedLabels: labels, value, metricName }
      : { labels: { ...labels }, value, metricName };
  }
  return split
    ? { labels: { le }, sharedLabels: labels, value, metricName, exemplar: null }
    : { labels: { le, ...labels }, value, metricName, exemplar: null };
}
