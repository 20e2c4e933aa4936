/** route() is typed on its contract: the action must exist, and `reply` gets the action's result type. */
import type { FastifyReply } from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';
import { defineContract } from '../broker/contract.ts';
import type { StandardSchemaV1 } from '../standard-schema.ts';
import { type Route, type RouteRequest, route } from './route.ts';

declare const Params: StandardSchemaV1<{ name: string }, { name: string }>;
declare const Created: StandardSchemaV1<{ id: string }, { id: string; at: Date }>;

const notes = defineContract({
  name: 'notes',
  version: 1,
  actions: { create: { params: Params, result: Created } },
});

describe('route', () => {
  it('types reply’s result from the action’s result schema (its output), and returns a Route', () => {
    const made = route(notes, 'create', {
      method: 'POST',
      url: '/notes',
      reply: (result, reply, req) => {
        expectTypeOf(result).toEqualTypeOf<{ id: string; at: Date }>();
        expectTypeOf(reply).toEqualTypeOf<FastifyReply>();
        expectTypeOf(req).toEqualTypeOf<RouteRequest>();
        return result.id;
      },
      input: (req) => req.body,
    });
    expectTypeOf(made).toEqualTypeOf<Route>();
  });

  it('refuses an action the contract does not define, and a method it does not take', () => {
    // @ts-expect-error: 'remove' is not an action of notes
    route(notes, 'remove', { method: 'DELETE', url: '/notes/:id' });
    // @ts-expect-error: HEAD is not a route method
    route(notes, 'create', { method: 'HEAD', url: '/notes' });
    route(notes, 'create', {
      method: 'POST',
      url: '/notes',
      // @ts-expect-error: the result has no field `missing`
      reply: (result) => result.missing,
    });
  });
});
