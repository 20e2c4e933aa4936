/** RequestCall: one received request's deadline and its handler's signal, aborted by a cancel or the deadline. */
import { clearLongTimeout, type LongTimer, setLongTimeout } from '../abort.ts';
import type { CancelReason } from './cancel-message.ts';
import type { MessageHeaders } from './headers.ts';
import { RequestCancelledError, RequestDeadlineError } from './transport-errors.ts';

/**
 * Created when a request arrives. The signal, its AbortController and the deadline timer are made only
 * when the handler reads `meta.signal`, so a handler that never looks costs a Map entry and nothing more.
 * A cancel that comes before the signal exists is remembered, and the signal starts aborted. It enters
 * the registry cancels look in only once it outlives the delivery of its message (`track()`: it waits for
 * a turn, or its handler returned a promise): a cancel arrives in a later callback, so a call that ends
 * inside the delivery never needs finding.
 */
export class RequestCall {
  readonly subject: string;
  /** The request's reply address: what a cancel names. */
  readonly key: string;
  /** The users' headers of the request. */
  readonly headers: MessageHeaders;
  /** Local time (ms since the epoch) when the budget runs out: arrival plus the sender's budget, or Infinity. */
  readonly deadline: number;
  #controller: AbortController | undefined;
  #timer: LongTimer | undefined;
  #reason: Error | undefined;
  #ended = false;
  readonly #registry: Map<string, RequestCall> | undefined;

  constructor(
    subject: string,
    key: string,
    headers: MessageHeaders,
    timeoutMs: number | undefined,
    registry: Map<string, RequestCall> | undefined,
  ) {
    this.subject = subject;
    this.key = key;
    this.headers = headers;
    this.deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
    this.#registry = registry;
  }

  /** Makes the call findable by cancels (until it ends). */
  track(): void {
    if (!this.#ended) this.#registry?.set(this.key, this);
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      const reason = this.#reason ?? this.#expired();
      if (reason !== undefined) controller.abort(reason);
      else if (!this.#ended && this.deadline !== Number.POSITIVE_INFINITY) {
        this.#timer = setLongTimeout(() => {
          this.#timer = undefined;
          this.#abort(new RequestDeadlineError(this.subject));
        }, this.deadline - Date.now());
      }
    }
    return this.#controller.signal;
  }

  /** Why the handler should not start (the request was cancelled or its deadline passed), if so. */
  get refusal(): Error | undefined {
    return this.#reason ?? this.#expired();
  }

  /** The requester stopped waiting: aborts the signal (or remembers it, for a signal not made yet). */
  cancel(reason: CancelReason): void {
    if (this.#ended || this.#reason !== undefined) return;
    this.#abort(
      reason === 'deadline'
        ? new RequestDeadlineError(this.subject)
        : new RequestCancelledError(this.subject),
    );
  }

  /** The handler finished (or will never run): no timer is left, and later cancels find nothing. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearLongTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#registry?.get(this.key) === this) this.#registry.delete(this.key);
  }

  #expired(): RequestDeadlineError | undefined {
    return Date.now() >= this.deadline ? new RequestDeadlineError(this.subject) : undefined;
  }

  #abort(reason: Error): void {
    this.#reason = reason;
    clearLongTimeout(this.#timer);
    this.#timer = undefined;
    this.#controller?.abort(reason);
  }
}
