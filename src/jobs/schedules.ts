/** Schedules (a job added on a rhythm): the checks of their arguments, and the lazily loaded cron parser. */
import { checkDuration, checkOptions, checkSignal, describe, InvalidArgumentError } from '../errors.ts';
import { loadDriver } from '../load-driver.ts';
import { CronParserMissingError } from './errors.ts';
import { checkJobName, MAX_DELAY_MS, normalizeAdd } from './options.ts';
import type { Rhythm, ScheduleOptions } from './types.ts';

/** A schedule id: 1 to 100 characters from A-Z a-z 0-9 . _ - (safe in a Redis key and a job id). */
const SCHEDULE_ID = /^[A-Za-z0-9._-]{1,100}$/;

export function checkScheduleId(call: string, id: unknown): string {
  if (typeof id !== 'string' || !SCHEDULE_ID.test(id)) {
    throw new InvalidArgumentError(
      `${call} id must be 1 to 100 characters from A-Z a-z 0-9 . _ -; received ${describe(id)}`,
    );
  }
  return id;
}

/** A rhythm checked and put in one shape: `every` in whole ms, or a cron expression with its zone. */
export type NormalizedRhythm =
  | { readonly every: number }
  | { readonly cron: string; readonly tz: string | undefined };

export interface NormalizedSchedule {
  readonly id: string;
  readonly rhythm: NormalizedRhythm;
  readonly name: string;
  readonly options: ReturnType<typeof normalizeAdd>;
  readonly signal: AbortSignal | undefined;
}

/** Throws unless `tz` names a time zone this runtime knows (cron-parser would only fail at the next run). */
function checkTimeZone(tz: unknown): string {
  if (typeof tz === 'string' && tz !== '') {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return tz;
    } catch {
      // Falls through to the error below: RangeError names no option.
    }
  }
  throw new InvalidArgumentError(
    `JobQueue.schedule() tz must be an IANA time zone such as "Europe/Paris"; received ${describe(tz)}`,
  );
}

function checkRhythm(rhythm: unknown): NormalizedRhythm {
  const label = 'JobQueue.schedule() rhythm';
  if (typeof rhythm !== 'object' || rhythm === null || 'every' in rhythm === 'cron' in rhythm) {
    throw new InvalidArgumentError(
      `${label} must be { every: ms } or { cron: '*/5 * * * *', tz? }; received ${describe(rhythm)}`,
    );
  }
  if ('every' in rhythm) {
    checkOptions(label, rhythm, ['every']);
    const every = checkDuration('JobQueue.schedule() every', rhythm.every, { min: 1, allowInfinity: false });
    // Redis scores the next run as its due time × 4096 in a double, as for `delay` (see MAX_DELAY_MS).
    if (every > MAX_DELAY_MS) {
      throw new InvalidArgumentError(
        `JobQueue.schedule() every must be at most ${MAX_DELAY_MS} ms (4 years); received ${describe(every)}`,
      );
    }
    return { every: Math.ceil(every) };
  }
  checkOptions(label, rhythm, ['cron', 'tz']);
  const { cron, tz } = rhythm as { cron: unknown; tz?: unknown };
  if (typeof cron !== 'string' || cron.trim() === '') {
    throw new InvalidArgumentError(
      `JobQueue.schedule() cron must be a cron expression such as '*/5 * * * *'; received ${describe(cron)}`,
    );
  }
  return { cron, tz: tz === undefined ? undefined : checkTimeZone(tz) };
}

/** Checks every argument of `schedule` (all but the data, which the queue's schema checks). */
export function normalizeSchedule(
  id: unknown,
  rhythm: unknown,
  name: unknown,
  options: ScheduleOptions | undefined,
): NormalizedSchedule {
  checkScheduleId('JobQueue.schedule()', id);
  const normalizedRhythm = checkRhythm(rhythm);
  checkJobName(name);
  checkOptions('JobQueue.schedule() options', options, ['attempts', 'backoff', 'priority', 'signal']);
  checkSignal('JobQueue.schedule() signal', options?.signal);
  const { signal, ...jobOptions } = options ?? {};
  return {
    id: id as string,
    rhythm: normalizedRhythm,
    name: name as string,
    options: normalizeAdd(jobOptions),
    signal,
  };
}

/** The public shape of a normalized rhythm: no `tz` key when none was given. */
export function publicRhythm(rhythm: NormalizedRhythm): Rhythm {
  if ('every' in rhythm) return { every: rhythm.every };
  return rhythm.tz === undefined ? { cron: rhythm.cron } : { cron: rhythm.cron, tz: rhythm.tz };
}

/** The part of cron-parser Keel uses. */
export interface CronParser {
  parse(expression: string, options: { currentDate: Date; tz?: string }): { next(): { getTime(): number } };
}

let parser: Promise<CronParser> | undefined;

/** Loads cron-parser on the first cron schedule, so a queue that never uses cron never loads it. */
export function loadCronParser(): Promise<CronParser> {
  parser ??= loadDriver(
    ['cron-parser'],
    async () => (await import('cron-parser')).CronExpressionParser as unknown as CronParser,
    (cause) => new CronParserMissingError(cause),
  ).catch((error: unknown) => {
    // Not cached: a package installed meanwhile is found on the next try.
    parser = undefined;
    throw error;
  });
  return parser;
}

/**
 * The first run of a cron rhythm strictly after `after` (ms since the epoch), or undefined when the
 * expression has no further run. An expression the parser refuses is refused with the parser's reason.
 */
export async function nextCronRun(
  rhythm: { readonly cron: string; readonly tz: string | undefined },
  after: number,
): Promise<number | undefined> {
  return nextCronRunWith(await loadCronParser(), rhythm, after);
}

export function nextCronRunWith(
  cronParser: CronParser,
  rhythm: { readonly cron: string; readonly tz: string | undefined },
  after: number,
): number | undefined {
  let interval: ReturnType<CronParser['parse']>;
  try {
    interval = cronParser.parse(rhythm.cron, {
      currentDate: new Date(after),
      ...(rhythm.tz !== undefined && { tz: rhythm.tz }),
    });
  } catch (error) {
    throw new InvalidArgumentError(
      `JobQueue.schedule() cron ${describe(rhythm.cron)} is not a valid cron expression: ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    return interval.next().getTime();
  } catch {
    // cron-parser throws once an expression (a fixed date in a past year, say) has no further run.
    return undefined;
  }
}
