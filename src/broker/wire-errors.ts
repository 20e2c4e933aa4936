/** How errors cross the wire: a handler's throw becomes a WireError, and a WireError becomes the caller's error. */
import { KeelError } from '../errors.ts';
import type { StandardIssue } from '../standard-schema.ts';
import {
  BrokerStoppedError,
  CallDepthError,
  DeadlineExceededError,
  RemoteError,
  ValidationError,
} from './broker-errors.ts';
import { BulkheadFullError, CircuitOpenError } from './resilience-errors.ts';
import type { WireError } from './wire.ts';

/**
 * The wire form of anything a handler threw: a KeelError keeps its code, message, retryable and `data`;
 * anything else travels as its class name and message with code `KEEL_BROKER_REMOTE`. The stack travels
 * only when the service opted in.
 */
export function toWireError(error: unknown, nodeId: string, exposeStack: boolean): WireError {
  const stack = exposeStack && error instanceof Error ? error.stack : undefined;
  if (error instanceof KeelError) {
    const data = dataOf(error);
    return {
      name: error.name,
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      // A KeelError revived from a deeper call keeps the id of the node where it started.
      nodeId:
        (error as { nodeId?: unknown }).nodeId === undefined
          ? nodeId
          : String((error as { nodeId?: unknown }).nodeId),
      ...(data === undefined ? {} : { data: plain(data) }),
      ...(stack === undefined ? {} : { stack }),
    };
  }
  const name = error instanceof Error ? error.name || 'Error' : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  return {
    name,
    code: 'KEEL_BROKER_REMOTE',
    message,
    retryable: false,
    nodeId,
    ...(stack === undefined ? {} : { stack }),
  };
}

/** The error a caller throws for a WireError: the broker's own classes revived, anything else a RemoteError. */
export function fromWireError(action: string, wire: WireError): KeelError {
  switch (wire.code) {
    case 'KEEL_BROKER_VALIDATION': {
      const data = wire.data as { issues?: unknown; target?: unknown } | undefined;
      const issues = Array.isArray(data?.issues) ? (data.issues as StandardIssue[]) : [];
      return new ValidationError(
        action,
        data?.target === 'result' || data?.target === 'payload' ? data.target : 'params',
        issues,
        wire.nodeId,
      );
    }
    case 'KEEL_BROKER_DEADLINE':
      return new DeadlineExceededError(
        action,
        Number((wire.data as { timeoutMs?: unknown } | undefined)?.timeoutMs ?? 0),
        {
          nodeId: wire.nodeId,
        },
      );
    case 'KEEL_BROKER_DEPTH': {
      const data = wire.data as { depth?: unknown; maxCallDepth?: unknown } | undefined;
      return new CallDepthError(
        action,
        Number(data?.depth ?? 0),
        Number(data?.maxCallDepth ?? 0),
        wire.nodeId,
      );
    }
    case 'KEEL_BROKER_BULKHEAD_FULL': {
      const data = wire.data as
        | { bulkhead?: unknown; concurrency?: unknown; maxQueued?: unknown }
        | undefined;
      const full = new BulkheadFullError(
        String(data?.bulkhead ?? action),
        Number(data?.concurrency),
        Number(data?.maxQueued),
      );
      return Object.assign(full, { nodeId: wire.nodeId });
    }
    case 'KEEL_BROKER_STOPPED':
      return new BrokerStoppedError(`serve ${JSON.stringify(action)}`, wire.nodeId);
    default:
      return new RemoteError(action, wire);
  }
}

/** What an error tells besides its message: its own `data`, or the fields of the resilience errors. */
function dataOf(error: KeelError): unknown {
  if (error instanceof BulkheadFullError) {
    return { bulkhead: error.bulkhead, concurrency: error.concurrency, maxQueued: error.maxQueued };
  }
  if (error instanceof CircuitOpenError) return { circuit: error.circuit, retryAfterMs: error.retryAfterMs };
  return (error as { data?: unknown }).data;
}

/** Data that JSON can carry: anything else is dropped rather than failing the whole reply. */
function plain(data: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(data)) as unknown;
  } catch {
    return undefined;
  }
}
