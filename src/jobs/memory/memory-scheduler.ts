/** Schedules of the embedded queue: one long timer per schedule adds its job at each run. */
import { clearLongTimeout, type LongTimer, setLongTimeout } from '../../abort.ts';
import { describe } from '../../errors.ts';
import type { EngineJob } from '../base-queue.ts';
import {
  type CronParser,
  loadCronParser,
  type NormalizedRhythm,
  nextCronRunWith,
  publicRhythm,
} from '../schedules.ts';
import type { ScheduleInfo } from '../types.ts';

/** What the scheduler needs from its queue. */
export interface MemorySchedulerHost {
  /** Adds a checked job, as `add` does after its checks. */
  add(job: EngineJob): Promise<unknown>;
  /** Whether the queue is closing: runs then add nothing. */
  closed(): boolean;
  /** A run whose job could not be added (reported as the queue's `error` event). */
  error(error: unknown): void;
}

interface Entry {
  readonly id: string;
  readonly rhythm: NormalizedRhythm;
  readonly job: EngineJob;
  readonly parser: CronParser | undefined;
  next: number | undefined;
  timer: LongTimer | undefined;
}

const sameRhythm = (a: NormalizedRhythm, b: NormalizedRhythm): boolean =>
  'every' in a ? 'every' in b && a.every === b.every : 'cron' in b && a.cron === b.cron && a.tz === b.tz;

export class MemoryScheduler {
  readonly #host: MemorySchedulerHost;
  readonly #entries = new Map<string, Entry>();

  constructor(host: MemorySchedulerHost) {
    this.#host = host;
  }

  /** Adds or replaces a schedule. Replacing it with the same rhythm keeps its next run (no extra job). */
  async upsert(id: string, rhythm: NormalizedRhythm, job: EngineJob): Promise<void> {
    const parser = 'cron' in rhythm ? await loadCronParser() : undefined;
    const now = Date.now();
    const previous = this.#entries.get(id);
    let next: number | undefined;
    if (previous !== undefined && sameRhythm(previous.rhythm, rhythm)) next = previous.next;
    else if ('every' in rhythm) next = now;
    else next = nextCronRunWith(parser as CronParser, rhythm, now);
    this.remove(id);
    const entry: Entry = { id, rhythm, job, parser, next, timer: undefined };
    this.#entries.set(id, entry);
    this.#arm(entry);
  }

  remove(id: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    clearLongTimeout(entry.timer);
    entry.timer = undefined;
    this.#entries.delete(id);
    return true;
  }

  list(): ScheduleInfo[] {
    return [...this.#entries.values()]
      .sort((a, b) => (a.next ?? Number.POSITIVE_INFINITY) - (b.next ?? Number.POSITIVE_INFINITY))
      .map((e) => ({
        id: e.id,
        rhythm: publicRhythm(e.rhythm),
        name: e.job.name,
        next: e.next === undefined ? undefined : new Date(e.next),
      }));
  }

  /** Stops every schedule; a closed embedded queue forgets them, as it forgets its jobs. */
  clear(): void {
    for (const id of [...this.#entries.keys()]) this.remove(id);
  }

  #arm(entry: Entry): void {
    if (entry.next === undefined) return;
    // A long timer: an `every` past 2^31-1 ms would make a platform timer fire after 1 ms, again and again.
    entry.timer = setLongTimeout(() => this.#run(entry), Math.max(0, entry.next - Date.now()));
  }

  #run(entry: Entry): void {
    entry.timer = undefined;
    if (this.#entries.get(entry.id) !== entry || this.#host.closed()) return;
    const due = entry.next as number;
    this.#host.add(entry.job).catch((error: unknown) => {
      if (this.#host.closed()) return;
      this.#host.error(
        new Error(`schedule ${describe(entry.id)} could not add its job ${describe(entry.job.name)}`, {
          cause: error,
        }),
      );
    });
    entry.next = this.#following(entry, due, Date.now());
    this.#arm(entry);
  }

  /** The run after `due`; runs missed while the process slept are skipped, not added in a burst. */
  #following(entry: Entry, due: number, now: number): number | undefined {
    if ('every' in entry.rhythm) {
      const { every } = entry.rhythm;
      const next = due + every;
      return next > now ? next : next + Math.ceil((now - next) / every) * every;
    }
    return nextCronRunWith(entry.parser as CronParser, entry.rhythm, Math.max(due, now));
  }
}
