/**
 * The broker's wire format: the call, reply and event envelopes, as pure `encode`/`decode` functions with
 * a version, so every broker reads exactly what every other one writes. The transport's serializer turns
 * each envelope object into bytes; the deadline and `meta` travel as transport headers, not here.
 *
 * Version 1:
 * - call:  `{ v: 1, params, depth, key?, caller? }` (`depth` ≥ 1 counts nested calls, `key` is the
 *          idempotency key, `caller` the calling broker's node id)
 * - reply: `{ v: 1, ok: true, result, nodeId? }` (`nodeId` the serving broker's id; a reply without it,
 *          from a broker that predates the field, still reads) or
 *          `{ v: 1, ok: false, error: { name, code, message, retryable, nodeId, data?, stack? } }`
 * - event: `{ v: 1, payload }`
 */
import { describe } from '../errors.ts';

/** The version this module writes, and the only one it reads. */
export const wireVersion = 1;

/** The longest idempotency key and node id accepted, in characters. */
export const maxKeyLength = 256;

export interface CallEnvelope {
  readonly params: unknown;
  readonly depth: number;
  readonly key?: string | undefined;
  readonly caller?: string | undefined;
}

/** An error as it travels back to a caller. */
export interface WireError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly nodeId: string;
  readonly data?: unknown;
  readonly stack?: string | undefined;
}

export type ReplyEnvelope =
  | { readonly ok: true; readonly result: unknown; readonly nodeId?: string | undefined }
  | { readonly ok: false; readonly error: WireError };

export interface EventEnvelope {
  readonly payload: unknown;
}

/** What decoding found: the envelope, or why the value is not one. */
export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

export function encodeCall(call: CallEnvelope): Record<string, unknown> {
  const out: Record<string, unknown> = { v: wireVersion, params: call.params, depth: call.depth };
  if (call.key !== undefined) out.key = call.key;
  if (call.caller !== undefined) out.caller = call.caller;
  return out;
}

export function encodeReply(reply: ReplyEnvelope): Record<string, unknown> {
  if (reply.ok) {
    const out: Record<string, unknown> = { v: wireVersion, ok: true, result: reply.result };
    if (reply.nodeId !== undefined) out.nodeId = reply.nodeId;
    return out;
  }
  const { name, code, message, retryable, nodeId, data, stack } = reply.error;
  const error: Record<string, unknown> = { name, code, message, retryable, nodeId };
  if (data !== undefined) error.data = data;
  if (stack !== undefined) error.stack = stack;
  return { v: wireVersion, ok: false, error };
}

export function encodeEvent(event: EventEnvelope): Record<string, unknown> {
  return { v: wireVersion, payload: event.payload };
}

/** Reads a call envelope. Never throws: anyone who may publish on the subject may send anything. */
export function decodeCall(value: unknown): Decoded<CallEnvelope> {
  const fields = versioned(value, 'call');
  if (typeof fields === 'string') return refuse(fields);
  const { params, depth, key, caller } = fields;
  if (typeof depth !== 'number' || !Number.isSafeInteger(depth) || depth < 1) {
    return refuse(`its depth must be an integer ≥ 1; received ${describe(depth)}`);
  }
  if (key !== undefined && !isBoundedString(key)) {
    return refuse(`its key must be a string of 1 to ${maxKeyLength} characters; received ${describe(key)}`);
  }
  if (caller !== undefined && !isBoundedString(caller)) {
    return refuse(
      `its caller must be a string of 1 to ${maxKeyLength} characters; received ${describe(caller)}`,
    );
  }
  return { ok: true, value: { params, depth, key, caller } };
}

/** Reads a reply envelope; an error's fields are checked, as they become an error the caller throws. */
export function decodeReply(value: unknown): Decoded<ReplyEnvelope> {
  const fields = versioned(value, 'reply');
  if (typeof fields === 'string') return refuse(fields);
  if (fields.ok === true) {
    const { nodeId } = fields;
    if (nodeId === undefined) return { ok: true, value: { ok: true, result: fields.result } };
    if (!isBoundedString(nodeId)) {
      return refuse(
        `its nodeId must be a string of 1 to ${maxKeyLength} characters; received ${describe(nodeId)}`,
      );
    }
    return { ok: true, value: { ok: true, result: fields.result, nodeId } };
  }
  if (fields.ok !== false) return refuse(`its ok must be true or false; received ${describe(fields.ok)}`);
  const error = fields.error;
  if (typeof error !== 'object' || error === null || Array.isArray(error)) {
    return refuse(`its error must be an object; received ${describe(error)}`);
  }
  const { name, code, message, retryable, nodeId, data, stack } = error as Record<string, unknown>;
  for (const [field, text] of [
    ['name', name],
    ['code', code],
    ['nodeId', nodeId],
  ] as const) {
    if (!isBoundedString(text)) {
      return refuse(
        `its error ${field} must be a string of 1 to ${maxKeyLength} characters; received ${describe(text)}`,
      );
    }
  }
  if (typeof message !== 'string')
    return refuse(`its error message must be a string; received ${describe(message)}`);
  if (typeof retryable !== 'boolean') {
    return refuse(`its error retryable must be a boolean; received ${describe(retryable)}`);
  }
  if (stack !== undefined && typeof stack !== 'string') {
    return refuse(`its error stack must be a string; received ${describe(stack)}`);
  }
  return {
    ok: true,
    value: {
      ok: false,
      error: {
        name: name as string,
        code: code as string,
        message,
        retryable,
        nodeId: nodeId as string,
        ...(data === undefined ? {} : { data }),
        ...(stack === undefined ? {} : { stack }),
      },
    },
  };
}

export function decodeEvent(value: unknown): Decoded<EventEnvelope> {
  const fields = versioned(value, 'event');
  if (typeof fields === 'string') return refuse(fields);
  return { ok: true, value: { payload: fields.payload } };
}

/** The object's fields when it is an envelope of this version, or why it is not. */
function versioned(value: unknown, kind: string): Record<string, unknown> | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `it is not a broker ${kind} envelope; received ${describe(value)}`;
  }
  const v = (value as Record<string, unknown>).v;
  if (v === wireVersion) return value as Record<string, unknown>;
  return typeof v === 'number'
    ? `it is a broker ${kind} envelope of version ${v}; this broker reads version ${wireVersion}`
    : `it is not a broker ${kind} envelope (no version ${wireVersion} field "v"); received ${describe(value)}`;
}

function isBoundedString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= maxKeyLength;
}

function refuse(reason: string): { readonly ok: false; readonly reason: string } {
  return { ok: false, reason };
}
