import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Emitter } from './emitter.ts';

interface Events {
  done: { n: number };
  error: { readonly error: unknown };
}

describe('Emitter', () => {
  it('calls listeners in order and stops after unsubscribe; the same function twice is two subscriptions', () => {
    const emitter = new Emitter<Events>('queue "test"');
    const seen: string[] = [];
    const a = (e: { n: number }) => seen.push(`a${e.n}`);
    const offA = emitter.on('done', a);
    const offA2 = emitter.on('done', a);
    emitter.on('done', (e) => seen.push(`b${e.n}`));
    emitter.emit('done', { n: 1 });
    offA();
    offA();
    emitter.emit('done', { n: 2 });
    offA2[Symbol.dispose]();
    emitter.emit('done', { n: 3 });
    expect(seen).toEqual(['a1', 'a1', 'b1', 'a2', 'b2', 'b3']);
  });

  it('reports a throwing listener as an error event and still calls the others', () => {
    const emitter = new Emitter<Events>('queue "test"');
    const errors: unknown[] = [];
    const seen: number[] = [];
    emitter.on('error', ({ error }) => errors.push(error));
    emitter.on('done', () => {
      throw new Error('bad listener');
    });
    emitter.on('done', ({ n }) => seen.push(n));
    emitter.emit('done', { n: 7 });
    expect(seen).toEqual([7]);
    expect((errors[0] as Error).message).toBe('bad listener');
  });

  describe('the last resort', () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    /** Captures what goes to stderr and to `keel:jobs.unhandled` while `run` runs, printing nothing. */
    function captured(run: () => void): { stderr: string; reports: unknown[] } {
      const writes: string[] = [];
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        writes.push(String(chunk));
        return true;
      });
      const warnings: unknown[] = [];
      const onWarning = (warning: unknown) => warnings.push(warning);
      process.on('warning', onWarning);
      const reports: unknown[] = [];
      const onReport = (message: unknown) => reports.push(message);
      subscribe('keel:jobs.unhandled', onReport);
      try {
        run();
      } finally {
        unsubscribe('keel:jobs.unhandled', onReport);
        process.off('warning', onWarning);
      }
      expect(warnings, 'no process warning').toEqual([]);
      return { stderr: writes.join(''), reports };
    }

    it("reports an error nobody listens to through reportUnhandled('jobs'), never a throw", () => {
      const emitter = new Emitter<Events>('queue "test"');
      const error = new Error('lost connection');
      const { stderr, reports } = captured(() => {
        expect(() => emitter.emit('error', { error })).not.toThrow();
      });
      expect(stderr).toContain(`[keel jobs] queue "test": error with no 'error' listener:`);
      expect(stderr).toContain('lost connection');
      expect(reports).toEqual([
        { module: 'jobs', context: `queue "test": error with no 'error' listener`, error },
      ]);
    });

    it("reports an 'error' listener that throws the same way", () => {
      const emitter = new Emitter<Events>('queue "test"');
      const thrown = new Error('listener broke');
      emitter.on('error', () => {
        throw thrown;
      });
      const { stderr, reports } = captured(() => emitter.emit('error', { error: new Error('first') }));
      expect(stderr).toContain(`[keel jobs] queue "test": an 'error' listener threw:`);
      expect(reports).toEqual([
        { module: 'jobs', context: `queue "test": an 'error' listener threw`, error: thrown },
      ]);
    });
  });

  it('rejects a listener that is not a function', () => {
    expect(() => new Emitter<Events>('queue "test"').on('done', 'x' as never)).toThrow(
      'listener for done must be a function; received "x"',
    );
  });
});
