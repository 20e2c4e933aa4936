/**
 * Health routes: `GET /health/live` (200 while the process answers) and `GET /health/ready` (200 only
 * while the gateway is ready and every dependency check passes within its timeout).
 */

import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { MAX_TIMER_MS } from '../abort.ts';
import { checkDuration, checkFunction, checkOptions, describe, InvalidArgumentError } from '../errors.ts';
import type { GatewayState } from './lifecycle.ts';

/** A dependency check: resolves when the dependency answers; should stop its work when `signal` aborts. */
export type HealthCheck = (signal: AbortSignal) => Promise<void> | void;

export interface HealthOptions {
  /** The checks `/health/ready` runs, by name (`nats`, `database`…), concurrently. @default none */
  readonly checks?: Readonly<Record<string, HealthCheck>> | undefined;
  /** How long each check may take before it counts as failed, in ms. @default 2000 */
  readonly timeoutMs?: number | undefined;
}

export interface HealthPluginOptions extends HealthOptions {
  /** The lifecycle's state; readiness is 503 unless it is `ready`. @default always `ready` */
  readonly state?: (() => GatewayState) | undefined;
}

export const healthOptionKeys = ['checks', 'timeoutMs'] as const;

/** One check's outcome in the readiness body; `reason` is short and safe to show (never a message). */
export interface CheckResult {
  readonly status: 'up' | 'down' | 'skipped';
  readonly durationMs?: number;
  readonly reason?: string;
}

export interface ReadinessBody {
  /** `ready`, or why not: `starting`, `draining`, `stopped`, `unavailable` (a check failed). */
  readonly status: 'ready' | 'unavailable' | Exclude<GatewayState, 'ready'>;
  readonly checks: Readonly<Record<string, CheckResult>>;
}

/** Routes under-pressure must not shed: a probe that gets 503 for load would restart a busy process. */
export const exemptFromPressure = { pressureHandler: () => undefined } as const;

const codePattern = /^[A-Z][A-Z0-9_]{1,63}$/;

/** Checks the options once. */
export function healthSettings(
  label: string,
  options: HealthOptions | undefined,
): { checks: [string, HealthCheck][]; timeoutMs: number } {
  checkOptions(label, options, healthOptionKeys);
  const checks = options?.checks ?? {};
  if (typeof checks !== 'object' || checks === null || Array.isArray(checks)) {
    throw new InvalidArgumentError(
      `${label} checks must be an object of functions; received ${describe(checks)}`,
    );
  }
  for (const [name, check] of Object.entries(checks)) checkFunction(`${label} checks.${name}`, check);
  return {
    checks: Object.entries(checks),
    timeoutMs: checkDuration(`${label} timeoutMs`, options?.timeoutMs ?? 2000, {
      min: 1,
      max: MAX_TIMER_MS,
      allowInfinity: false,
    }),
  };
}

/** Runs one check within `timeoutMs`; never throws. The reason names a code or the timeout, no message. */
async function runCheck(
  check: HealthCheck,
  timeoutMs: number,
): Promise<{ result: CheckResult; error?: unknown }> {
  const controller = new AbortController();
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`timed out after ${timeoutMs} ms`));
      resolve('timeout');
    }, timeoutMs);
  });
  try {
    const outcome = await Promise.race([Promise.resolve().then(() => check(controller.signal)), timedOut]);
    const durationMs = Math.round(performance.now() - started);
    if (outcome === 'timeout') {
      return { result: { status: 'down', durationMs, reason: `timed out after ${timeoutMs} ms` } };
    }
    return { result: { status: 'up', durationMs } };
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const reason = typeof code === 'string' && codePattern.test(code) ? code : 'failed';
    return { result: { status: 'down', durationMs: Math.round(performance.now() - started), reason }, error };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The health routes as a Fastify plugin. Probes that arrive while checks run share that run, so a
 * burst of probes (several load balancers) costs one round of checks.
 */
export const keelHealth = fp(
  async (app: FastifyInstance, options: HealthPluginOptions) => {
    const { state = () => 'ready', ...rest } = options ?? {};
    checkFunction('keelHealth state', state);
    const { checks, timeoutMs } = healthSettings('keelHealth options', rest);
    let running: Promise<{ body: ReadinessBody; errors: [string, unknown][] }> | undefined;
    const runAll = async () => {
      const outcomes = await Promise.all(checks.map(([, check]) => runCheck(check, timeoutMs)));
      const body: Record<string, CheckResult> = {};
      const errors: [string, unknown][] = [];
      outcomes.forEach(({ result, error }, i) => {
        const name = (checks[i] as [string, HealthCheck])[0];
        body[name] = result;
        if (result.status === 'down') errors.push([name, error ?? result.reason]);
      });
      const ok = errors.length === 0;
      return { body: { status: ok ? 'ready' : 'unavailable', checks: body } satisfies ReadinessBody, errors };
    };
    const config = exemptFromPressure;
    app.get('/health/live', { config }, async (_request, reply) => {
      reply.header('cache-control', 'no-store');
      return { status: 'live' };
    });
    app.get('/health/ready', { config }, async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const now = state();
      if (now !== 'ready') {
        const skipped = Object.fromEntries(checks.map(([name]) => [name, { status: 'skipped' } as const]));
        return reply.code(503).send({ status: now, checks: skipped } satisfies ReadinessBody);
      }
      if (running === undefined) running = runAll().finally(() => (running = undefined));
      const { body, errors } = await running;
      // The details (messages, causes) go to the log, never into the response.
      for (const [name, error] of errors)
        request.log.warn({ check: name, err: error }, 'readiness check failed');
      // The state may have moved on while the checks ran.
      const after = state();
      if (after !== 'ready') return reply.code(503).send({ ...body, status: after });
      return reply.code(body.status === 'ready' ? 200 : 503).send(body);
    });
  },
  { fastify: '5.x', name: 'keel-health' },
);
