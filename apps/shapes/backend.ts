/**
 * The parts each role runs besides HTTP: the broker with the role's services, the render queue and its
 * worker, the repository; their readiness checks; and the order in which they close.
 */
import { randomUUID } from 'node:crypto';
import { type Broker, createBroker, type Service } from 'keel/broker';
import { type JobQueue, type JobWorker, openQueue } from 'keel/jobs';
import type { Config, Role } from './config.ts';
import { RenderJobData, renderContract, shapeContract, shapesContract } from './contracts.ts';
import { type Log, silentLog } from './log.ts';
import {
  type RenderQueue,
  renderQueueName,
  renderService,
  startRenderWorker,
} from './services/render-service.ts';
import { shapesService } from './services/shapes-service.ts';
import { openRepository } from './storage/open-repository.ts';
import type { ShapeRepository } from './storage/repository.ts';

/** A readiness check: resolves when the dependency answers, rejects (or aborts) when it does not. */
export type Check = (signal: AbortSignal) => Promise<void>;

export interface Backend {
  readonly role: Role;
  readonly broker: Broker;
  /** Open in the roles that store shapes (`all`, `shapes`). */
  readonly repository: ShapeRepository | undefined;
  /** Open in the roles that run or report render jobs (`all`, `renderer`). */
  readonly queue: JobQueue<RenderJobData> | undefined;
  readonly worker: JobWorker | undefined;
  /** Readiness checks by name: `transport`, and `queue` / `database` where the role has them. */
  readonly checks: Readonly<Record<string, Check>>;
  /**
   * Closes everything in order: the render worker is paused and its running jobs finish (they need the
   * broker to fetch shapes), then the broker (and its transport), the queue, the repository. Each step
   * runs even when an earlier one failed; the first failure is rethrown at the end. Idempotent.
   */
  readonly close: (options?: { readonly timeoutMs?: number }) => Promise<void>;
  /** The same steps, one function each, for a gateway's `onStop` list. */
  readonly closeSteps: (options?: { readonly timeoutMs?: number }) => (() => Promise<void>)[];
}

export interface BackendOptions {
  readonly log?: Log | undefined;
  /** The broker's node id. @default the broker's own (`<host>-<pid>-<random>`) */
  readonly nodeId?: string | undefined;
  /** A call's budget when the caller gives none. @default 10000 */
  readonly defaultTimeoutMs?: number | undefined;
  /** Render jobs one worker runs at once. @default 4 */
  readonly renderConcurrency?: number | undefined;
}

const serves = {
  all: { shapes: true, render: true },
  gateway: { shapes: false, render: false },
  shapes: { shapes: true, render: false },
  renderer: { shapes: false, render: true },
} as const satisfies Record<Role, { shapes: boolean; render: boolean }>;

/** Opens what `config.role` needs; on a failure, closes what was already open and rethrows. */
export async function startBackend(
  config: Pick<Config, 'role' | 'transportUrl' | 'queueUrl' | 'databaseUrl'> &
    Partial<Pick<Config, 'renderPaceMs'>>,
  options: BackendOptions = {},
): Promise<Backend> {
  const log = options.log ?? silentLog;
  const role = config.role;
  const opened: (() => Promise<void>)[] = [];
  try {
    let repository: ShapeRepository | undefined;
    let queue: RenderQueue | undefined;
    const services: Service[] = [];
    if (serves[role].shapes) {
      const repo = await openRepository(config.databaseUrl);
      repository = repo;
      opened.push(() => repo.close());
      services.push(shapesService(repo, log));
    }
    if (serves[role].render) {
      const q = await openQueue(config.queueUrl, renderQueueName, { schema: RenderJobData });
      queue = q;
      opened.push(() => q.close());
      services.push(renderService(q));
    }
    const broker = (await createBroker({
      transport: config.transportUrl,
      services,
      contracts: [shapesContract, shapeContract, renderContract],
      // When an instance dies, every call in flight on it needs a retry at once: budget for a burst.
      retryBudget: { maxTokens: 200, tokenRatio: 0.1 },
      ...(options.nodeId === undefined ? {} : { nodeId: options.nodeId }),
      ...(options.defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs: options.defaultTimeoutMs }),
    })) as unknown as Broker;
    opened.push(() => broker.stop());
    const worker =
      queue === undefined
        ? undefined
        : await startRenderWorker(queue, broker, {
            log,
            concurrency: options.renderConcurrency ?? 4,
            paceMs: config.renderPaceMs ?? 0,
          });

    // A round trip through the engine to this very process proves the transport carries messages now.
    const healthSubject = `shapes-health.${randomUUID()}`;
    await broker.transport.subscribe(healthSubject, () => 'ok', { reply: true }).ready;
    const checks: Record<string, Check> = {
      transport: async (signal) => {
        await broker.transport.request(healthSubject, null, { timeoutMs: 1000, signal });
      },
    };
    if (queue !== undefined) {
      const q = queue;
      checks.queue = async (signal) => {
        await q.counts({ timeoutMs: 1000, signal });
      };
    }
    if (repository !== undefined) {
      const r = repository;
      checks.database = (signal) => r.ping(signal);
    }

    const closeSteps = ({ timeoutMs = 10_000 }: { readonly timeoutMs?: number } = {}) => [
      async () => {
        if (worker === undefined) return;
        await worker.pause();
        await worker.close({ timeoutMs });
      },
      () => broker.stop({ timeoutMs }),
      async () => queue?.close({ timeoutMs }),
      async () => repository?.close(),
    ];
    let closing: Promise<void> | undefined;
    const close = (closeOptions?: { readonly timeoutMs?: number }): Promise<void> => {
      closing ??= (async () => {
        let failure: unknown;
        for (const step of closeSteps(closeOptions)) {
          try {
            await step();
          } catch (error) {
            failure ??= error;
            log('error', 'a part failed to close', { error });
          }
        }
        if (failure !== undefined) throw failure;
      })();
      return closing;
    };
    return { role, broker, repository, queue, worker, checks, close, closeSteps };
  } catch (error) {
    for (const undo of opened.reverse()) await undo().catch(() => undefined);
    throw error;
  }
}
