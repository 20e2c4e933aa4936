/** The events module: the classic Subject/Observer (and, built on the same rules, the EventBus). */
export { type Observer, Subject, type SubjectOptions } from './subject.ts';
export { type Subscription, subscription } from './subscription.ts';
