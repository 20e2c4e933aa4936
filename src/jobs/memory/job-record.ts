/** A job of the embedded queue and where it stands, shared by the queue and the worker that runs it. */
import type { NormalizedAdd } from '../options.ts';
import type { JobInfo } from '../types.ts';

type State = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed';

export interface JobRecord {
  readonly id: string;
  readonly name: string;
  readonly data: unknown;
  readonly options: NormalizedAdd;
  /** Order of arrival, the tie-breaker among equal priorities. */
  readonly seq: number;
  attempt: number;
  state: State;
  runAt: number;
}

export const info = (job: JobRecord): JobInfo => ({
  id: job.id,
  name: job.name,
  attempt: job.attempt,
  attempts: job.options.attempts,
});
