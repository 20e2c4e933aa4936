import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { type AgentState, startAgentCheck } from './agent-check.ts';

function ask(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.once('end', () => resolve(data));
    socket.once('error', reject);
    socket.setTimeout(2000, () => reject(new Error('agent did not answer within 2 s')));
  });
}

describe('startAgentCheck', () => {
  it('answers drain while starting and draining, ready with a weight while ready, down when stopped', async () => {
    let state: AgentState = 'starting';
    await using agent = await startAgentCheck({ port: 0, state: () => state });
    expect(await ask(agent.port)).toBe('drain\n');
    state = 'ready';
    expect(await ask(agent.port)).toMatch(/^ready up (100|[1-9][0-9]?)%\n$/);
    state = 'draining';
    expect(await ask(agent.port)).toBe('drain\n');
    state = 'stopped';
    expect(await ask(agent.port)).toBe('down\n');
  });

  it('announces a lower weight when the event loop was busy since the previous check', async () => {
    await using agent = await startAgentCheck({ port: 0, state: () => 'ready', minWeightPercent: 5 });
    agent.answer();
    const until = performance.now() + 200;
    while (performance.now() < until) {
      // keep the event loop busy, as a loaded instance would be
    }
    const line = agent.answer();
    const weight = Number(/(\d+)%$/.exec(line)?.[1]);
    expect(weight).toBeLessThan(50);
    expect(weight).toBeGreaterThanOrEqual(5);
  });

  it('answers without a weight when weighted is false', async () => {
    await using agent = await startAgentCheck({ port: 0, state: () => 'ready', weighted: false });
    expect(await ask(agent.port)).toBe('ready up\n');
  });

  it('refuses bad options, naming them', async () => {
    await expect(startAgentCheck({ port: 70000, state: () => 'ready' })).rejects.toThrow(
      /port must be an integer in 0\.\.65535/,
    );
    await expect(startAgentCheck({ port: 0, state: 'ready' as never })).rejects.toThrow(InvalidArgumentError);
    await expect(startAgentCheck({ port: 0, state: () => 'ready', minWeightPercent: 0 })).rejects.toThrow(
      /minWeightPercent/,
    );
    await expect(startAgentCheck({ port: 0, state: () => 'ready', colour: 1 } as never)).rejects.toThrow(
      /colour/,
    );
  });

  it('close() frees the port and is idempotent', async () => {
    const agent = await startAgentCheck({ port: 0, state: () => 'ready' });
    await Promise.all([agent.close(), agent.close()]);
    await expect(ask(agent.port)).rejects.toThrow();
  });
});
