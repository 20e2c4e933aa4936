/** How an error becomes an HTTP answer: one status table and one body shape for every error the gateway sends. */
import { RemoteError, ValidationError } from '../broker/index.ts';
import { KeelError } from '../errors.ts';
import { formatIssuePath, type StandardIssue } from '../standard-schema.ts';

/** One issue of a refused request: where (`radius`, `points[2].x`; empty for the whole value) and what. */
export interface ErrorIssue {
  readonly path: string;
  readonly message: string;
}

/** The body of every error the gateway sends: `{ "error": { "code", "message", "issues"? } }`. */
export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly issues?: readonly ErrorIssue[] | undefined;
  };
}

/** An error as the gateway answers it. */
export interface HttpError {
  readonly status: number;
  readonly body: ErrorBody;
  /** Seconds for `Retry-After` (503, and 409 for a key still in flight). */
  readonly retryAfterS?: number | undefined;
  /** Whether the cause is worth a log line at error level (a 500: something the client could not cause). */
  readonly internal: boolean;
}

/**
 * The gateway is draining (a SIGTERM arrived): it takes no new request, and answers 503 with `Retry-After`
 * so a client or load balancer tries another instance.
 */
export class GatewayDrainingError extends KeelError {
  constructor() {
    super('KEEL_GATEWAY_DRAINING', 'The gateway is shutting down and takes no new requests', {
      retryable: true,
    });
  }
}

/** The codes of the requests the gateway refuses itself, before any call. */
export type GatewayRequestCode =
  | 'KEEL_GATEWAY_TOO_DEEP'
  | 'KEEL_GATEWAY_IDEMPOTENCY_KEY'
  | 'KEEL_GATEWAY_IDEMPOTENCY_MISMATCH'
  | 'KEEL_GATEWAY_IDEMPOTENCY_IN_FLIGHT'
  | 'KEEL_GATEWAY_IDEMPOTENCY_STORE';

/**
 * A request the gateway refuses itself: a body nested deeper than 64 levels (400), a malformed
 * Idempotency-Key (400), a key reused with another
 * request (422), a repeat while the first request with the key still runs (409, `Retry-After: 1`), or a
 * key it cannot check because the idempotency store failed (503, `Retry-After: 1`).
 */
export class GatewayRequestError extends KeelError {
  readonly status: number;
  readonly retryAfterS: number | undefined;

  constructor(
    code: GatewayRequestCode,
    status: number,
    message: string,
    retryAfterS?: number,
    options: { readonly cause?: unknown } = {},
  ) {
    super(code, message, { retryable: status === 409 || status === 503, cause: options.cause });
    this.status = status;
    this.retryAfterS = retryAfterS;
  }
}

/** The client closed the connection before its answer: the call it started is aborted with this reason. */
export class GatewayRequestGoneError extends KeelError {
  constructor() {
    super('KEEL_GATEWAY_REQUEST_GONE', 'The client closed the connection before the answer');
  }
}

/** Codes whose error means "not now, try again (elsewhere)": 503 with `Retry-After`. */
const unavailable = new Set([
  'KEEL_BROKER_CIRCUIT_OPEN',
  'KEEL_BROKER_BULKHEAD_FULL',
  'KEEL_BROKER_BULKHEAD_CLOSED',
  'KEEL_BROKER_STOPPED',
  'KEEL_GATEWAY_DRAINING',
  'KEEL_TRANSPORT_NO_RESPONDERS',
  'KEEL_TRANSPORT_CONNECTION',
  'KEEL_TRANSPORT_CLOSED',
]);

/** Fastify's own client errors, by their code: the status and the gateway code that stands for them. */
const fastifyErrors: Readonly<Record<string, readonly [number, string, string]>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'KEEL_GATEWAY_BAD_REQUEST', 'The body is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [
    400,
    'KEEL_GATEWAY_BAD_REQUEST',
    'The body is empty, but the content type says JSON',
  ],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [
    400,
    'KEEL_GATEWAY_BAD_REQUEST',
    'The Content-Length does not match the body',
  ],
  FST_ERR_CTP_BODY_TOO_LARGE: [
    413,
    'KEEL_GATEWAY_BODY_TOO_LARGE',
    'The body is larger than this server takes',
  ],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [
    415,
    'KEEL_GATEWAY_UNSUPPORTED_MEDIA_TYPE',
    'The content type of the body is not one this server reads',
  ],
  FST_ERR_CTP_INVALID_TYPE: [400, 'KEEL_GATEWAY_BAD_REQUEST', 'The Content-Type header is not valid'],
};

/** The fixed messages of the statuses whose error text may name internals (actions, nodes, circuits). */
const fixedMessages: Readonly<Record<number, string>> = {
  500: 'Internal server error',
  503: 'The service is unavailable for now; retry after the time in Retry-After',
  504: 'The service did not answer in time',
};

/** The body of an error the gateway makes itself. */
export function errorBody(code: string, message: string, issues?: readonly ErrorIssue[]): ErrorBody {
  return { error: issues === undefined ? { code, message } : { code, message, issues } };
}

/** A schema's issues as the body lists them. */
export function toIssues(issues: readonly StandardIssue[]): ErrorIssue[] {
  return issues.map((issue) => {
    const path = issue.path === undefined || issue.path.length === 0 ? '' : formatIssuePath(issue);
    return { path, message: String(issue.message) };
  });
}

/**
 * The status and body for anything a route, the broker or Fastify threw. A service says what a failure
 * means through its error's code (`*_NOT_FOUND` → 404, `*_CONFLICT` → 409, `*_UNAVAILABLE` → 503 with
 * `Retry-After` from `data.retryAfterMs`) or `data.status` (404, 409, 503);
 * params its schema refused are a 400 with the schema's issues; a deadline is a 504; an open circuit, a
 * full bulkhead, a stopping broker or gateway is a 503 with `Retry-After`. Anything else is a 500 whose
 * body says nothing of the cause.
 */
export function toHttpError(error: unknown): HttpError {
  const fastify = fastifyError(error);
  if (fastify !== undefined) return fastify;
  if (!(error instanceof KeelError)) return internal();
  const { code } = error;
  // Nobody reads this answer; 499 (as nginx logs it) keeps it out of the server errors.
  if (code === 'KEEL_GATEWAY_REQUEST_GONE') return client(499, code, error.message);
  if (error instanceof GatewayRequestError) {
    return {
      status: error.status,
      body: errorBody(code, error.message),
      retryAfterS: error.retryAfterS,
      internal: false,
    };
  }
  if (error instanceof ValidationError) {
    // A result that failed its schema is the service's bug, not the client's.
    if (error.target !== 'params') return internal();
    return client(400, code, 'The request failed the schema of its action', toIssues(error.issues));
  }
  if (code === 'KEEL_BROKER_DEADLINE')
    return { status: 504, body: errorBody(code, fixedMessages[504] as string), internal: false };
  if (unavailable.has(code)) {
    const after = (error as { retryAfterMs?: unknown }).retryAfterMs;
    const retryAfterS = typeof after === 'number' && after > 0 ? Math.ceil(after / 1000) : 1;
    return { status: 503, body: errorBody(code, fixedMessages[503] as string), retryAfterS, internal: false };
  }
  // What a service's handler threw arrives as a RemoteError with the thrower's code, message and data.
  if (error instanceof RemoteError) {
    const status = (error.data as { status?: unknown } | undefined)?.status;
    if (code.endsWith('_NOT_FOUND') || status === 404) return client(404, code, error.message);
    if (code.endsWith('_CONFLICT') || status === 409) return client(409, code, error.message);
    // A dependency of the service is down (its database restarting): not now, soon; never a 500.
    if (code.endsWith('_UNAVAILABLE') || status === 503) {
      const after = (error.data as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
      const retryAfterS = typeof after === 'number' && after > 0 ? Math.ceil(after / 1000) : 1;
      return {
        status: 503,
        body: errorBody(code, fixedMessages[503] as string),
        retryAfterS,
        internal: false,
      };
    }
  }
  return internal();
}

function client(status: number, code: string, message: string, issues?: readonly ErrorIssue[]): HttpError {
  return { status, body: errorBody(code, message, issues), internal: false };
}

function internal(): HttpError {
  return {
    status: 500,
    body: errorBody('KEEL_GATEWAY_INTERNAL', fixedMessages[500] as string),
    internal: true,
  };
}

/** Fastify's own errors (bad JSON, a body too large, an unsupported media type) in the gateway's shape. */
function fastifyError(error: unknown): HttpError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  if (typeof code !== 'string' || !code.startsWith('FST_')) {
    // A JSON.parse SyntaxError that a custom parser let through carries only statusCode 400.
    if (error instanceof SyntaxError && statusCode === 400) {
      return client(400, 'KEEL_GATEWAY_BAD_REQUEST', 'The body is not valid JSON');
    }
    return undefined;
  }
  const known = fastifyErrors[code];
  if (known !== undefined) return client(known[0], known[1], known[2]);
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return client(statusCode, 'KEEL_GATEWAY_BAD_REQUEST', 'The request is not one this server reads');
  }
  return undefined;
}
