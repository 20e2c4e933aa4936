/** The broker's circuit breaker gives no verdict on an action when the caller's own connection is down. */
import { expect, it } from 'vitest';
import { type Transport, TransportConnectionError, TransportTimeoutError } from '../transport/index.ts';
import { aNumber, anything } from './contract/context.contract.ts';
import { defineContract } from './contract.ts';
import { createBroker } from './create-broker.ts';
import { CircuitOpenError } from './resilience-errors.ts';

it("a failure of the caller's own connection never opens the circuit; a timeout of the action does", async () => {
  const contract = defineContract({
    name: 'breaker-verdict',
    version: 1,
    actions: { go: { params: anything, result: aNumber } },
  });
  let failure: () => Error = () => new TransportConnectionError('the connection is down; nothing was sent');
  const transport = {
    kind: 'fake',
    closed: false,
    request: () => Promise.reject(failure()),
    close: () => Promise.resolve(),
  } as unknown as Transport;
  const broker = await createBroker({
    transport,
    contracts: [contract],
    circuitBreaker: { minimumCalls: 4, failureRate: 0.5 },
  });
  try {
    const client = broker.client(contract);
    for (let i = 0; i < 20; i++) {
      await expect(client.go(i, { retries: 0 })).rejects.toBeInstanceOf(TransportConnectionError);
    }
    failure = () => new TransportTimeoutError('breaker-verdict.v1.go', 10, 'connected');
    for (let i = 0; i < 4; i++)
      await expect(client.go(i, { retries: 0 })).rejects.toMatchObject({ code: 'KEEL_BROKER_DEADLINE' });
    await expect(client.go(0, { retries: 0 })).rejects.toBeInstanceOf(CircuitOpenError);
  } finally {
    await broker.stop({ timeoutMs: 1000 });
  }
});
