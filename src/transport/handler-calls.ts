/** HandlerCalls: decodes a message, calls its handler and sends the reply, tracking calls still running. */
import type { Incoming, ReplyFrame } from './engine-types.ts';
import { type MessageHeaders, noHeaders, readHeaders } from './headers.ts';
import type { RequestCall } from './request-call.ts';
import type { Serializer } from './serializer.ts';
import type { Handler, MessageMeta } from './transport.ts';
import {
  ReplyTooLargeError,
  TransportDecodeError,
  TransportEncodeError,
  TransportHandlerError,
  toRemoteInfo,
} from './transport-errors.ts';

type Respond = (reply: ReplyFrame) => void;

/** A message as a subscription holds it: a request comes with its call (deadline, signal, cancel). */
export type Received = Incoming & { readonly call?: RequestCall | undefined };

/**
 * The meta of a request: the signal is made only if the handler reads it. `signal` is an own enumerable
 * getter, as a plain object's would be, defined from one shared descriptor: an object literal with a
 * getter costs three to four times as much to make, on every request.
 */
class RequestMeta {
  readonly subject: string;
  readonly isRequest = true as const;
  readonly headers: MessageHeaders;
  readonly deadline: number;
  declare readonly signal: AbortSignal;
  readonly #call: RequestCall;

  constructor(call: RequestCall) {
    this.subject = call.subject;
    this.headers = call.headers;
    this.deadline = call.deadline;
    this.#call = call;
    Object.defineProperty(this, 'signal', signalProperty);
  }

  static signalOf(meta: RequestMeta): AbortSignal {
    return meta.#call.signal;
  }
}
const signalProperty: PropertyDescriptor = {
  enumerable: true,
  get(this: RequestMeta) {
    return RequestMeta.signalOf(this);
  },
};

export class HandlerCalls {
  /** Calls whose handler returned a promise that has not settled yet; close() waits for them. */
  readonly running = new Set<Promise<void>>();
  readonly #serializer: Serializer;
  readonly #report: (error: unknown, subject: string) => void;

  constructor(serializer: Serializer, report: (error: unknown, subject: string) => void) {
    this.#serializer = serializer;
    this.#report = report;
  }

  /**
   * Decodes, calls the handler and sends the reply. Returns false when the call finished here, or true
   * when it goes on: then `done` is called once it has (after its reply was sent), and close() waits for
   * it. Never throws: failures go to the requester or to onError. With `answers` false (a subscription made with `reply: false`), a request reaches the handler
   * like a message (`isRequest` still true) and nothing is sent back, not even an error reply.
   */
  call(handler: Handler, message: Received, answers: boolean, done: () => void): boolean {
    const { subject, call } = message;
    const respond = answers ? message.respond : undefined;
    // Cancelled, or past its deadline, while it waited for a turn: its requester no longer listens.
    const refusal = call?.refusal;
    if (refusal !== undefined) {
      call?.end();
      if (respond) this.#reply(subject, respond, { ok: false, error: toRemoteInfo(refusal) });
      return false;
    }
    let payload: unknown;
    try {
      payload = this.#serializer.decode(message.data);
    } catch (error) {
      call?.end();
      const failure = new TransportDecodeError(subject, 'message', this.#serializer.name, error);
      this.#report(failure, subject);
      if (respond) this.#reply(subject, respond, { ok: false, error: toRemoteInfo(failure) });
      return false;
    }
    const meta: MessageMeta =
      call !== undefined
        ? new RequestMeta(call)
        : {
            subject,
            isRequest: false,
            headers: message.headers === undefined ? noHeaders : readHeaders(message.headers).headers,
          };
    let result: unknown;
    try {
      result = handler(payload, meta);
    } catch (error) {
      call?.end();
      this.#failed(subject, respond, error);
      return false;
    }
    if (typeof (result as PromiseLike<unknown> | null)?.then !== 'function') {
      call?.end();
      if (respond) this.#answer(subject, respond, result);
      return false;
    }
    // Still running when this returns: a cancel must find it from now on.
    call?.track();
    const run: Promise<void> = Promise.resolve(result).then(
      (value) => {
        this.running.delete(run);
        call?.end();
        if (respond) this.#answer(subject, respond, value);
        done();
      },
      (error: unknown) => {
        this.running.delete(run);
        call?.end();
        this.#failed(subject, respond, error);
        done();
      },
    );
    this.running.add(run);
    return true;
  }

  /** Answers a request that will not be handled with `error`, so its caller need not wait for a timeout. */
  refuse(message: Incoming, error: unknown): void {
    if (message.respond) {
      this.#reply(message.subject, message.respond, { ok: false, error: toRemoteInfo(error) });
    }
  }

  #failed(subject: string, respond: Respond | undefined, error: unknown): void {
    if (respond) this.#reply(subject, respond, { ok: false, error: toRemoteInfo(error) });
    else this.#report(new TransportHandlerError(subject, error), subject);
  }

  #answer(subject: string, respond: Respond, result: unknown): void {
    let data: Uint8Array;
    try {
      data = this.#serializer.encode(result);
    } catch (error) {
      const failure = new TransportEncodeError(subject, this.#serializer.name, error);
      this.#reply(subject, respond, { ok: false, error: toRemoteInfo(failure) });
      return;
    }
    this.#reply(subject, respond, { ok: true, data });
  }

  #reply(subject: string, respond: Respond, reply: ReplyFrame): void {
    try {
      respond(reply);
    } catch (error) {
      this.#report(error, subject);
      // The engine refused the reply's size: a small coded error in its place spares the requester its
      // whole timeout.
      if (error instanceof ReplyTooLargeError) {
        try {
          respond({ ok: false, error: toRemoteInfo(error) });
        } catch (again) {
          this.#report(again, subject);
        }
      }
    }
  }
}
