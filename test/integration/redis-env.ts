/** The Redis the integration tests run against, started by scripts/with-engines.ts (`npm test`). */
export function redisUrl(): string {
  const url = process.env.KEEL_REDIS_URL;
  if (url === undefined || url === '') {
    throw new Error(
      'KEEL_REDIS_URL is not set: run the integration tests through `npm test` ' +
        '(node scripts/with-engines.ts vitest run ...), which starts a redis-server and sets it',
    );
  }
  return url;
}
