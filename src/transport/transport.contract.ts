/**
 * The one test suite every Transport passes: `runTransportContract('nats', { open })` from a test file.
 * `open` returns a new connection to the same engine each time, so messages cross connections.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import type { KeelError } from '../errors.ts';
import {
  baselineResources,
  type ContractContext,
  expectReleased,
  type ResourceCount,
  type TransportContractSetup,
} from './contract/context.contract.ts';
import { deadlinesContract } from './contract/deadlines.contract.ts';
import { handlerLimitsContract } from './contract/handler-limits.contract.ts';
import { headersContract } from './contract/headers.contract.ts';
import { lifecycleContract } from './contract/lifecycle.contract.ts';
import { publishSubscribeContract } from './contract/publish-subscribe.contract.ts';
import { queueGroupsContract } from './contract/queue-groups.contract.ts';
import { requestManyContract } from './contract/request-many.contract.ts';
import { requestReplyContract } from './contract/request-reply.contract.ts';
import type { Transport, TransportOptions } from './transport.ts';

export type { TransportContractSetup };

export function runTransportContract(name: string, setup: TransportContractSetup): void {
  const queueGroups = setup.queueGroups ?? true;

  describe(`Transport contract: ${name}`, () => {
    let opened: Transport[] = [];
    const errors: { error: KeelError; subject: string }[] = [];
    let before: ResourceCount = { sockets: 0, timers: 0 };

    const open = async (options: TransportOptions = {}) => {
      const transport = await setup.open({
        onError: (error, { subject }) => errors.push({ error, subject }),
        ...options,
      });
      opened.push(transport);
      return transport;
    };
    const pair = async () => [await open(), await open()] as const;
    const subject = (suffix = 'x') => `keel.contract.${randomUUID()}.${suffix}`;

    beforeAll(async () => {
      before = await baselineResources();
    });
    afterEach(async () => {
      // A transport a test closed already has its outcome checked there.
      await Promise.all(
        opened.map((t) => (t.closed ? t.close().catch(() => {}) : t.close({ timeoutMs: 2000 }))),
      );
      opened = [];
      errors.length = 0;
    });
    // Every transport the suite opened is closed by now: none may leave a socket or a timer running.
    afterAll(() => expectReleased(before));

    const ctx: ContractContext = { open, pair, subject, errors, queueGroups };
    publishSubscribeContract(ctx);
    queueGroupsContract(ctx);
    requestReplyContract(ctx);
    requestManyContract(ctx);
    lifecycleContract(ctx);
    handlerLimitsContract(ctx);
    headersContract(ctx);
    deadlinesContract(ctx);
  });
}
