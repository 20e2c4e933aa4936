/** Middleware: functions around every outgoing call (`call`) and every served call (`serve`), in registration order. */
import type { ServiceContext } from './service-context.ts';

/** An outgoing call as `call` middleware sees it; `meta` may be changed before `next()`. */
export interface CallRequest {
  /** `<contract>.<action>` */
  readonly action: string;
  readonly params: unknown;
  /** The meta the call will carry; add or change entries (header rules apply). */
  readonly meta: Record<string, string>;
  readonly depth: number;
  /** The calling broker. */
  readonly nodeId: string;
}

export type CallMiddleware = (request: CallRequest, next: () => Promise<unknown>) => Promise<unknown>;
export type ServeMiddleware = (
  ctx: ServiceContext,
  params: unknown,
  next: () => Promise<unknown>,
) => Promise<unknown>;

export interface Middleware {
  /** Wraps each outgoing call (retries included): add meta, log, measure. */
  readonly call?: CallMiddleware | undefined;
  /** Wraps each served call before its params are validated: check meta (auth), log, measure. */
  readonly serve?: ServeMiddleware | undefined;
}

/** Runs `layers` around `last` through `invoke`: the first registered is the outermost. */
export function runLayers<L>(
  layers: readonly L[],
  invoke: (layer: L, next: () => Promise<unknown>) => unknown,
  last: () => Promise<unknown>,
): Promise<unknown> {
  if (layers.length === 0) return last();
  const step = (i: number): Promise<unknown> => {
    const layer = layers[i];
    if (layer === undefined) return last();
    try {
      return Promise.resolve(invoke(layer, () => step(i + 1)));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return step(0);
}
