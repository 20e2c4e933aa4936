/** EventStream: a topic's events as an async iterator, with a bounded buffer and a named overflow policy. */
import { onAbort } from '../abort.ts';
import { StreamOverflowError } from './event-errors.ts';
import type { Subscription } from './subscription.ts';

/** What a stream does with an event that arrives while its buffer is full. */
export type OverflowPolicy = 'drop-oldest' | 'drop-newest' | 'error';

export interface StreamOptions {
  /** Ends the stream: a pending or later `next()` rejects with the signal's reason, once. */
  readonly signal?: AbortSignal | undefined;
  /**
   * The most events held while nobody is reading.
   * @default 1024
   */
  readonly bufferSize?: number | undefined;
  /**
   * `drop-oldest` discards the oldest buffered event to make room, `drop-newest` discards the arriving
   * one, `error` ends the stream with a StreamOverflowError after the buffered events.
   * @default 'error'
   */
  readonly overflow?: OverflowPolicy | undefined;
}

const done: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

interface Reader<T> {
  readonly resolve: (result: IteratorResult<T, undefined>) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Reads a topic's events in order. It is subscribed from the moment it is created, so nothing emitted
 * after that is missed; it unsubscribes when it ends: on `return()` (a `break` out of `for await`),
 * `using` disposal, an abort, or an overflow under the `error` policy.
 */
export class EventStream<T> implements AsyncIterableIterator<T, undefined>, AsyncDisposable {
  readonly #topic: string;
  readonly #capacity: number;
  readonly #overflow: OverflowPolicy;
  readonly #signal: AbortSignal | undefined;
  #unwatch: (() => void) | undefined;
  // A ring buffer: `#count` events starting at `#head`.
  readonly #buffer: (T | undefined)[] = [];
  #head = 0;
  #count = 0;
  readonly #readers: Reader<T>[] = [];
  #unsubscribe: Subscription | undefined;
  #ended = false;
  /** A failure to deliver after the buffered events, once (an overflow or an abort). */
  #failure: { readonly error: unknown } | undefined;
  #dropped = 0;

  /** @internal Created by `EventBus.stream`, whose options are already checked. */
  constructor(
    topic: string,
    subscribe: (push: (payload: T) => void) => Subscription,
    capacity: number,
    overflow: OverflowPolicy,
    signal: AbortSignal | undefined,
  ) {
    this.#topic = topic;
    this.#capacity = capacity;
    this.#overflow = overflow;
    this.#signal = signal;
    if (signal?.aborted) {
      this.#end({ error: signal.reason });
      return;
    }
    this.#unsubscribe = subscribe(this.#push);
    if (signal !== undefined) this.#unwatch = onAbort(signal, this.#onAbort);
  }

  /** How many events were discarded by the overflow policy. */
  get dropped(): number {
    return this.#dropped;
  }

  /** How many events wait in the buffer. */
  get buffered(): number {
    return this.#count;
  }

  readonly #push = (payload: T): void => {
    // An emit already in progress when the stream ended still holds this listener: ignore it.
    if (this.#ended) return;
    const reader = this.#readers.shift();
    if (reader !== undefined) {
      reader.resolve({ done: false, value: payload });
      return;
    }
    if (this.#count < this.#capacity) {
      this.#buffer[(this.#head + this.#count++) % this.#capacity] = payload;
      return;
    }
    if (this.#overflow === 'drop-newest') {
      this.#dropped++;
    } else if (this.#overflow === 'drop-oldest') {
      this.#dropped++;
      this.#buffer[this.#head] = payload;
      this.#head = (this.#head + 1) % this.#capacity;
    } else {
      this.#end({ error: new StreamOverflowError(this.#topic, this.#capacity) }, true);
    }
  };

  readonly #onAbort = (): void => {
    this.#end({ error: (this.#signal as AbortSignal).reason });
  };

  /**
   * Stops listening. A failure is kept for the next read; buffered events are kept for reading first
   * only after an overflow (an abort or a `return()` discards them).
   */
  #end(failure: { readonly error: unknown } | undefined, keepBuffer = false): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#unwatch?.();
    this.#unwatch = undefined;
    if (!keepBuffer) this.#clear();
    this.#failure = failure;
    // Only an empty buffer can have waiting readers: hand them the failure (the first) or the end.
    for (const reader of this.#readers.splice(0)) {
      if (this.#failure !== undefined) {
        reader.reject(this.#failure.error);
        this.#failure = undefined;
      } else reader.resolve(done);
    }
  }

  #clear(): void {
    this.#buffer.length = 0;
    this.#head = 0;
    this.#count = 0;
  }

  /** The next event, waiting for one if the buffer is empty. */
  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#count > 0) {
      const value = this.#buffer[this.#head] as T;
      this.#buffer[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#capacity;
      this.#count--;
      return Promise.resolve({ done: false, value });
    }
    if (this.#failure !== undefined) {
      const { error } = this.#failure;
      this.#failure = undefined;
      return Promise.reject(error);
    }
    if (this.#ended) return Promise.resolve(done);
    const { promise, resolve, reject } = Promise.withResolvers<IteratorResult<T, undefined>>();
    this.#readers.push({ resolve, reject });
    return promise;
  }

  /** Ends the stream (what `break` in `for await` calls); buffered events are discarded. */
  return(): Promise<IteratorResult<T, undefined>> {
    this.#end(undefined);
    this.#failure = undefined;
    this.#clear();
    return Promise.resolve(done);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}
