/** The engine URLs the integration tests use, from the environment that scripts/with-engines.ts sets. */

/** Returns the URL in `variable`, or throws saying how to run the integration tests. */
export function engineUrl(variable: 'KEEL_NATS_URL' | 'KEEL_REDIS_URL'): string {
  const url = process.env[variable];
  if (url === undefined || url === '') {
    throw new Error(
      `${variable} is not set. Integration tests run against real engines: use \`npm test\`, or ` +
        '`node scripts/with-engines.ts vitest run test/integration` to start redis-server and nats-server.',
    );
  }
  return url;
}
