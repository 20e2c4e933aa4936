/**
 * Render jobs: `render.start` checks the shapes exist and queues a job; the worker (any renderer process)
 * fetches each shape from the shapes service, reports progress per shape and leaves the sheet as the
 * job's result, where `render.get` and `render.sheet` read it from any process.
 */
import { type Broker, defineService, ValidationError } from 'keel/broker';
import { sleep } from 'keel/concurrency';
import type { JobDetails, JobQueue, JobWorker } from 'keel/jobs';
import {
  type Render,
  type RenderJobData,
  type RenderJobResult,
  renderContract,
  shapesContract,
  sheetUrl,
} from '../contracts.ts';
import { RenderConflictError, RenderNotFoundError, ShapeNotFoundError } from '../errors.ts';
import { type Log, silentLog } from '../log.ts';
import { placeShape, sheet } from './sheet.ts';

export type RenderQueue = JobQueue<RenderJobData>;

/** The queue's name (and its BullMQ key prefix's middle part). */
export const renderQueueName = 'render';

/** The progress a render job reports: shapes drawn out of the total. */
interface Progress {
  readonly done: number;
  readonly total: number;
}

function readProgress(job: JobDetails, total: number): Progress {
  const p = job.progress as Partial<Progress> | number;
  if (typeof p === 'object' && typeof p.done === 'number') return { done: p.done, total };
  return { done: job.state === 'completed' ? total : 0, total };
}

function toRender(job: JobDetails<RenderJobData>): Render {
  const total = job.data.ids.length;
  const { done } = readProgress(job, total);
  return {
    jobId: job.id,
    state: job.state,
    progress: total === 0 ? 100 : Math.round((done / total) * 100),
    done,
    total,
    createdAt: new Date(job.createdAt).toISOString(),
    ...(job.finishedAt === undefined ? {} : { finishedAt: new Date(job.finishedAt).toISOString() }),
    ...(job.state === 'completed' ? { sheetUrl: sheetUrl(job.id) } : {}),
    ...(job.error === undefined
      ? {}
      : {
          error: {
            ...(job.error.code === undefined ? {} : { code: job.error.code }),
            message: job.error.message,
          },
        }),
  };
}

async function findJob(queue: RenderQueue, id: string): Promise<JobDetails<RenderJobData>> {
  // The queue generates integer ids; anything else names no job (and BullMQ would refuse to look it up).
  const job = /^[1-9][0-9]{0,15}$/.test(id) ? await queue.getJob(id) : undefined;
  if (job === undefined || job.name !== 'sheet') throw new RenderNotFoundError(id);
  return job as JobDetails<RenderJobData>;
}

export function renderService(queue: RenderQueue) {
  return defineService(renderContract, {
    actions: {
      start: async ({ ids }, ctx) => {
        // Refuse unknown shapes now, naming each, rather than fail the job later.
        const shapes = ctx.client(shapesContract);
        const found = await Promise.all(
          ids.map((id) =>
            shapes.get({ id }).then(
              () => true,
              (error: unknown) => {
                if (
                  error instanceof ShapeNotFoundError ||
                  (error as { code?: unknown }).code === 'KEEL_SHAPE_NOT_FOUND'
                )
                  return false;
                throw error;
              },
            ),
          ),
        );
        const issues = ids.flatMap((id, i) =>
          found[i] ? [] : [{ path: ['ids', i], message: `no shape has the id ${JSON.stringify(id)}` }],
        );
        if (issues.length > 0) throw new ValidationError('render.start', 'params', issues);
        const jobId = await queue.add(
          'sheet',
          { ids },
          { attempts: 3, backoff: { type: 'exponential', delayMs: 200 } },
        );
        return { jobId };
      },
      get: async ({ id }) => toRender(await findJob(queue, id)),
      sheet: async ({ id }) => {
        const job = await findJob(queue, id);
        if (job.state !== 'completed') throw new RenderConflictError(id, job.state);
        return (job.result as RenderJobResult).svg;
      },
    },
  });
}

/**
 * Starts a render worker on `queue`: it calls `shapes.get` through `broker` for each shape, reports job
 * progress and `render.progress` after each, and emits `render.completed` once the job is stored completed
 * (so a client that hears it finds the sheet).
 */
export async function startRenderWorker(
  queue: RenderQueue,
  broker: Broker,
  options: {
    readonly concurrency?: number;
    readonly log?: Log;
    /** A pause after each shape, so progress can be watched (the live page, a demo). @default 0 */
    readonly paceMs?: number;
  } = {},
): Promise<JobWorker> {
  const paceMs = options.paceMs ?? 0;
  const log = options.log ?? silentLog;
  const shapes = broker.client(shapesContract);
  const emit = (event: 'render.progress' | 'render.completed', payload: unknown): Promise<void> =>
    broker.emit(event, payload).catch((error: unknown) => log('warn', `could not emit ${event}`, { error }));
  const worker = await queue.process<RenderJobResult>(
    async (job, { signal }) => {
      const { ids } = job.data;
      const total = ids.length;
      const placed: string[] = [];
      for (const [i, id] of ids.entries()) {
        const shape = await shapes.get({ id }, { signal });
        placed.push(placeShape(shape, i));
        const done = i + 1;
        await job.progress({ done, total });
        await emit('render.progress', {
          jobId: job.id,
          shapeId: id,
          done,
          total,
          progress: Math.round((done / total) * 100),
        });
        if (paceMs > 0 && done < total) await sleep(paceMs, { signal });
      }
      return { svg: sheet(placed), total };
    },
    { concurrency: options.concurrency ?? 4 },
  );
  worker.on('completed', ({ job, result }) => {
    void emit('render.completed', {
      jobId: job.id,
      total: (result as RenderJobResult).total,
      sheetUrl: sheetUrl(job.id),
    });
  });
  worker.on('failed', ({ job, error, willRetry }) => {
    log(willRetry ? 'warn' : 'error', 'render job failed', {
      jobId: job.id,
      attempt: job.attempt,
      willRetry,
      error,
    });
  });
  return worker;
}
