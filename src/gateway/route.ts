/** Route definitions: an HTTP method and path mapped to one contract action, typed on that action. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type AnyContract, compile, type ResultOut } from '../broker/contract.ts';
import { checkDuration, checkFunction, checkOptions, describe, InvalidArgumentError } from '../errors.ts';

/** The methods a route may answer. */
export type RouteMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The request a route's `input` and `reply` see; its body is not validated yet (the action's schema does that). */
export type RouteRequest = FastifyRequest<{
  Params: Record<string, string>;
  Querystring: Record<string, string | string[]>;
  Body: unknown;
}>;

/** How one route maps HTTP onto its action. */
export interface RouteSpec<Result> {
  readonly method: RouteMethod;
  /** A Fastify path: `/api/shapes/:id`. */
  readonly url: string;
  /** The status of a success. @default 200 */
  readonly status?: number | undefined;
  /**
   * What becomes the action's params; the action's schema validates it (once, in the broker).
   * @default `{ ...req.params, ...req.query }` for GET and DELETE; `{ ...req.params, ...body }` otherwise
   * (the body itself when it is not an object)
   */
  readonly input?: ((req: RouteRequest) => unknown) | undefined;
  /**
   * Turns the action's result into the response: set headers, type or status on `reply`, return the body
   * (`undefined` for none, a string for `image/svg+xml`). @default the result, as JSON
   */
  readonly reply?:
    | ((result: Result, reply: FastifyReply, req: RouteRequest) => unknown | Promise<unknown>)
    | undefined;
  /** OpenAPI: a one-line summary. */
  readonly summary?: string | undefined;
  /** OpenAPI: a longer description. */
  readonly description?: string | undefined;
  /** OpenAPI: tags. @default the contract's name */
  readonly tags?: readonly string[] | undefined;
  /** OpenAPI: the media type of a success when it is not JSON (`image/svg+xml`). @default application/json */
  readonly contentType?: string | undefined;
  /** The call's deadline, retries included. @default the broker's defaultTimeoutMs */
  readonly timeoutMs?: number | undefined;
  /**
   * Each try's own deadline: a try unanswered by then (its instance died or froze) is abandoned and, for
   * an idempotent action or a request with an `Idempotency-Key`, retried on another instance within
   * `timeoutMs`. @default none (a try may use the whole deadline)
   */
  readonly attemptTimeoutMs?: number | undefined;
}

/** A route made by `route()`: what the gateway registers and what OpenAPI describes. */
export interface Route {
  /** `<contract>.<action>` */
  readonly action: string;
  readonly contract: AnyContract;
  readonly method: RouteMethod;
  readonly url: string;
  readonly status: number;
  readonly input: ((req: RouteRequest) => unknown) | undefined;
  readonly reply: ((result: any, reply: FastifyReply, req: RouteRequest) => unknown) | undefined;
  readonly summary: string | undefined;
  readonly description: string | undefined;
  readonly tags: readonly string[];
  readonly contentType: string | undefined;
  readonly timeoutMs: number | undefined;
  readonly attemptTimeoutMs: number | undefined;
  /** The names of the path's parameters, in order (`:id` → `id`). */
  readonly pathParams: readonly string[];
}

const methods: readonly RouteMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const specKeys = [
  'method',
  'url',
  'status',
  'input',
  'reply',
  'summary',
  'description',
  'tags',
  'contentType',
  'timeoutMs',
  'attemptTimeoutMs',
] as const;
/** A path segment that is a parameter: `:name`, letters, digits and `_`. */
const paramPattern = /^:([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * Maps `method` + `url` to the action `action` of `contract`: `route(shapes, 'create', { method: 'POST',
 * url: '/api/shapes', status: 201 })`. `reply` gets the action's result type.
 * @throws InvalidArgumentError naming the field that is wrong.
 */
export function route<C extends AnyContract, A extends keyof C['actions'] & string>(
  contract: C,
  action: A,
  spec: RouteSpec<ResultOut<C['actions'][A]>>,
): Route {
  const compiled = compile('route() contract', contract);
  const found = compiled.actions.get(action);
  if (found === undefined) {
    throw new InvalidArgumentError(
      `route() action must be an action of ${describe(compiled.name)} (${[...compiled.actions.keys()].join(', ') || 'none'}); received ${describe(action)}`,
    );
  }
  const label = `route(${describe(found.key)})`;
  checkOptions(`${label} options`, spec, specKeys);
  if (spec === undefined) throw new InvalidArgumentError(`${label} options must be { method, url, ... }`);
  if (!methods.includes(spec.method)) {
    throw new InvalidArgumentError(
      `${label} method must be one of ${methods.join(', ')}; received ${describe(spec.method)}`,
    );
  }
  const pathParams = checkUrl(label, spec.url);
  const status = spec.status ?? 200;
  if (!Number.isInteger(status) || status < 200 || status > 299) {
    throw new InvalidArgumentError(
      `${label} status must be an integer from 200 to 299; received ${describe(status)}`,
    );
  }
  if (spec.input !== undefined) checkFunction(`${label} input`, spec.input);
  if (spec.reply !== undefined) checkFunction(`${label} reply`, spec.reply);
  for (const field of ['summary', 'description', 'contentType'] as const) {
    const value = spec[field];
    if (value !== undefined && typeof value !== 'string') {
      throw new InvalidArgumentError(`${label} ${field} must be a string; received ${describe(value)}`);
    }
  }
  if (
    spec.tags !== undefined &&
    (!Array.isArray(spec.tags) || !spec.tags.every((t) => typeof t === 'string'))
  ) {
    throw new InvalidArgumentError(
      `${label} tags must be an array of strings; received ${describe(spec.tags)}`,
    );
  }
  const timeoutMs =
    spec.timeoutMs === undefined
      ? undefined
      : checkDuration(`${label} timeoutMs`, spec.timeoutMs, { min: 1, allowInfinity: false });
  const attemptTimeoutMs =
    spec.attemptTimeoutMs === undefined
      ? undefined
      : checkDuration(`${label} attemptTimeoutMs`, spec.attemptTimeoutMs, { min: 1, allowInfinity: false });
  return Object.freeze({
    action: found.key,
    contract,
    method: spec.method,
    url: spec.url,
    status,
    input: spec.input,
    reply: spec.reply as Route['reply'],
    summary: spec.summary,
    description: spec.description,
    tags: Object.freeze([...(spec.tags ?? [compiled.name])]),
    contentType: spec.contentType,
    timeoutMs,
    attemptTimeoutMs,
    pathParams: Object.freeze(pathParams),
  });
}

/** The parameters of a Fastify path; refuses what OpenAPI could not describe (wildcards, regexps, `:a-:b`). */
function checkUrl(label: string, url: unknown): string[] {
  if (typeof url !== 'string' || !url.startsWith('/')) {
    throw new InvalidArgumentError(`${label} url must be a path starting with /; received ${describe(url)}`);
  }
  const params: string[] = [];
  for (const segment of url.split('/').slice(1)) {
    if (!segment.includes(':') && !segment.includes('*') && !segment.includes('(')) continue;
    const match = paramPattern.exec(segment);
    if (match === null) {
      throw new InvalidArgumentError(
        `${label} url segments must be plain text or one parameter (:id); received ${describe(segment)} in ${describe(url)}`,
      );
    }
    params.push(match[1] as string);
  }
  return params;
}
