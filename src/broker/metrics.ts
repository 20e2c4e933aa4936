/** Metrics: per action and side, counts, errors by code, in-flight and a latency histogram — bumped, never allocated, per call. */
import { KeelError } from '../errors.ts';

/**
 * The latency histogram's upper bounds, in milliseconds (Prometheus `le`); a last bucket (`+Inf`) takes
 * the rest. Fixed, so recording a call is a few comparisons and one increment.
 */
export const latencyBucketsMs: readonly number[] = Object.freeze([
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000,
]);

/** Distinct error codes counted per action and side; further codes are counted under `other`. */
export const maxErrorCodes = 32;

/** Which end of a call a meter counts: the broker that called (`call`) or the one that served (`serve`). */
export type MetricSide = 'call' | 'serve';

/** One action on one side, as `broker.metrics()` reports it. */
export interface ActionMetrics {
  /** `<contract>.<action>` */
  readonly action: string;
  /** The contract's major version. */
  readonly version: number;
  readonly side: MetricSide;
  /** Calls finished (succeeded or failed). */
  readonly calls: number;
  /** Calls that failed. */
  readonly errors: number;
  /** Failed calls by error code (`KEEL_…`, `ERROR` for an error without one, `other` past 32 codes). */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Calls started and not finished. */
  readonly inFlight: number;
  /** The latency of finished calls, in milliseconds. */
  readonly latencyMs: {
    /** Cumulative counts, one per bound of `latencyBucketsMs` (calls that took at most that long). */
    readonly buckets: readonly number[];
    readonly sum: number;
    /** Every finished call: the `+Inf` bucket. */
    readonly count: number;
  };
  /** The last failure, when there was one. */
  readonly lastError: { readonly code: string; readonly message: string } | undefined;
}

/** What `broker.metrics()` returns: a snapshot, a new object each time. */
export interface BrokerMetrics {
  readonly nodeId: string;
  /** The histogram's upper bounds, in milliseconds. */
  readonly latencyBucketsMs: readonly number[];
  /** One entry per action this broker called or served since it started. */
  readonly actions: readonly ActionMetrics[];
}

const lastBound = latencyBucketsMs.length;

/** The counters of one action on one side. */
export class ActionMeter {
  readonly action: string;
  readonly version: number;
  readonly side: MetricSide;
  calls = 0;
  errors = 0;
  inFlight = 0;
  /** Total milliseconds of finished calls. */
  sumMs = 0;
  readonly #buckets = new Float64Array(lastBound + 1);
  readonly #codes = new Map<string, number>();
  #lastCode: string | undefined;
  #lastMessage: unknown;

  constructor(action: string, version: number, side: MetricSide) {
    this.action = action;
    this.version = version;
    this.side = side;
  }

  /** A call starts; returns its start time for `succeeded` / `failed`. */
  begin(): number {
    this.inFlight++;
    return performance.now();
  }

  /** A call started at `started` succeeded (at `ended`, both on the `performance.now()` clock). */
  succeeded(started: number, ended = performance.now()): void {
    this.#finish(ended - started);
  }

  failed(started: number, error: unknown, ended = performance.now()): void {
    this.#finish(ended - started);
    this.errors++;
    const code = codeOf(error);
    const seen = this.#codes.get(code);
    if (seen !== undefined) this.#codes.set(code, seen + 1);
    else if (this.#codes.size < maxErrorCodes) this.#codes.set(code, 1);
    else this.#codes.set('other', (this.#codes.get('other') ?? 0) + 1);
    this.#lastCode = code;
    // The message is read when a snapshot is taken; only the reference is kept here.
    this.#lastMessage = (error as { message?: unknown } | null)?.message;
  }

  /** The last failure as `<code>: <message>`, or `''` (the NATS Service API's `last_error`). */
  get lastError(): string {
    return this.#lastCode === undefined ? '' : `${this.#lastCode}: ${String(this.#lastMessage ?? '')}`;
  }

  snapshot(): ActionMetrics {
    const buckets: number[] = [];
    let running = 0;
    for (let i = 0; i < lastBound; i++) {
      running += this.#buckets[i] as number;
      buckets.push(running);
    }
    return {
      action: this.action,
      version: this.version,
      side: this.side,
      calls: this.calls,
      errors: this.errors,
      errorsByCode: Object.fromEntries(this.#codes),
      inFlight: this.inFlight,
      latencyMs: { buckets, sum: this.sumMs, count: this.calls },
      lastError:
        this.#lastCode === undefined
          ? undefined
          : { code: this.#lastCode, message: String(this.#lastMessage ?? '') },
    };
  }

  #finish(ms: number): void {
    this.inFlight--;
    this.calls++;
    this.sumMs += ms;
    let i = 0;
    while (i < lastBound && ms > (latencyBucketsMs[i] as number)) i++;
    (this.#buckets[i] as number)++;
  }
}

/** A broker's meters, one per action subject and side, made on first use. */
export class Meters {
  readonly #serving = new Map<string, ActionMeter>();
  readonly #calling = new Map<string, ActionMeter>();

  /** The serving side's meter of an action (by its subject, so two majors stay apart). */
  serving(action: { readonly key: string; readonly subject: string }): ActionMeter {
    return this.#serving.get(action.subject) ?? this.#make(this.#serving, action, 'serve');
  }

  /** The calling side's meter of an action. */
  calling(action: { readonly key: string; readonly subject: string }): ActionMeter {
    return this.#calling.get(action.subject) ?? this.#make(this.#calling, action, 'call');
  }

  snapshot(nodeId: string): BrokerMetrics {
    return {
      nodeId,
      latencyBucketsMs,
      actions: [...this.#calling.values(), ...this.#serving.values()].map((m) => m.snapshot()),
    };
  }

  #make(
    table: Map<string, ActionMeter>,
    action: { readonly key: string; readonly subject: string },
    side: MetricSide,
  ): ActionMeter {
    // An action subject is `<name>.v<major>.<action>` (subjects.ts).
    const version = Number(action.subject.split('.')[1]?.slice(1));
    const meter = new ActionMeter(action.key, version, side);
    table.set(action.subject, meter);
    return meter;
  }
}

/** The code a failure is counted under. */
function codeOf(error: unknown): string {
  if (error instanceof KeelError) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' && code.length <= 64 ? code : 'ERROR';
}
