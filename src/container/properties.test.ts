import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CircularDependencyError, Container, type Lifetime, type Token, token } from './index.ts';

/** A random dependency graph: node i may depend on any node (acyclic when only on nodes with a lower index). */
const graph = (acyclic: boolean) =>
  fc.integer({ min: 1, max: 8 }).chain((n) =>
    fc
      .record({
        lifetimes: fc.array(fc.constantFrom<Lifetime>('singleton', 'transient'), {
          minLength: n,
          maxLength: n,
        }),
        deps: fc.array(fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { maxLength: 3 }), {
          minLength: n,
          maxLength: n,
        }),
        asks: fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: 10 }),
      })
      .map(({ lifetimes, deps, asks }) => ({
        lifetimes,
        deps: acyclic ? deps.map((d, i) => d.filter((j) => j < i)) : deps,
        asks,
      })),
  );

interface Node {
  readonly id: number;
  readonly serial: number;
  readonly deps: readonly Node[];
}

function build(lifetimes: readonly Lifetime[], deps: readonly (readonly number[])[]) {
  const tokens: Token<Node>[] = lifetimes.map((_, i) => token<Node>(`n${i}`));
  const created: Node[] = [];
  const disposed: Node[] = [];
  let serial = 0;
  const container = new Container();
  lifetimes.forEach((lifetime, i) => {
    container.register(tokens[i] as Token<Node>, {
      lifetime,
      factory: (r) => {
        const node = {
          id: i,
          serial: 0,
          deps: (deps[i] ?? []).map((j) => r.resolve(tokens[j] as Token<Node>)),
        };
        (node as { serial: number }).serial = ++serial;
        created.push(node);
        return node;
      },
      dispose: (node) => {
        disposed.push(node);
      },
    });
  });
  return { container, tokens, created, disposed };
}

describe('container properties', () => {
  it('acyclic graphs: singletons built once, dependencies built first, disposal in exact reverse order', async () => {
    await fc.assert(
      fc.asyncProperty(graph(true), async ({ lifetimes, deps, asks }) => {
        const { container, tokens, created, disposed } = build(lifetimes, deps);
        for (const i of asks) {
          const node = container.resolve(tokens[i] as Token<Node>);
          expect(node.id).toBe(i);
          if (lifetimes[i] === 'singleton') expect(container.resolve(tokens[i] as Token<Node>)).toBe(node);
        }
        const singletons = created.filter((n) => lifetimes[n.id] === 'singleton');
        expect(new Set(singletons.map((n) => n.id)).size).toBe(singletons.length);
        for (const node of created) for (const dep of node.deps) expect(dep.serial).toBeLessThan(node.serial);
        await container.dispose();
        expect(disposed).toEqual([...created].reverse());
      }),
      { numRuns: 200 },
    );
  });

  it('acyclic graphs of async providers under concurrent resolution: one build per singleton, dependents disposed first', async () => {
    await fc.assert(
      fc.asyncProperty(graph(true), async ({ lifetimes, deps, asks }) => {
        const tokens: Token<Node>[] = lifetimes.map((_, i) => token<Node>(`n${i}`));
        const built: number[] = [];
        const disposed: Node[] = [];
        let serial = 0;
        const container = new Container();
        lifetimes.forEach((lifetime, i) => {
          container.register(tokens[i] as Token<Node>, {
            lifetime,
            factory: async (r) => {
              built.push(i);
              const nodes = await Promise.all(
                (deps[i] ?? []).map((j) => r.resolveAsync(tokens[j] as Token<Node>)),
              );
              return { id: i, serial: ++serial, deps: nodes };
            },
            dispose: (node) => {
              disposed.push(node);
            },
          });
        });
        const nodes = await Promise.all(asks.map((i) => container.resolveAsync(tokens[i] as Token<Node>)));
        expect(nodes.map((node) => node.id)).toEqual(asks);
        const singletonBuilds = built.filter((i) => lifetimes[i] === 'singleton');
        expect(new Set(singletonBuilds).size).toBe(singletonBuilds.length);
        await container.dispose();
        expect(disposed).toHaveLength(built.length);
        const position = new Map(disposed.map((node, k) => [node, k]));
        for (const node of disposed) {
          for (const dep of node.deps)
            expect(position.get(dep)).toBeGreaterThan(position.get(node) as number);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('graphs with cycles, resolved asynchronously and concurrently: every resolution settles, failures are cycles', async () => {
    await fc.assert(
      fc.asyncProperty(graph(false), async ({ lifetimes, deps, asks }) => {
        const tokens: Token<Node>[] = lifetimes.map((_, i) => token<Node>(`n${i}`));
        const container = new Container();
        lifetimes.forEach((lifetime, i) => {
          container.register(tokens[i] as Token<Node>, {
            lifetime,
            factory: async (r) => {
              await Promise.resolve();
              const nodes = await Promise.all(
                (deps[i] ?? []).map((j) => r.resolveAsync(tokens[j] as Token<Node>)),
              );
              return { id: i, serial: 0, deps: nodes };
            },
          });
        });
        let timer: NodeJS.Timeout | undefined;
        const outcomes = await Promise.race([
          Promise.allSettled(asks.map((i) => container.resolveAsync(tokens[i] as Token<Node>))),
          new Promise<'hung'>((resolve) => {
            timer = setTimeout(() => resolve('hung'), 2000);
          }),
        ]);
        clearTimeout(timer);
        expect(outcomes).not.toBe('hung');
        for (const outcome of outcomes as PromiseSettledResult<Node>[]) {
          if (outcome.status === 'rejected') {
            expect(outcome.reason).toBeInstanceOf(CircularDependencyError);
            const cycle = (outcome.reason as CircularDependencyError).cycle.map((name) =>
              Number(name.slice(1)),
            );
            for (let k = 0; k + 1 < cycle.length; k++)
              expect(deps[cycle[k] as number]).toContain(cycle[k + 1]);
          }
        }
        await container.dispose();
      }),
      { numRuns: 200 },
    );
  });

  it('graphs with a cycle on the way: the reported cycle is made of real edges and closes on itself', async () => {
    await fc.assert(
      fc.asyncProperty(graph(false), async ({ lifetimes, deps, asks }) => {
        const { container, tokens } = build(lifetimes, deps);
        for (const i of asks) {
          try {
            container.resolve(tokens[i] as Token<Node>);
          } catch (error) {
            expect(error).toBeInstanceOf(CircularDependencyError);
            const cycle = (error as CircularDependencyError).cycle.map((name) => Number(name.slice(1)));
            expect(cycle.length).toBeGreaterThanOrEqual(2);
            expect(cycle[0]).toBe(cycle.at(-1));
            for (let k = 0; k + 1 < cycle.length; k++) {
              expect(deps[cycle[k] as number]).toContain(cycle[k + 1]);
            }
            const path = (error as CircularDependencyError).path.map((name) => Number(name.slice(1)));
            expect(path[0]).toBe(i);
            for (let k = 0; k + 1 < path.length; k++) expect(deps[path[k] as number]).toContain(path[k + 1]);
          }
        }
        await container.dispose();
      }),
      { numRuns: 200 },
    );
  });
});
