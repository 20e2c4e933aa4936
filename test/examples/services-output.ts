/** The output examples/services.ts must print on any transport (checked by the memory and NATS runs). */
import { expect } from 'vitest';

/** The nested call with its budget, the abort seen by the handler, and one trace id on every served call. */
export function checkServicesExample(stdout: string): void {
  const lines = stdout.trim().split('\n');
  const trace = /^caller: trace ([0-9a-f]{16})$/.exec(
    lines.find((l) => l.startsWith('caller: trace')) ?? '',
  )?.[1];
  expect(trace).toBeDefined();
  for (const line of [
    'call orders.place',
    `serve orders.place: trace ${trace}, depth 1`,
    'call pricing.quote',
    `serve pricing.quote: trace ${trace}, depth 2`,
    'pricing.quote: at most 1700 ms left: true',
    'caller: placed {"item":"tea","total":9}',
    'call pricing.recalculate',
    `serve pricing.recalculate: trace ${trace}, depth 1`,
    'pricing.recalculate: ctx.signal aborted (RequestCancelledError), stopping',
    'caller: recalculate gave up (AbortError)',
  ]) {
    expect(lines).toContain(line);
  }
  // The nested call happens inside the outer one, and the result comes back after both were served.
  const at = (line: string) => lines.indexOf(line);
  expect(at(`serve orders.place: trace ${trace}, depth 1`)).toBeLessThan(at('call pricing.quote'));
  expect(at('call pricing.quote')).toBeLessThan(at(`serve pricing.quote: trace ${trace}, depth 2`));
  expect(at(`serve pricing.quote: trace ${trace}, depth 2`)).toBeLessThan(
    at('caller: placed {"item":"tea","total":9}'),
  );
  // Nothing else is served, so no other trace id and no other depth shows up.
  expect(lines.filter((l) => l.startsWith('serve '))).toHaveLength(3);
}
