import { startEmbedded } from './shapes-harness.ts';
import { runHttpSuite } from './shapes-http-suite.ts';

// The whole backend in this process: memory transport and queue, a SQLite file.
runHttpSuite('embedded (role all)', () => startEmbedded(), { workerHere: true });
