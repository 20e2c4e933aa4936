/**
 * The one test suite every engine runs the broker on: `runBrokerContract('nats', { url })` from a test file.
 * Each test's brokers are stopped after it, and the suite checks that nothing is left running.
 */
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import {
  baselineResources,
  expectReleased,
  type ResourceCount,
} from '../transport/contract/context.contract.ts';
import type { Broker } from './broker.ts';
import { callsContract } from './contract/calls.contract.ts';
import { type BrokerContractSetup, type SuiteContext, uniqueName } from './contract/context.contract.ts';
import { deadlinesContract } from './contract/deadlines.contract.ts';
import { failuresContract } from './contract/failures.contract.ts';
import { lifecycleContract } from './contract/lifecycle.contract.ts';
import { observersContract } from './contract/observers.contract.ts';
import { createBroker } from './create-broker.ts';

export type { BrokerContractSetup };

export function runBrokerContract(kind: string, setup: BrokerContractSetup): void {
  describe(`Broker contract: ${kind}`, () => {
    let brokers: Broker[] = [];
    let url = setup.url();
    let before: ResourceCount = { sockets: 0, timers: 0 };

    beforeAll(async () => {
      before = await baselineResources();
    });
    afterEach(async () => {
      await Promise.all(brokers.map((b) => b.stop({ timeoutMs: 2000 }).catch(() => {})));
      brokers = [];
      url = setup.url();
    });
    // Every broker the suite made is stopped by now: none may leave a socket or a timer running.
    afterAll(() => expectReleased(before, 3000));

    const ctx: SuiteContext = {
      kind,
      setup,
      url: () => url,
      async open(options) {
        const broker = await createBroker({ ...options, transport: options.transport ?? url });
        brokers.push(broker as Broker);
        return broker as Broker;
      },
      name: uniqueName,
    };
    callsContract(ctx);
    failuresContract(ctx);
    deadlinesContract(ctx);
    lifecycleContract(ctx);
    observersContract(ctx);
  });
}
