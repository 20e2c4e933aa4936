/** Schedules of the embedded queue: one long timer per schedule adds its job at each run. */
import { clearLongTimeout, type LongTimer, setLongTimeout } from '../../abort.ts';
import { describe } from '../../errors.ts';
import { QueueClosedError } from '../errors.ts';
import {
  type CronParser,
  checkScheduleId,
  loadCronParser,
  type NormalizedRhythm,
  nextCronRunWith,
  normalizeSchedule,
  publicRhythm,
} from '../schedules.ts';
import type { AddOptions, Rhythm, ScheduleInfo, ScheduleOptions } from '../types.ts';

/** What the scheduler needs from its queue. */
export interface MemorySchedulerHost {
  readonly queue: string;
  /** Checks data as `add` would (schema, JSON), so a schedule is refused at once rather than at each run. */
  check(name: string, data: unknown): Promise<void>;
  add(name: string, data: unknown, options: AddOptions): Promise<string>;
  /** A run whose job could not be added (reported as the queue's `error` event). */
  error(error: unknown): void;
}

interface Entry {
  readonly id: string;
  readonly rhythm: NormalizedRhythm;
  readonly name: string;
  readonly data: unknown;
  readonly options: AddOptions;
  readonly parser: CronParser | undefined;
  next: number | undefined;
  timer: LongTimer | undefined;
}

const sameRhythm = (a: NormalizedRhythm, b: NormalizedRhythm): boolean =>
  'every' in a ? 'every' in b && a.every === b.every : 'cron' in b && a.cron === b.cron && a.tz === b.tz;

export class MemoryScheduler {
  readonly #host: MemorySchedulerHost;
  readonly #entries = new Map<string, Entry>();
  #closed = false;

  constructor(host: MemorySchedulerHost) {
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
    if (this.#closed) throw new QueueClosedError(this.#host.queue, 'schedule a job');
    s.signal?.throwIfAborted();
    await this.#host.check(s.name, data);
    const parser = 'cron' in s.rhythm ? await loadCronParser() : undefined;
    const now = Date.now();
    const previous = this.#entries.get(s.id);
    let next: number | undefined;
    if (previous !== undefined && sameRhythm(previous.rhythm, s.rhythm)) next = previous.next;
    else if ('every' in s.rhythm) next = now;
    else next = nextCronRunWith(parser as CronParser, s.rhythm, now);
    s.signal?.throwIfAborted();
    if (this.#closed) throw new QueueClosedError(this.#host.queue, 'schedule a job');
    const { signal: _signal, ...jobOptions } = options ?? {};
    const entry: Entry = {
      id: s.id,
      rhythm: s.rhythm,
      name: s.name,
      // A copy: the caller may change its object later; every run adds the data as it was scheduled.
      data: structuredClone(data),
      options: jobOptions,
      parser,
      next,
      timer: undefined,
    };
    this.#remove(s.id);
    this.#entries.set(s.id, entry);
    this.#arm(entry);
  }

  unschedule(id: string): boolean {
    checkScheduleId('JobQueue.unschedule()', id);
    if (this.#closed) throw new QueueClosedError(this.#host.queue, 'unschedule a job');
    return this.#remove(id);
  }

  list(): ScheduleInfo[] {
    if (this.#closed) throw new QueueClosedError(this.#host.queue, 'list schedules');
    return [...this.#entries.values()]
      .sort((a, b) => (a.next ?? Number.POSITIVE_INFINITY) - (b.next ?? Number.POSITIVE_INFINITY))
      .map((e) => ({
        id: e.id,
        rhythm: publicRhythm(e.rhythm),
        name: e.name,
        next: e.next === undefined ? undefined : new Date(e.next),
      }));
  }

  close(): void {
    this.#closed = true;
    for (const id of [...this.#entries.keys()]) this.#remove(id);
  }

  #remove(id: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    clearLongTimeout(entry.timer);
    entry.timer = undefined;
    this.#entries.delete(id);
    return true;
  }

  #arm(entry: Entry): void {
    if (entry.next === undefined) return;
    // A long timer: an `every` past 2^31-1 ms would make a platform timer fire after 1 ms, again and again.
    entry.timer = setLongTimeout(() => this.#run(entry), Math.max(0, entry.next - Date.now()));
  }

  #run(entry: Entry): void {
    entry.timer = undefined;
    if (this.#entries.get(entry.id) !== entry) return;
    const due = entry.next as number;
    this.#host.add(entry.name, entry.data, entry.options).catch((error: unknown) => {
      if (!this.#closed) {
        this.#host.error(
          new Error(`schedule ${describe(entry.id)} could not add its job ${describe(entry.name)}`, {
            cause: error,
          }),
        );
      }
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
