/**
 * Schedules on Redis through BullMQ's job schedulers: the schedule lives in Redis, and each run is one job
 * whose id is the schedule and the run's time, so any number of processes upserting it add one job a run.
 */
import type { JobSchedulerTemplateOptions, Queue, RepeatOptions } from 'bullmq';
import { describe } from '../../errors.ts';
import { QueueClosedError } from '../errors.ts';
import { checkScheduleId, nextCronRun, normalizeSchedule } from '../schedules.ts';
import type { Rhythm, ScheduleInfo, ScheduleOptions } from '../types.ts';

/** What the scheduler needs from its queue. */
export interface BullmqSchedulerHost {
  readonly queue: Queue;
  readonly name: string;
  closed(): boolean;
  /** Checks data as `add` does and resolves to what the jobs carry (the schema's output). */
  check(name: string, data: unknown): Promise<unknown>;
  /** Waits for a Redis command within the queue's command timeout (see `bounded` in bullmq-queue.ts). */
  bounded<T>(start: () => Promise<T>, what: string, signal?: AbortSignal): Promise<T>;
}

export class BullmqScheduler {
  readonly #host: BullmqSchedulerHost;

  constructor(host: BullmqSchedulerHost) {
    this.#host = host;
  }

  async schedule(
    id: string,
    rhythm: Rhythm,
    name: string,
    data: unknown,
    options?: ScheduleOptions,
  ): Promise<void> {
    const s = normalizeSchedule(id, rhythm, name, options);
    if (this.#host.closed()) throw new QueueClosedError(this.#host.name, 'schedule a job');
    s.signal?.throwIfAborted();
    const value = await this.#host.check(s.name, data);
    // BullMQ would only fail on a bad expression when it computes the next run; refuse it here, by reason.
    if ('cron' in s.rhythm) await nextCronRun(s.rhythm, Date.now());
    const repeat: Omit<RepeatOptions, 'key'> =
      'every' in s.rhythm
        ? { every: s.rhythm.every }
        : { pattern: s.rhythm.cron, ...(s.rhythm.tz !== undefined && { tz: s.rhythm.tz }) };
    const opts: JobSchedulerTemplateOptions = { attempts: s.options.attempts };
    if (s.options.backoff !== undefined)
      opts.backoff = { type: s.options.backoff.type, delay: s.options.backoff.delayMs };
    if (s.options.priority !== undefined) opts.priority = s.options.priority;
    await this.#host.bounded(
      () => this.#host.queue.upsertJobScheduler(s.id, repeat, { name: s.name, data: value ?? null, opts }),
      `schedule ${describe(s.id)}`,
      s.signal,
    );
  }

  async unschedule(id: string): Promise<boolean> {
    checkScheduleId('JobQueue.unschedule()', id);
    if (this.#host.closed()) throw new QueueClosedError(this.#host.name, 'unschedule a job');
    return this.#host.bounded(() => this.#host.queue.removeJobScheduler(id), `unschedule ${describe(id)}`);
  }

  async list(): Promise<ScheduleInfo[]> {
    if (this.#host.closed()) throw new QueueClosedError(this.#host.name, 'list schedules');
    const found = await this.#host.bounded(() => this.#host.queue.getJobSchedulers(0, -1, true), 'schedules');
    return found.map((s) => ({
      id: s.key,
      rhythm:
        s.every !== undefined && s.every !== null
          ? { every: Number(s.every) }
          : s.tz
            ? { cron: s.pattern as string, tz: s.tz }
            : { cron: s.pattern as string },
      name: s.name,
      next: s.next === undefined || s.next === null ? undefined : new Date(Number(s.next)),
    }));
  }
}
