import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Emitter } from './emitter.ts';

interface Events {
  done: { n: number };
  error: { readonly error: unknown };
}

describe('Emitter', () => {
  it('calls listeners in order and stops after unsubscribe; the same function twice is two subscriptions', () => {
    const emitter = new Emitter<Events>();
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
    const emitter = new Emitter<Events>();
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

  it('turns an error nobody listens to into a process warning, never a throw', async () => {
    const emitter = new Emitter<Events>();
    const warned = once(process, 'warning');
    expect(() => emitter.emit('error', { error: new Error('lost connection') })).not.toThrow();
    const [warning] = await warned;
    expect((warning as Error).message).toBe('lost connection');
  });

  it('rejects a listener that is not a function', () => {
    expect(() => new Emitter<Events>().on('done', 'x' as never)).toThrow(
      'listener for done must be a function; received "x"',
    );
  });
});
