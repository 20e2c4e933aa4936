/** The errors of the broker's resilience parts: an open circuit, a full or closed bulkhead. */

import { KeelError } from '../errors.ts';

/**
 * The circuit for this caller and action is open (or half-open with its one trial in flight), so the call
 * failed fast without being sent. Retryable: after `retryAfterMs` the circuit lets a trial through.
 */
export class CircuitOpenError extends KeelError {
  /** The breaker's name (the caller and action it guards). */
  readonly circuit: string;
  /** How long, in milliseconds, until the circuit may let a call through again. */
  readonly retryAfterMs: number;

  constructor(circuit: string, retryAfterMs: number) {
    super(
      'KEEL_BROKER_CIRCUIT_OPEN',
      `Circuit ${JSON.stringify(circuit)} is open: the call was not sent; retry after ${Math.ceil(retryAfterMs)} ms`,
      { retryable: true },
    );
    this.circuit = circuit;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The action's bulkhead had every slot busy and its queue full, so the call was refused before it ran. */
export class BulkheadFullError extends KeelError {
  /** The bulkhead's name (the action it guards). */
  readonly bulkhead: string;
  readonly concurrency: number;
  readonly maxQueued: number;

  constructor(bulkhead: string, concurrency: number, maxQueued: number) {
    super(
      'KEEL_BROKER_BULKHEAD_FULL',
      `Bulkhead ${JSON.stringify(bulkhead)} is full (${concurrency} running, ${maxQueued} queued): the call was refused`,
      { retryable: true },
    );
    this.bulkhead = bulkhead;
    this.concurrency = concurrency;
    this.maxQueued = maxQueued;
  }
}

/**
 * The action's bulkhead is closing or closed: a new call is refused, a queued call still waiting when the
 * close deadline passed never runs, and a running one is aborted. Retryable: another instance may serve it.
 */
export class BulkheadClosedError extends KeelError {
  readonly bulkhead: string;

  constructor(bulkhead: string) {
    super('KEEL_BROKER_BULKHEAD_CLOSED', `Bulkhead ${JSON.stringify(bulkhead)} is closed`, {
      retryable: true,
    });
    this.bulkhead = bulkhead;
  }
}

/** Closing a bulkhead ran past its deadline and grace while aborted calls that ignore their signal still ran. */
export class BulkheadCloseTimeoutError extends KeelError {
  readonly bulkhead: string;
  /** The calls still running when the grace ran out. */
  readonly pending: number;

  constructor(bulkhead: string, pending: number) {
    super(
      'KEEL_BROKER_BULKHEAD_CLOSE_TIMEOUT',
      `Bulkhead ${JSON.stringify(bulkhead)} did not close in time: ${pending} aborted call${pending === 1 ? '' : 's'} still running`,
      { retryable: true },
    );
    this.bulkhead = bulkhead;
    this.pending = pending;
  }
}
