/**
 * Server-sent events over fetch, so the page controls reconnection: exponential backoff with jitter,
 * `Last-Event-ID` on every reconnect (the gateway replays what was missed), and a state the page shows.
 */

export type StreamState = 'connecting' | 'live' | 'reconnecting';

export interface StreamEvent {
  readonly id: string;
  readonly event: string;
  readonly data: string;
}

export interface EventStreamOptions {
  readonly url: string;
  readonly onEvent: (event: StreamEvent) => void;
  readonly onState: (state: StreamState) => void;
  /** First retry delay; doubles up to maxDelayMs. */
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** A stream that sends nothing (not even a heartbeat) for this long is dropped and reopened. */
  readonly idleMs?: number;
}

export function openEventStream(options: EventStreamOptions): { close(): void } {
  const minDelay = options.minDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 8000;
  const idleMs = options.idleMs ?? 45_000;
  let lastId = '';
  let attempt = 0;
  let closed = false;
  let controller: AbortController | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const dispatch = (block: string) => {
    let id = '';
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (id !== '') lastId = id;
    if (data.length > 0) options.onEvent({ id, event, data: data.join('\n') });
  };

  const connect = async () => {
    if (closed) return;
    let idle: ReturnType<typeof setTimeout> | undefined;
    controller = new AbortController();
    options.onState(attempt === 0 && lastId === '' ? 'connecting' : 'reconnecting');
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (lastId !== '') headers['last-event-id'] = lastId;
      const response = await fetch(options.url, { headers, signal: controller.signal, cache: 'no-store' });
      if (!response.ok || response.body === null) throw new Error(`events answered ${response.status}`);
      attempt = 0;
      options.onState('live');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      // The server sends a heartbeat every 15 s: a stream silent for much longer is dead, whatever TCP says.
      const watch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => controller?.abort(), idleMs);
      };
      watch();
      for (;;) {
        const { value, done } = await reader.read().finally(watch);
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let end = buffer.indexOf('\n\n');
        while (end !== -1) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // A dropped connection, a refused one, or an abort by close(): reconnect unless closed.
    }
    clearTimeout(idle);
    if (closed) return;
    options.onState('reconnecting');
    const delay = Math.min(maxDelay, minDelay * 2 ** attempt);
    attempt++;
    timer = setTimeout(connect, delay / 2 + Math.random() * (delay / 2));
  };

  void connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      controller?.abort();
    },
  };
}
