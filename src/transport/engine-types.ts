/** The vocabulary between the base transport and its engines: a message as handed over, a reply, a binding. */
import type { MessageHeaders } from './headers.ts';
import type { RemoteErrorInfo } from './transport-errors.ts';

/** A reply as it travels back: the encoded value, or the responder's error. */
export type ReplyFrame =
  | { readonly ok: true; readonly data: Uint8Array }
  | { readonly ok: false; readonly error: RemoteErrorInfo };

/** How a waiting request ends, or one reply of a gathering arrives: a reply frame, or an error. */
export type ReplyOutcome = { readonly reply: ReplyFrame } | { readonly error: Error };

/** A message as an engine hands it over, before decoding. */
export interface Incoming {
  readonly subject: string;
  readonly data: Uint8Array;
  /** The headers as received, Keel's own included; undefined when the message carries none. */
  readonly headers?: MessageHeaders | undefined;
  /** Present when the sender awaits a reply; sends it (may throw when the connection is gone). */
  readonly respond?: ((reply: ReplyFrame) => void) | undefined;
  /**
   * For a request: what identifies it to its sender, who names it in a cancel (NATS and Redis: the
   * reply address). Present whenever `respond` is.
   */
  readonly key?: string | undefined;
  /** For a request: the budget its sender gave, in ms, when the engine carries it outside the headers. */
  readonly timeoutMs?: number | undefined;
}

/**
 * A request waiting for its reply, as an engine sees it: the engine hands it the reply, or the error that
 * ends it, once; whatever comes after the request ended (it timed out, its caller aborted) is ignored.
 */
export interface ReplyWaiter {
  readonly subject: string;
  /** Whether the request has ended: a reply that comes now finds nobody. */
  readonly settled: boolean;
  reply(frame: ReplyFrame): void;
  fail(error: Error): void;
  /**
   * Set by an engine that holds the request somewhere (a map of replies awaited): called once when the
   * request ends without the engine (deadline, abort, close), so the engine lets go of it.
   */
  release: (() => void) | undefined;
}

/** An engine-level subscription. */
export interface Binding {
  unsubscribe(): void;
  readonly ready: Promise<void>;
}
