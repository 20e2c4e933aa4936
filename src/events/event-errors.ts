/** The errors the EventBus and its streams throw, each with a stable code. */
import { KeelError } from '../errors.ts';
import { AsyncSchemaError, formatIssuePath, formatIssues, type StandardIssue } from '../standard-schema.ts';

export { AsyncSchemaError };

/** A payload failed the schema defined for its topic; nothing was delivered. */
export class InvalidPayloadError extends KeelError {
  readonly topic: string;
  readonly issues: ReadonlyArray<StandardIssue>;
  /** The failing paths, one per issue, as `a.b[0]` (`(root)` for the payload itself). */
  readonly paths: readonly string[];

  constructor(topic: string, issues: ReadonlyArray<StandardIssue>) {
    super(
      'KEEL_INVALID_PAYLOAD',
      `Invalid payload for topic "${topic}" (nothing was delivered): ${formatIssues(issues)}`,
    );
    this.topic = topic;
    this.issues = issues;
    this.paths = issues.map(formatIssuePath);
  }
}

/** A topic was given a second schema; a topic has one. */
export class DuplicateSchemaError extends KeelError {
  readonly topic: string;

  constructor(topic: string) {
    super('KEEL_DUPLICATE_SCHEMA', `Topic "${topic}" already has a schema; a topic has at most one`);
    this.topic = topic;
  }
}

/** A stream with `overflow: 'error'` received an event while its buffer was full; the stream has ended. */
export class StreamOverflowError extends KeelError {
  readonly topic: string;
  readonly bufferSize: number;

  constructor(topic: string, bufferSize: number) {
    super(
      'KEEL_STREAM_OVERFLOW',
      `The stream of topic "${topic}" overflowed its buffer of ${bufferSize} events and has ended; read it faster, raise bufferSize, or choose overflow 'drop-oldest' or 'drop-newest'`,
    );
    this.topic = topic;
    this.bufferSize = bufferSize;
  }
}
