/** The events module: the classic Subject/Observer and, on the same error policy, the typed EventBus. */
export type { ErrorPolicy } from './error-policy.ts';
export {
  type EmitAsyncArgs,
  type EmitAsyncOptions,
  EventBus,
  type EventBusOptions,
  type ListenerErrorContext,
  type OnceOptions,
  type OnOptions,
} from './event-bus.ts';
export {
  AsyncSchemaError,
  DuplicateSchemaError,
  InvalidPayloadError,
  StreamOverflowError,
} from './event-errors.ts';
export { EventStream, type OverflowPolicy, type StreamOptions } from './event-stream.ts';
export { type Observer, Subject, type SubjectOptions } from './subject.ts';
export { type Subscription, subscription } from './subscription.ts';
export type { Ancestors, EmitTopic, Listener, Payload, PayloadArgs, Reached, Topic } from './topics.ts';
