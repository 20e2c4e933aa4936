/** The errors the broker raises; each has a stable `KEEL_BROKER_*` code listed in docs/errors.md. */
import { describe, KeelError, type KeelErrorCode } from '../errors.ts';
import { formatIssues, type StandardIssue } from '../standard-schema.ts';

/** What the broker's errors may carry besides a KeelError's fields. */
export interface BrokerErrorFields {
  /** The id of the broker that served the call, when the error came from one. */
  readonly nodeId?: string | undefined;
  /** Details the error's thrower attached (a KeelError's own `data` field, a schema's issues). */
  readonly data?: unknown;
}

/** Params or a result that the action's Standard Schema refused; `issues` holds the schema's issues. */
export class ValidationError extends KeelError {
  readonly action: string;
  /** Which value was refused: the caller's `params`, or the handler's `result`. */
  readonly target: 'params' | 'result' | 'payload';
  readonly issues: readonly StandardIssue[];
  readonly nodeId: string | undefined;
  readonly data: {
    readonly target: 'params' | 'result' | 'payload';
    readonly issues: readonly StandardIssue[];
  };

  constructor(
    action: string,
    target: 'params' | 'result' | 'payload',
    issues: readonly StandardIssue[],
    nodeId?: string,
  ) {
    super(
      'KEEL_BROKER_VALIDATION',
      `The ${target} of ${describe(action)} failed its schema: ${formatIssues(issues)}`,
    );
    this.action = action;
    this.target = target;
    this.issues = issues;
    this.nodeId = nodeId;
    this.data = { target, issues };
  }
}

/**
 * A call's deadline passed: before it was sent (no budget left, so it was not sent) or while waiting for
 * the reply. Retryable: the same call with a fresh deadline may succeed.
 */
export class DeadlineExceededError extends KeelError {
  readonly action: string;
  /** The budget the call had when it started, in ms (0 when none was left). */
  readonly timeoutMs: number;
  readonly nodeId: string | undefined;
  readonly data: { readonly timeoutMs: number };

  constructor(action: string, timeoutMs: number, options: { cause?: unknown; nodeId?: string } = {}) {
    super(
      'KEEL_BROKER_DEADLINE',
      timeoutMs <= 0
        ? `The call to ${describe(action)} was not sent: its deadline had passed (no budget left)`
        : `The call to ${describe(action)} did not finish within its ${timeoutMs} ms budget`,
      { retryable: true, cause: options.cause },
    );
    this.action = action;
    this.timeoutMs = timeoutMs;
    this.nodeId = options.nodeId;
    this.data = { timeoutMs };
  }
}

/** Nested calls went deeper than `maxCallDepth`: most likely services that call each other in a loop. */
export class CallDepthError extends KeelError {
  readonly action: string;
  readonly depth: number;
  readonly maxCallDepth: number;
  readonly nodeId: string | undefined;
  readonly data: { readonly depth: number; readonly maxCallDepth: number };

  constructor(action: string, depth: number, maxCallDepth: number, nodeId?: string) {
    super(
      'KEEL_BROKER_DEPTH',
      `The call to ${describe(action)} would be nested ${depth} deep, past the broker's maxCallDepth of ${maxCallDepth}; do services call each other in a loop?`,
    );
    this.action = action;
    this.depth = depth;
    this.maxCallDepth = maxCallDepth;
    this.nodeId = nodeId;
    this.data = { depth, maxCallDepth };
  }
}

/** `broker.call` got a name that no contract the broker knows defines. */
export class UnknownActionError extends KeelError {
  readonly action: string;
  /** The actions the broker knows, as `<contract>.<action>`. */
  readonly known: readonly string[];

  constructor(action: string, known: readonly string[]) {
    const list = known.length === 0 ? 'none' : known.join(', ');
    super(
      'KEEL_BROKER_UNKNOWN_ACTION',
      `No contract known to this broker defines the action ${describe(action)}; known actions: ${list}`,
    );
    this.action = action;
    this.known = known;
  }
}

/** The broker is draining or stopped: it takes no new call, and aborts the calls still running at its deadline. */
export class BrokerStoppedError extends KeelError {
  readonly nodeId: string | undefined;

  constructor(operation: string, nodeId?: string) {
    super('KEEL_BROKER_STOPPED', `Cannot ${operation}: the broker is stopping or stopped`, {
      retryable: true,
    });
    this.nodeId = nodeId;
  }
}

/** The transport cannot carry what the broker needs (Redis has no queue groups). */
export class BrokerTransportError extends KeelError {
  constructor(message: string) {
    super('KEEL_BROKER_TRANSPORT', message);
  }
}

/** A call or reply envelope did not decode (another version of Keel, or another client on the subject). */
export class BrokerProtocolError extends KeelError {
  readonly subject: string;

  constructor(subject: string, reason: string) {
    super('KEEL_BROKER_PROTOCOL', `Cannot read the broker message on ${describe(subject)}: ${reason}`);
    this.subject = subject;
  }
}

/**
 * A service's handler failed with an error that is not one the broker revives as its own class. For a
 * thrown KeelError, `code`, `message`, `retryable` and `data` are the thrower's; for any other error, the
 * code is `KEEL_BROKER_REMOTE` and `remoteName` holds its class name.
 */
export class RemoteError extends KeelError {
  readonly action: string;
  /** The class name of the error on the serving side. */
  readonly remoteName: string;
  readonly nodeId: string | undefined;
  readonly data: unknown;
  /** The serving side's stack trace, only when the service opted in with `exposeStack`. */
  readonly remoteStack: string | undefined;

  constructor(
    action: string,
    remote: {
      readonly code: string;
      readonly name: string;
      readonly message: string;
      readonly retryable: boolean;
      readonly nodeId?: string | undefined;
      readonly data?: unknown;
      readonly stack?: string | undefined;
    },
    options: { cause?: unknown } = {},
  ) {
    const code: KeelErrorCode = /^KEEL_[A-Z0-9_]+$/.test(remote.code)
      ? (remote.code as KeelErrorCode)
      : 'KEEL_BROKER_REMOTE';
    super(code, remote.message, { retryable: remote.retryable, cause: options.cause });
    this.action = action;
    this.remoteName = remote.name;
    this.nodeId = remote.nodeId;
    this.data = remote.data;
    this.remoteStack = remote.stack;
  }
}
