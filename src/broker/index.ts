/** The broker floor: contracts, services, and the broker that calls and serves them over a Transport. */
export { Broker, type StopOptions } from './broker.ts';
export {
  BrokerProtocolError,
  BrokerStoppedError,
  BrokerTransportError,
  CallDepthError,
  DeadlineExceededError,
  RemoteError,
  UnknownActionError,
  ValidationError,
} from './broker-errors.ts';
export type { CallOptions } from './call-options.ts';
export type { CircuitBreakerOptions, CircuitState } from './circuit-breaker.ts';
export {
  type ActionKey,
  type ActionSpec,
  type AnyContract,
  type Contract,
  defineContract,
  type EventKey,
  type EventSpec,
} from './contract.ts';
export type { BrokerState } from './core.ts';
export { type BrokerOptions, createBroker } from './create-broker.ts';
export type { CallMiddleware, CallRequest, Middleware, ServeMiddleware } from './middleware.ts';
export type { EventObserver, EventObserverListener, ObserveOptions } from './observe.ts';
export {
  BulkheadClosedError,
  BulkheadCloseTimeoutError,
  BulkheadFullError,
  CircuitOpenError,
} from './resilience-errors.ts';
export {
  type ActionHandler,
  type ActionOptions,
  defineService,
  type EventHandler,
  type Service,
  type ServiceImplementation,
  type ServiceOptions,
} from './service.ts';
export type { Client, ServiceContext } from './service-context.ts';
