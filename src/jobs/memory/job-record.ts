/** A job of the embedded queue and where it stands, shared by the queue and the worker that runs it. */
import type { JobFailure } from '../errors.ts';
import type { NormalizedAdd } from '../options.ts';
import type { JobDetails, JobInfo, JobProgress } from '../types.ts';

type State = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed';

export interface JobRecord {
  readonly id: string;
  readonly name: string;
  readonly data: unknown;
  readonly options: NormalizedAdd;
  /** Order of arrival, the tie-breaker among equal priorities. */
  readonly seq: number;
  readonly createdAt: number;
  /** The attempt the next (or current) run is. */
  attempt: number;
  /** The number of the latest attempt that started. */
  started: number;
  state: State;
  runAt: number;
  progress: JobProgress;
  result?: unknown;
  failure?: JobFailure;
  finishedAt?: number;
  /** Set by cancel(): whatever the handler does next, the job fails as cancelled. */
  cancelled: boolean;
}

export const info = (job: JobRecord): JobInfo => ({
  id: job.id,
  name: job.name,
  attempt: job.attempt,
  attempts: job.options.attempts,
});

/** A copy of the record as `getJob` shows it; `paused` tells whether the queue is paused. */
export function details(job: JobRecord, paused: boolean): JobDetails {
  return {
    id: job.id,
    name: job.name,
    data: structuredClone(job.data),
    state: paused && job.state === 'waiting' ? 'paused' : job.state,
    attempt: job.started,
    attempts: job.options.attempts,
    progress: structuredClone(job.progress),
    ...(job.state === 'completed' && { result: structuredClone(job.result) }),
    ...(job.state === 'failed' && job.failure !== undefined && { error: { ...job.failure } }),
    createdAt: job.createdAt,
    ...(job.finishedAt !== undefined && { finishedAt: job.finishedAt }),
  };
}
