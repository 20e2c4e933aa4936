/**
 * The "web process" of the listener benchmark: `node bench/jobs-listener.ts REDIS_URL QUEUE [READER]`
 * hears the `completed` events of a Keel queue on Redis, which come from workers in another process, with
 * READER: `keel` (the default, `queue.on`), `bullmq` (BullMQ's own `QueueEvents` on the same stream, what a
 * BullMQ user would run) or `xread` (a bare XREAD loop that only counts `completed` entries: the least any
 * reader of the stream costs). It prints "ready" once it hears them, and exits when its parent closes
 * stdin, printing how many events it heard.
 */
import { once } from 'node:events';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { openQueue } from '../src/jobs/index.ts';

const [url, name, reader = 'keel'] = process.argv.slice(2) as [string, string, string?];
const queue = await openQueue(url, name);
let heard = 0;
let events: QueueEvents | undefined;
let bare: Redis | undefined;
let reading: Promise<void> | undefined;
/** Waits until the probe job added now is heard. */
async function probe(): Promise<void> {
  const id = await queue.add('probe', null);
  const readyBy = Date.now() + 30_000;
  while (heard === 0 && Date.now() < readyBy) await new Promise((resolve) => setTimeout(resolve, 10));
  if (heard === 0) throw new Error(`the probe job ${id} was not heard within 30 s`);
}
if (reader === 'xread') {
  bare = new Redis(url, { maxRetriesPerRequest: null });
  const key = `keel:${name}:events`;
  const [newest] = await bare.xrevrange(key, '+', '-', 'COUNT', 1);
  let last = newest?.[0] ?? '0-0';
  const client = bare;
  reading = (async () => {
    for (;;) {
      const reply = (await client.xread('COUNT', 1000, 'BLOCK', 5000, 'STREAMS', key, last)) as
        | [string, [string, string[]][]][]
        | null;
      const entries = reply?.[0]?.[1];
      if (!entries?.length) continue;
      last = (entries[entries.length - 1] as [string, string[]])[0];
      for (const [, fields] of entries) if (fields[1] === 'completed') heard++;
    }
  })().catch(() => {});
  await probe();
} else if (reader === 'bullmq') {
  // Keel's queues keep their keys under the prefix "keel".
  events = new QueueEvents(name, { connection: { url }, prefix: 'keel' });
  events.on('completed', () => {
    heard++;
  });
  await events.waitUntilReady();
  // Its first blocking read starts at the stream's end: give it a moment to be issued.
  await new Promise((resolve) => setTimeout(resolve, 100));
  await probe();
} else {
  queue.on('completed', () => {
    heard++;
  });
  // A job of its own shows the event stream is open: result() resolves from the stream (or the stored state).
  await queue.result(await queue.add('probe', null), { timeoutMs: 30_000 });
}
const readyCpu = process.cpuUsage();
process.stdout.write('ready\n');
process.stdin.resume();
await once(process.stdin, 'end');
process.stdout.write(`heard ${heard}\n`);
// The CPU it spent hearing events, from ready to the end.
const { user, system } = process.cpuUsage(readyCpu);
process.stdout.write(`cpu ${Math.round((user + system) / 1000)} ms\n`);
await events?.close();
bare?.disconnect();
await reading;
await queue.close({ timeoutMs: 1000 });
