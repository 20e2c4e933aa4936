/** The vocabulary between the base transport and its engines: a message as handed over, a reply, a binding. */
import type { RemoteErrorInfo } from './transport-errors.ts';

/** A reply as it travels back: the encoded value, or the responder's error. */
export type ReplyFrame =
  | { readonly ok: true; readonly data: Uint8Array }
  | { readonly ok: false; readonly error: RemoteErrorInfo };

/** A message as an engine hands it over, before decoding. */
export interface Incoming {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Present when the sender awaits a reply; sends it (may throw when the connection is gone). */
  readonly respond?: ((reply: ReplyFrame) => void) | undefined;
}

/** An engine-level subscription. */
export interface Binding {
  unsubscribe(): void;
  readonly ready: Promise<void>;
}
