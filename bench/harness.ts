/**
 * The benchmark harness: every candidate is warmed, then all are measured round by round in a rotating
 * order, and compared as ratios taken round by round, so a verdict carries its spread. Each candidate
 * brings its own loop (`run(n)`), so every library is called from a call site of its own and none
 * inherits another's inline caches.
 */
import { cpus, totalmem } from 'node:os';

export interface Candidate {
  readonly name: string;
  /** Performs `n` operations. */
  readonly run: (n: number) => void | Promise<void>;
}

export interface Case {
  readonly title: string;
  /** What one operation is, for the table header (e.g. "emit", "batch of 10,000 tasks"). */
  readonly unit: string;
  readonly candidates: readonly Candidate[];
  /** The floor every ratio is taken against (e.g. a plain loop); defaults to the first candidate. */
  readonly baseline?: string;
  /** Keel's candidate, whose ratio against each library is printed too. */
  readonly subject?: string;
  /** Interleaved rounds, each measuring every candidate once; at least 5. @default 15 */
  readonly rounds?: number;
  /** Time one sample should take, in ms. @default 25 */
  readonly sampleMs?: number;
  /** Also measure heap allocated per operation (needs `--expose-gc`). @default false */
  readonly heap?: boolean;
  /**
   * What a sample's time is: `wall` (elapsed time), or `cpu` (the process's user + system CPU time,
   * garbage-collector threads included), which other work on a shared machine disturbs far less. Use
   * `cpu` only for work that never waits on I/O or timers, or the waits go unmeasured.
   * @default 'wall'
   */
  readonly clock?: 'wall' | 'cpu';
}

export interface Result {
  readonly name: string;
  readonly medianNs: number;
  readonly minNs: number;
  readonly heapBytes: number | undefined;
  /** Time per operation in each round, in round order, so two candidates compare round by round. */
  readonly samplesNs: readonly number[];
}

/** A ratio measured round by round: its median and how far the rounds spread. */
export interface Spread {
  /** The median of the per-round ratios. */
  readonly median: number;
  /** The interquartile range of the per-round ratios. */
  readonly q1: number;
  readonly q3: number;
  readonly min: number;
  readonly max: number;
  /** How many interleaved rounds the ratio was taken over. */
  readonly runs: number;
}

/** The fewest interleaved rounds a verdict may rest on. */
export const MIN_ROUNDS = 5;

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: readonly number[]): number => quantile(xs, 0.5);

/** The q-quantile of `xs`, interpolated between the two nearest ranks. */
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (at - lo);
}

const cpuNow = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e3;
};

async function time(candidate: Candidate, n: number, clock: () => number = now): Promise<number> {
  const start = clock();
  await candidate.run(n);
  return clock() - start;
}

/** Finds how many operations make one sample last about `sampleMs`, warming the candidate on the way. */
async function calibrate(candidate: Candidate, sampleMs: number): Promise<number> {
  let n = 1;
  for (;;) {
    let ms = await time(candidate, n);
    // A pause (a collection, another process holding the core) only lengthens a timing; trusted alone, one
    // paused timing of a handful of operations would set a sample of a handful, whose time per operation
    // is then mostly the harness's own overhead. So a long timing is taken twice more, and the least kept.
    if (ms >= sampleMs / 4) ms = Math.min(ms, await time(candidate, n), await time(candidate, n));
    if (ms >= sampleMs / 4 || n >= 1 << 30)
      return Math.max(1, Math.round((n * sampleMs) / Math.max(ms, 1e-3)));
    n *= ms < sampleMs / 100 ? 10 : 2;
  }
}

async function heapPerOp(candidate: Candidate, n: number): Promise<number | undefined> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return undefined;
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    gc();
    const before = process.memoryUsage().heapUsed;
    await candidate.run(n);
    samples.push((process.memoryUsage().heapUsed - before) / n);
  }
  return median(samples);
}

/** Measures one case and returns a result per candidate, in the order given. */
export async function measure(c: Case): Promise<Result[]> {
  const rounds = c.rounds ?? 15;
  if (!Number.isInteger(rounds) || rounds < MIN_ROUNDS) {
    throw new RangeError(`${c.title}: rounds must be an integer ≥ ${MIN_ROUNDS}; received ${rounds}`);
  }
  const sampleMs = c.sampleMs ?? 25;
  const clock = c.clock === 'cpu' ? cpuNow : now;
  const sizes = new Map<Candidate, number>();
  // Warm every candidate first (twice over, so later candidates do not meet a colder machine).
  for (let pass = 0; pass < 2; pass++)
    for (const k of c.candidates) sizes.set(k, await calibrate(k, sampleMs));
  const samples = new Map<Candidate, number[]>(c.candidates.map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round so no candidate always runs right after the same neighbour.
    for (let i = 0; i < c.candidates.length; i++) {
      const k = c.candidates[(i + round) % c.candidates.length] as Candidate;
      const n = sizes.get(k) as number;
      samples.get(k)?.push(((await time(k, n, clock)) * 1e6) / n);
    }
  }
  const results: Result[] = [];
  for (const k of c.candidates) {
    const xs = samples.get(k) as number[];
    const heapBytes = c.heap ? await heapPerOp(k, Math.min(sizes.get(k) as number, 1_000_000)) : undefined;
    results.push({ name: k.name, medianNs: median(xs), minNs: Math.min(...xs), heapBytes, samplesNs: xs });
  }
  return results;
}

const fmtNs = (ns: number): string =>
  ns >= 1e6
    ? `${(ns / 1e6).toFixed(2)} ms`
    : ns >= 1e3
      ? `${(ns / 1e3).toFixed(2)} µs`
      : `${ns.toFixed(1)} ns`;
const fmtBytes = (b: number): string =>
  b >= 1024 * 1024
    ? `${(b / 1024 / 1024).toFixed(2)} MiB`
    : b >= 1024
      ? `${(b / 1024).toFixed(1)} KiB`
      : `${Math.round(b)} B`;

/** Renders a case's results as a Markdown table with ratios against the baseline and against Keel. */
export function table(c: Case, results: readonly Result[]): string {
  const base = results.find((r) => r.name === (c.baseline ?? c.candidates[0]?.name)) ?? results[0];
  const subject = c.subject ? results.find((r) => r.name === c.subject) : undefined;
  const heap = results.some((r) => r.heapBytes !== undefined);
  const head = [`candidate`, `median per ${c.unit}`, `best`, `× ${base?.name ?? 'baseline'}`];
  if (subject) head.push(`${subject.name} speed-up`);
  if (heap) head.push(`heap per ${c.unit}`, `heap × ${base?.name}`);
  const clock = c.clock === 'cpu' ? ' (CPU time)' : '';
  const lines = [
    `#### ${c.title}${clock}`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => ' --- ').join('|')}|`,
  ];
  for (const r of results) {
    const row = [
      r.name,
      fmtNs(r.medianNs),
      fmtNs(r.minNs),
      base ? `${(r.medianNs / base.medianNs).toFixed(2)}×` : '',
    ];
    if (subject) row.push(r === subject ? '—' : `${(r.medianNs / subject.medianNs).toFixed(2)}×`);
    if (heap) {
      row.push(r.heapBytes === undefined ? 'n/a' : fmtBytes(r.heapBytes));
      row.push(
        r.heapBytes !== undefined && base?.heapBytes
          ? `${(r.heapBytes / base.heapBytes).toFixed(2)}×`
          : 'n/a',
      );
    }
    lines.push(`| ${row.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Measures a case and prints its table; returns the results for targets to check. */
export async function run(c: Case): Promise<Result[]> {
  const results = await measure(c);
  console.log(`${table(c, results)}\n`);
  return results;
}

/** The median, interquartile range and range of per-round ratios, refused below `MIN_ROUNDS` rounds. */
function summarise(what: string, ratios: readonly number[]): Spread {
  if (ratios.length < MIN_ROUNDS)
    throw new Error(`${what}: ${ratios.length} rounds; a spread needs at least ${MIN_ROUNDS}`);
  return {
    median: median(ratios),
    q1: quantile(ratios, 0.25),
    q3: quantile(ratios, 0.75),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    runs: ratios.length,
  };
}

function named(results: readonly Result[], name: string): Result {
  const r = results.find((x) => x.name === name);
  if (!r) throw new Error(`no result named ${name}`);
  return r;
}

/**
 * The ratio of `a` to `b` taken in each interleaved round (both were measured in the same round, so a
 * disturbance of the machine touches both), with its median and spread.
 */
export function spread(results: readonly Result[], a: string, b: string): Spread {
  const x = named(results, a);
  const y = named(results, b);
  const n = Math.min(x.samplesNs.length, y.samplesNs.length);
  const ratios = Array.from({ length: n }, (_, i) => (x.samplesNs[i] as number) / (y.samplesNs[i] as number));
  return summarise(`${a} / ${b}`, ratios);
}

/** A ratio against the fastest of several candidates, taken round by round. */
export interface BestSpread extends Spread {
  /** The candidate that was fastest in the most rounds (the first named wins a tie). */
  readonly fastest: string;
  /** In how many rounds `fastest` was the fastest. */
  readonly fastestRounds: number;
}

/**
 * The ratio of `a` to the fastest of `others` in each interleaved round, with its median and spread:
 * "faster than every library" holds in a round exactly when this round's ratio is below 1. The fastest
 * is picked afresh each round, so a library that wins only some rounds still counts in those rounds.
 */
export function spreadVsBest(results: readonly Result[], a: string, others: readonly string[]): BestSpread {
  if (others.length === 0) throw new Error(`${a}: no candidates to compare against`);
  if (others.includes(a)) throw new Error(`${a} is among the candidates it is compared against`);
  const x = named(results, a);
  const ys = others.map((name) => named(results, name));
  const n = Math.min(x.samplesNs.length, ...ys.map((y) => y.samplesNs.length));
  const wins = new Map<string, number>(others.map((name) => [name, 0]));
  const ratios = Array.from({ length: n }, (_, i) => {
    let best = ys[0] as Result;
    for (const y of ys) if ((y.samplesNs[i] as number) < (best.samplesNs[i] as number)) best = y;
    wins.set(best.name, (wins.get(best.name) as number) + 1);
    return (x.samplesNs[i] as number) / (best.samplesNs[i] as number);
  });
  const s = summarise(`${a} / fastest of ${others.join(', ')}`, ratios);
  let fastest = others[0] as string;
  for (const [name, count] of wins) if (count > (wins.get(fastest) as number)) fastest = name;
  return { ...s, fastest, fastestRounds: wins.get(fastest) as number };
}

/** What a spread shows about a target: met only if the whole interquartile range meets it. */
export type Verdict = 'met' | 'MISSED' | 'not shown: spread crosses target';

export function verdict(s: Spread, limit: number, direction: 'at most' | 'at least' = 'at most'): Verdict {
  const meets = (x: number): boolean => (direction === 'at most' ? x <= limit : x >= limit);
  if (meets(s.q1) && meets(s.q3)) return 'met';
  if (!meets(s.q1) && !meets(s.q3)) return 'MISSED';
  return 'not shown: spread crosses target';
}

const x2 = (r: number): string => `${r.toFixed(2)}×`;

/**
 * Prints a verdict on a target; never fails the run (machines here are noisy). Given a `Spread` (from
 * `spread()`), it states the median of the per-round ratios with their interquartile range and full
 * range, and says "met" only when the whole interquartile range meets the target, "not shown: spread
 * crosses target" when it straddles it. Given a single number (a ratio of medians, or of heap figures),
 * it has no spread to show, so it says so and gives no verdict.
 */
export function target(
  label: string,
  ratio: number | Spread,
  limit: number,
  direction: 'at most' | 'at least' = 'at most',
): void {
  const goal = `target ${direction} ${limit}×`;
  if (typeof ratio === 'number') {
    console.log(`- single figure, no spread: ${label}: ${x2(ratio)} (${goal})`);
    return;
  }
  const s = ratio;
  console.log(
    `- ${verdict(s, limit, direction)}: ${label}: median ${x2(s.median)} of ${s.runs} interleaved runs ` +
      `(IQR ${x2(s.q1)}–${x2(s.q3)}, range ${x2(s.min)}–${x2(s.max)}; ${goal})`,
  );
}

/** Median ratio of two named results (a single figure; `spread()` gives the round-by-round ratio). */
export function ratio(results: readonly Result[], a: string, b: string): number {
  const x = results.find((r) => r.name === a);
  const y = results.find((r) => r.name === b);
  if (!x || !y) throw new Error(`no result named ${x ? b : a}`);
  return x.medianNs / y.medianNs;
}

/** The machine a run was made on, as one Markdown line. */
export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `Node ${process.version}, ${process.platform} ${process.arch}, ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
}
