/** The public face: every name exported from 'keel' is what it says it is. */
import { describe, expect, it } from 'vitest';
import * as keel from '../src/index.ts';

describe('public names', () => {
  it('exports every error class under its own name', () => {
    const errors = Object.entries(keel).filter(
      ([, value]) => typeof value === 'function' && value.prototype instanceof Error,
    );
    expect(errors.length).toBeGreaterThan(30);
    for (const [exported, value] of errors) expect((value as { name: string }).name, exported).toBe(exported);
  });

  it('gives each error class a .name equal to its class name on instances too', () => {
    // A subclass that forgets new.target would print as its parent in logs and stack traces.
    class Probe extends keel.KeelError {
      constructor() {
        super('KEEL_PROBE', 'probe');
      }
    }
    expect(new Probe().name).toBe('Probe');
    expect(new keel.InvalidArgumentError('x').name).toBe('InvalidArgumentError');
  });
});
