/**
 * keel/gateway: HTTP in front of the broker, as a Fastify plugin. Loaded only from this subpath, so
 * `import 'keel'` never loads Fastify.
 */

export { type AgentCheck, type AgentCheckOptions, type AgentState, startAgentCheck } from './agent-check.ts';
export {
  type CreateGatewayOptions,
  createGateway,
  type Gateway,
  type GatewayStopOptions,
  type HandleSignalsOptions,
  type ListenOptions,
  type PinoOptions,
  type PressureOptions,
} from './create-gateway.ts';
export {
  type CheckResult,
  type HealthCheck,
  type HealthOptions,
  type HealthPluginOptions,
  keelHealth,
  type ReadinessBody,
} from './health.ts';
export {
  type ErrorBody,
  type ErrorIssue,
  errorBody,
  GatewayDrainingError,
  type GatewayRequestCode,
  GatewayRequestError,
  GatewayRequestGoneError,
  type HttpError,
  toHttpError,
} from './http-errors.ts';
export {
  type IdempotencyClaim,
  type IdempotencyRecord,
  type IdempotencyStore,
  MemoryIdempotencyStore,
  type MemoryIdempotencyStoreOptions,
  type RedisCommander,
  RedisIdempotencyStore,
  type RedisIdempotencyStoreOptions,
  type StoredResponse,
} from './idempotency.ts';
export { type GatewayState, Lifecycle, type StopReport } from './lifecycle.ts';
export { type CountedQueue, keelMetrics, type MetricsOptions, type MetricsPluginOptions } from './metrics.ts';
export { buildOpenApi, type OpenApiOptions, openApiPath } from './openapi.ts';
export {
  type CorsOptions,
  type GatewayOptions,
  type IdempotencyOptions,
  keelGateway,
  requestIdOf,
} from './plugin.ts';
export { type Route, type RouteMethod, type RouteRequest, type RouteSpec, route } from './route.ts';
export { type EventsOptions, type EventsPluginOptions, type EventsStats, keelEvents } from './sse.ts';
