/** The broker passes its contract suite in one process, over the memory transport. */
import { randomUUID } from 'node:crypto';
import { runBrokerContract } from './broker.contract.ts';

runBrokerContract('memory', { url: () => `memory://broker-${randomUUID().slice(0, 8)}`, maxPayload: false });
