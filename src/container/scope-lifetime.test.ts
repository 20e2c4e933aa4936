import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Container } from './container.ts';
import { token } from './token.ts';

// A garbage collector to call from the test, without a command-line flag.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** How many of `refs` the collector has reclaimed after a few full collections. */
async function collected(refs: WeakRef<object>[]): Promise<number> {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return refs.filter((ref) => ref.deref() === undefined).length;
}

const N = 200;

describe('a scope dropped without being disposed', () => {
  it.each([
    ['a synchronous factory', 'sync'],
    ['an asynchronous factory', 'async'],
    ['a failing asynchronous factory', 'failing'],
  ] as const)('is collected once it holds nothing to dispose (%s)', async (_label, kind) => {
    const Request = token<{ id: number }>('request');
    let n = 0;
    const root = new Container().register(Request, {
      lifetime: 'scoped',
      factory:
        kind === 'sync'
          ? () => ({ id: ++n })
          : async () => {
              if (kind === 'failing') throw new Error('no');
              return { id: ++n };
            },
    });
    const refs: WeakRef<object>[] = [];
    for (let i = 0; i < N; i++) {
      const scope = root.createScope();
      refs.push(new WeakRef(scope));
      if (kind === 'sync') scope.resolve(Request);
      else await scope.resolveAsync(Request).catch(() => {});
    }
    expect(await collected(refs)).toBeGreaterThanOrEqual(N - 1);
    await root.dispose();
  });

  it('is kept (and disposed with its parent) while it holds something to dispose', async () => {
    const Handle = token<{ closed: boolean }>('handle');
    const handles: { closed: boolean }[] = [];
    const root = new Container().register(Handle, {
      lifetime: 'scoped',
      factory: async () => {
        const handle = { closed: false };
        handles.push(handle);
        return handle;
      },
      dispose: (handle) => {
        handle.closed = true;
      },
    });
    const refs: WeakRef<object>[] = [];
    for (let i = 0; i < 20; i++) {
      const scope = root.createScope();
      refs.push(new WeakRef(scope));
      await scope.resolveAsync(Handle);
    }
    expect(await collected(refs)).toBe(0);
    await root.dispose();
    expect(handles.every((h) => h.closed)).toBe(true);
  });
});

describe('a scope whose own child scope was disposed', () => {
  it('is collected once dropped, because the disposed child no longer makes its parent hold it', async () => {
    const Unit = token<{ closed: boolean }>('unit');
    const root = new Container().register(Unit, {
      lifetime: 'scoped',
      factory: () => ({ closed: false }),
      dispose: (unit) => {
        unit.closed = true;
      },
    });
    const refs: WeakRef<object>[] = [];
    const units: { closed: boolean }[] = [];
    for (let i = 0; i < N; i++) {
      const request = root.createScope();
      const unit = request.createScope();
      units.push(unit.resolve(Unit));
      await unit.dispose();
      refs.push(new WeakRef(request));
    }
    expect(units.every((u) => u.closed)).toBe(true);
    expect(await collected(refs)).toBeGreaterThanOrEqual(N - 1);
    await root.dispose();
  });
});
