/** The transport floor: one contract for messages between processes, over memory, NATS or Redis. */
export {
  bridgeEvents,
  type EventBridge,
  type EventBridgeErrorContext,
  type EventBridgeOptions,
} from './event-bridge.ts';
export { openTransport, type TransportScheme } from './open-transport.ts';
export { jsonSerializer, type Serializer } from './serializer.ts';
export type { Pem, TlsOptions } from './tls-options.ts';
export type {
  CloseOptions,
  GatheredReply,
  Handler,
  MessageHeaders,
  MessageMeta,
  PublishedMessageMeta,
  PublishOptions,
  RequestManyOptions,
  RequestMessageMeta,
  RequestOptions,
  SubscribeOptions,
  Transport,
  TransportErrorHandler,
  TransportOptions,
  TransportSubscription,
} from './transport.ts';
export {
  EventBridgeMessageError,
  NoRespondersError,
  type RemoteErrorInfo,
  RemoteHandlerError,
  ReplyTooLargeError,
  RequestCancelledError,
  RequestDeadlineError,
  SubscriptionOverflowError,
  TransportAuthError,
  TransportClosedError,
  TransportConnectionError,
  TransportDecodeError,
  TransportDriverMissingError,
  TransportEncodeError,
  TransportHandlerError,
  TransportPermissionError,
  TransportTimeoutError,
  TransportTlsError,
  TransportUnsupportedError,
} from './transport-errors.ts';
