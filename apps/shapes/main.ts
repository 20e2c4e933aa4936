/**
 * The shapes backend's entry point: `node --conditions=keel-source apps/shapes/main.ts --role all`.
 * Roles: `all` (everything in one process: `npm start`), `gateway` (HTTP only), `shapes` (the shapes
 * service and its store), `renderer` (the render service and worker). Configuration comes from the
 * environment (see config.ts); a bad value stops the start with a message naming the variable.
 */
import { startApp } from './app.ts';
import { readConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import { jsonLog } from './log.ts';

let config: ReturnType<typeof readConfig>;
try {
  config = readConfig(process.env, process.argv.slice(2));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`shapes: invalid configuration: ${error.message}\n`);
  process.exit(78); // EX_CONFIG
}

const log = jsonLog(config.role);
try {
  const app = await startApp(config, { log });
  // SIGTERM and SIGINT run the gateway's stop sequence, then the process exits 0.
  app.gateway.handleSignals();
  if (config.role === 'all' || config.role === 'gateway') {
    process.stdout.write(
      `Shapes backend (${config.role}) at ${app.url}  —  try: curl ${app.url}/api/shapes\n`,
    );
  } else {
    process.stdout.write(`Shapes ${config.role} ready; health at ${app.url}/health/ready\n`);
  }
} catch (error) {
  log('error', 'could not start', { error });
  process.stderr.write(`shapes: could not start: ${(error as Error).message}\n`);
  process.exit(1);
}
