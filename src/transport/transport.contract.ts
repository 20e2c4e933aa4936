/**
 * The one test suite every Transport passes: `runTransportContract('nats', { open })` from a test file.
 * `open` returns a new connection to the same engine each time, so messages cross connections.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect } from 'vitest';
import type { KeelError } from '../errors.ts';
import {
  type ContractContext,
  openSockets,
  sleep,
  type TransportContractSetup,
  timerTracker,
} from './contract/context.contract.ts';
import { handlerLimitsContract } from './contract/handler-limits.contract.ts';
import { lifecycleContract } from './contract/lifecycle.contract.ts';
import { publishSubscribeContract } from './contract/publish-subscribe.contract.ts';
import { queueGroupsContract } from './contract/queue-groups.contract.ts';
import { requestReplyContract } from './contract/request-reply.contract.ts';
import type { Transport, TransportOptions } from './transport.ts';

export type { TransportContractSetup };

export function runTransportContract(name: string, setup: TransportContractSetup): void {
  const queueGroups = setup.queueGroups ?? true;

  describe(`Transport contract: ${name}`, () => {
    let opened: Transport[] = [];
    const errors: { error: KeelError; subject: string }[] = [];
    let sockets = 0;
    const timers = timerTracker();

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

    beforeAll(() => {
      sockets = openSockets();
      timers.start();
    });
    afterEach(async () => {
      // A transport a test closed already has its outcome checked there.
      await Promise.all(
        opened.map((t) => (t.closed ? t.close().catch(() => {}) : t.close({ timeoutMs: 2000 }))),
      );
      opened = [];
      errors.length = 0;
    });
    afterAll(async () => {
      // Sockets and timers may take a few turns of the event loop to be released after close(), more on a
      // loaded machine; a socket that is slow to close is destroyed by the driver within 500 ms.
      const deadline = Date.now() + 1000;
      while ((openSockets() > sockets || timers.live().length > 0) && Date.now() < deadline) await sleep(20);
      timers.stop();
      expect(openSockets(), 'sockets left open').toBeLessThanOrEqual(sockets);
      expect(timers.live(), 'timers left running').toEqual([]);
    });

    const ctx: ContractContext = { open, pair, subject, errors, queueGroups };
    publishSubscribeContract(ctx);
    queueGroupsContract(ctx);
    requestReplyContract(ctx);
    lifecycleContract(ctx);
    handlerLimitsContract(ctx);
  });
}
