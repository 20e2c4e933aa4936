/**
 * What the NATS benchmarks share: the hand-rolled request floor (one connection, one inbox subscription,
 * a reply subject per call under it, a map of pending calls, a timer per call, JSON both ways), and
 * starting a child process that prints `ready` once it serves.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInbox, type NatsConnection } from '@nats-io/transport-node';

/**
 * The floor's caller of `subject`: each call resolves with `read(reply)` (the reply as JSON by default), or
 * rejects with what `read` throws, or after `timeoutMs` with no reply.
 */
export function rawRequester<P, R = unknown>(
  nc: NatsConnection,
  subject: string,
  timeoutMs: number,
  read: (reply: unknown) => R = (reply) => reply as R,
): (payload: P) => Promise<R> {
  interface Pending {
    readonly resolve: (value: R) => void;
    readonly reject: (error: unknown) => void;
    readonly timer: NodeJS.Timeout;
  }
  const inbox = createInbox();
  const prefix = inbox.length + 1;
  const pending = new Map<number, Pending>();
  const encoder = new TextEncoder();
  let seq = 0;
  nc.subscribe(`${inbox}.*`, {
    callback: (error, msg) => {
      if (error) return;
      const id = Number(msg.subject.slice(prefix));
      const call = pending.get(id);
      if (call === undefined) return; // timed out already
      pending.delete(id);
      clearTimeout(call.timer);
      let reply: unknown;
      try {
        reply = msg.json();
      } catch (cause) {
        call.reject(new Error('the reply is not JSON', { cause }));
        return;
      }
      try {
        call.resolve(read(reply));
      } catch (failure) {
        call.reject(failure);
      }
    },
  });
  return (payload) =>
    new Promise<R>((resolve, reject) => {
      const id = ++seq;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      nc.publish(subject, encoder.encode(JSON.stringify(payload)), { reply: `${inbox}.${id}` });
    });
}

/** Starts `node script ...args` and resolves once it prints `ready`; kills it and throws past 30 s. */
export async function startReady(
  script: string,
  args: readonly string[],
  what: string,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const readyBy = Date.now() + 30_000;
  while (!out.includes('ready\n')) {
    if (child.exitCode !== null || Date.now() > readyBy) {
      child.kill('SIGKILL');
      throw new Error(`${what} did not get ready within 30 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return child;
}
