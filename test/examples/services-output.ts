/** The output examples/services.ts must print on any transport (checked by the memory and NATS runs). */
import { expect } from 'vitest';

/** The nested call with its budget, the abort seen by the handler, and one trace id on every span. */
export function checkServicesExample(stdout: string): void {
  const lines = stdout.trim().split('\n');
  const first = lines.find((l) => l.startsWith('caller: trace')) ?? '';
  const trace = /^caller: trace ([0-9a-f]{32})$/.exec(first)?.[1];
  expect(trace, first).toBeDefined();
  for (const line of [
    `orders.place: trace ${trace}, depth 1`,
    `pricing.quote: trace ${trace}, depth 2`,
    'pricing.quote: at most 1700 ms left: true',
    'caller: placed {"item":"tea","total":9}',
    'pricing.recalculate: ctx.signal aborted (RequestCancelledError), stopping',
    'caller: recalculate gave up (AbortError)',
  ]) {
    expect(lines).toContain(line);
  }
  // A CLIENT and a SERVER span for each call, the failed one marked, all in the checkout's trace.
  const spans = lines.filter((l) => l.startsWith('span ')).sort();
  expect(spans).toEqual(
    [
      'span CLIENT orders/place',
      'span CLIENT pricing/quote',
      'span CLIENT pricing/recalculate',
      'span INTERNAL checkout',
      'span SERVER orders/place',
      'span SERVER pricing/quote',
      'span SERVER pricing/recalculate',
    ].map((span) => `${span}: trace ${trace}${span.endsWith('recalculate') ? ' (error)' : ''}`),
  );
  // The nested call runs inside the outer one, and the result comes back after both were served.
  const at = (line: string) => lines.indexOf(line);
  expect(at(`orders.place: trace ${trace}, depth 1`)).toBeLessThan(
    at(`pricing.quote: trace ${trace}, depth 2`),
  );
  expect(at(`span SERVER pricing/quote: trace ${trace}`)).toBeLessThan(
    at(`span SERVER orders/place: trace ${trace}`),
  );
  expect(at(`span SERVER orders/place: trace ${trace}`)).toBeLessThan(
    at('caller: placed {"item":"tea","total":9}'),
  );
}
