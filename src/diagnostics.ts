/**
 * The ground floor's last resort and observation points: one sink for failures no caller can receive, and
 * `node:diagnostics_channel` channels named `keel:<module>.<event>` that cost a property read when nobody
 * subscribes.
 */
import { type Channel, channel } from 'node:diagnostics_channel';
import { inspect } from 'node:util';

/** A channel name: `keel:` then the module, a dot and the event (`keel:transport.error`). */
export type KeelChannelName = `keel:${string}.${string}`;

/** The channel with that name (the same object every time, as node:diagnostics_channel guarantees). */
export function keelChannel(name: KeelChannelName): Channel {
  return channel(name);
}

/** What the last-resort sink publishes on `keel:<module>.unhandled` before it writes to stderr. */
export interface UnhandledReport {
  /** The module the failure came from: `events`, `transport`, `jobs`, `container`… */
  readonly module: string;
  /** Where in that module, in words: `EventBus listener for "order.created"`, `subscription orders.*`. */
  readonly context: string;
  readonly error: unknown;
}

const unhandledChannels = new Map<string, Channel>();

/**
 * The one sink for failures that have no caller to reject (a listener's error with no handler, a
 * connection lost in the background, a user's error handler that itself threw). Publishes the report on
 * `keel:<module>.unhandled`, then writes one block to stderr in one format: `[keel <module>] <context>:`
 * and the error as `util.inspect` renders it, stack, `code` and `cause` included.
 */
export function reportUnhandled(module: string, context: string, error: unknown): void {
  let ch = unhandledChannels.get(module);
  if (ch === undefined) {
    ch = channel(`keel:${module}.unhandled`);
    unhandledChannels.set(module, ch);
  }
  if (ch.hasSubscribers) ch.publish({ module, context, error } satisfies UnhandledReport);
  process.stderr.write(`[keel ${module}] ${context}: ${inspect(error, { depth: 4 })}\n`);
}
