/**
 * Server-sent event frames, built in one place: `event` and `id` refuse CR and LF (a line break would start
 * a new field a client trusts), `data` is one line of JSON, and comments are single lines.
 */
import { describe, InvalidArgumentError } from '../errors.ts';

export interface SseMessage {
  /** The `event:` field; omitted means the client's default `message`. */
  readonly event?: string | undefined;
  /** The `id:` field; the client sends it back as `Last-Event-ID` when it reconnects. */
  readonly id?: string | undefined;
  /** Serialized with JSON.stringify, which never emits a raw line break, so it is one `data:` line. */
  readonly data: unknown;
  /** The `retry:` field: how long the client waits before reconnecting, in ms. */
  readonly retry?: number | undefined;
}

const lineBreak = /[\r\n]/;

/** The frame for one message, ending with the blank line that dispatches it. */
export function formatMessage(message: SseMessage): string {
  let frame = '';
  for (const field of ['event', 'id'] as const) {
    const value = message[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' || lineBreak.test(value) || value.includes('\0')) {
      throw new InvalidArgumentError(
        `An SSE ${field} must be a string without CR, LF or NUL; received ${describe(value)}`,
      );
    }
    frame += `${field}: ${value}\n`;
  }
  const data = JSON.stringify(message.data);
  if (data === undefined) {
    throw new InvalidArgumentError(
      `An SSE data must be JSON-serializable; received ${describe(message.data)}`,
    );
  }
  frame += `data: ${data}\n`;
  if (message.retry !== undefined) frame += `retry: ${checkRetry(message.retry)}\n`;
  return `${frame}\n`;
}

/** A `retry:` frame alone (it dispatches no event): how long the client waits before reconnecting. */
export function formatRetry(ms: number): string {
  return `retry: ${checkRetry(ms)}\n\n`;
}

function checkRetry(ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new InvalidArgumentError(`An SSE retry must be an integer ≥ 0; received ${describe(ms)}`);
  }
  return ms;
}

/** A comment line (clients ignore it): keeps idle connections and the proxies between them open. */
export function formatComment(text: string): string {
  if (lineBreak.test(text)) {
    throw new InvalidArgumentError(`An SSE comment must be one line; received ${describe(text)}`);
  }
  return `: ${text}\n\n`;
}
