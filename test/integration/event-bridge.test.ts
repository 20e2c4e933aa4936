/** bridgeEvents against real nats-server and redis-server: the bridge suite on each engine. */

import { runEventBridgeSuite } from '../../src/transport/event-bridge.contract.ts';
import { openTransport } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';

const natsUrl = engineUrl('KEEL_NATS_URL');
const redisUrl = engineUrl('KEEL_REDIS_URL');

runEventBridgeSuite('nats', { open: () => openTransport(natsUrl) });
runEventBridgeSuite('redis', { open: () => openTransport(redisUrl) });
