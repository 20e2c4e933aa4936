/** The broker passes its contract suite against a real nats-server. */
import { runBrokerContract } from '../../src/broker/broker.contract.ts';
import { engineUrl } from './engine-urls.ts';

const url = engineUrl('KEEL_NATS_URL');

runBrokerContract('nats', { url: () => url, maxPayload: true });
