/**
 * Schedules on Redis through BullMQ's job schedulers: the schedule lives in Redis, and each run is one job
 * whose id is the schedule and the run's time, so any number of processes upserting it add one job a run.
 */
import type { JobSchedulerTemplateOptions, JobsOptions, Queue, RepeatOptions } from 'bullmq';
import { describe } from '../../errors.ts';
import type { EngineJob } from '../base-queue.ts';
import type { NormalizedRhythm } from '../schedules.ts';
import type { ScheduleInfo } from '../types.ts';

/** What the scheduler needs from its queue. */
export interface BullmqSchedulerHost {
  readonly queue: Queue;
  /** BullMQ job options for a checked job (the queue's own mapping). */
  jobOptions(job: EngineJob): JobsOptions;
  /** Waits for a Redis command within the queue's command timeout. */
  bounded<T>(start: () => Promise<T>, what: string, signal?: AbortSignal): Promise<T>;
}

export class BullmqScheduler {
  readonly #host: BullmqSchedulerHost;

  constructor(host: BullmqSchedulerHost) {
    this.#host = host;
  }

  async upsert(id: string, rhythm: NormalizedRhythm, job: EngineJob, signal?: AbortSignal): Promise<void> {
    const repeat: Omit<RepeatOptions, 'key'> =
      'every' in rhythm
        ? { every: rhythm.every }
        : { pattern: rhythm.cron, ...(rhythm.tz !== undefined && { tz: rhythm.tz }) };
    const { jobId: _jobId, delay: _delay, ...opts } = this.#host.jobOptions(job);
    await this.#host.bounded(
      () =>
        this.#host.queue.upsertJobScheduler(id, repeat, {
          name: job.name,
          data: job.data ?? null,
          opts: opts as JobSchedulerTemplateOptions,
        }),
      `schedule ${describe(id)}`,
      signal,
    );
  }

  remove(id: string): Promise<boolean> {
    return this.#host.bounded(() => this.#host.queue.removeJobScheduler(id), `unschedule ${describe(id)}`);
  }

  async list(): Promise<ScheduleInfo[]> {
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
