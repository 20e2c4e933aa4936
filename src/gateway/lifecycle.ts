/**
 * The gateway's lifecycle: one state (starting → ready → draining → stopped) that readiness, a load
 * balancer's agent and stop() all read, and the ordered stop sequence SIGTERM runs.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { settleWithin } from '../abort.ts';
import { describe } from '../errors.ts';

/** `starting` until listening, `ready` while serving, `draining` from stop() on, `stopped` at the end. */
export type GatewayState = 'starting' | 'ready' | 'draining' | 'stopped';

const order: Record<GatewayState, number> = { starting: 0, ready: 1, draining: 2, stopped: 3 };

/** One state, moved only forward; listeners hear each change (readiness, an agent check, logs). */
export class Lifecycle {
  #state: GatewayState = 'starting';
  readonly #listeners = new Set<(state: GatewayState, from: GatewayState) => void>();

  get state(): GatewayState {
    return this.#state;
  }

  /** Moves to `next` when it lies ahead; returns whether the state changed. */
  moveTo(next: GatewayState): boolean {
    const from = this.#state;
    if (order[next] <= order[from]) return false;
    this.#state = next;
    for (const listener of this.#listeners) listener(next, from);
    return true;
  }

  /** Calls `listener` on every change; returns a function that stops it. */
  onChange(listener: (state: GatewayState, from: GatewayState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** One step of the stop sequence after the server has closed: `broker`, `queue workers`, `database`… */
export interface StopStep {
  readonly name: string;
  readonly run: () => Promise<void> | void;
}

export interface StopPlan {
  readonly lifecycle: Lifecycle;
  /** How long readiness answers 503 before the listener closes, so load balancers stop sending. */
  readonly drainDelayMs: number;
  /** Closes the listener and waits for requests in flight; resolves false when they outlast `budgetMs`. */
  readonly closeServer: (budgetMs: number) => Promise<boolean>;
  /** Run in order after the server, each bounded by what is left of the deadline. */
  readonly steps: readonly StopStep[];
  /** The whole sequence's deadline, in ms. */
  readonly timeoutMs: number;
  /** Where the sequence says what it does and what hung. */
  readonly log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/** What a stop did: whether it finished within its deadline, and what did not. */
export interface StopReport {
  readonly ok: boolean;
  /** The parts that did not finish in time or failed, in words. */
  readonly hung: readonly string[];
}

/**
 * readiness 503 at once (state `draining`) → wait `drainDelayMs` → close the listener and let requests in
 * flight finish → run each step in order → `stopped`. Every wait is bounded by the deadline; a part that
 * outlasts it is named in the report, and the sequence goes on to the next part.
 */
export async function runStop(plan: StopPlan): Promise<StopReport> {
  const { lifecycle, log } = plan;
  const deadline = Date.now() + plan.timeoutMs;
  const left = () => Math.max(0, deadline - Date.now());
  const hung: string[] = [];
  lifecycle.moveTo('draining');
  log('info', `draining: readiness answers 503; the listener closes in ${plan.drainDelayMs} ms`);
  if (plan.drainDelayMs > 0) await delay(Math.min(plan.drainDelayMs, left()));
  if (!(await plan.closeServer(left()))) hung.push('requests in flight (connections were cut)');
  for (const step of plan.steps) {
    const budget = left();
    let failed: unknown;
    const work = (async () => step.run())().catch((error: unknown) => {
      failed = error;
    });
    if (!(await settleWithin(work, budget))) hung.push(`${step.name} (still closing after the deadline)`);
    else if (failed !== undefined) {
      hung.push(`${step.name} (failed: ${failed instanceof Error ? failed.message : describe(failed)})`);
    }
  }
  lifecycle.moveTo('stopped');
  if (hung.length === 0) log('info', 'stopped');
  else log('error', `stopped with parts that did not close cleanly: ${hung.join('; ')}`);
  return { ok: hung.length === 0, hung };
}
