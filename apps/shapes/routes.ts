/** The HTTP face of the shapes backend: each route maps a method and path onto one contract action. */
import { type Route, route } from 'keel/gateway';
import { renderContract, shapesContract } from './contracts.ts';

const svg = 'image/svg+xml';

/**
 * Each call's try gives up after this long, so a call whose instance was killed or froze is retried on
 * another (reads always; a POST when it carries an Idempotency-Key) within the call's 10 s deadline.
 */
const attemptTimeoutMs = 2000;

export const routes: readonly Route[] = [
  route(shapesContract, 'create', {
    method: 'POST',
    attemptTimeoutMs,
    url: '/api/shapes',
    status: 201,
    // The body is the params as they are: a kind and its dimensions (`{ "kind": "circle", "radius": 2 }`).
    input: (req) => req.body,
    reply: (shape, reply) => {
      reply.header('location', `/api/shapes/${encodeURIComponent(shape.id)}`);
      return shape;
    },
    summary: 'Create a shape',
    description:
      'ShapeFactory builds the shape: a size that is not positive, or a triangle whose sides cannot close, is refused with 400 and an issue naming the field.',
  }),
  route(shapesContract, 'list', {
    method: 'GET',
    attemptTimeoutMs,
    url: '/api/shapes',
    summary: 'List shapes, newest first',
    description:
      'Pages of `limit` shapes (default 20, at most 100); pass `nextCursor` as `cursor` for the next page.',
  }),
  route(shapesContract, 'get', {
    method: 'GET',
    attemptTimeoutMs,
    url: '/api/shapes/:id',
    summary: 'Get a shape',
  }),
  route(shapesContract, 'delete', {
    method: 'DELETE',
    attemptTimeoutMs,
    url: '/api/shapes/:id',
    status: 204,
    reply: () => undefined,
    summary: 'Delete a shape',
  }),
  route(shapesContract, 'svg', {
    method: 'GET',
    attemptTimeoutMs,
    url: '/api/shapes/:id/svg',
    contentType: svg,
    reply: (document, reply) => {
      reply.type(svg);
      return document;
    },
    summary: "A shape's SVG document",
  }),
  route(renderContract, 'start', {
    method: 'POST',
    attemptTimeoutMs,
    url: '/api/renders',
    status: 202,
    input: (req) => req.body,
    reply: (started, reply) => {
      reply.header('location', `/api/renders/${encodeURIComponent(started.jobId)}`);
      return started;
    },
    summary: 'Render shapes onto one SVG sheet, in the background',
    description:
      'Answers at once with the job id; follow it at /api/renders/{id} or through render.progress events.',
  }),
  route(renderContract, 'get', {
    method: 'GET',
    attemptTimeoutMs,
    url: '/api/renders/:id',
    summary: "A render's state and progress",
  }),
  route(renderContract, 'sheet', {
    method: 'GET',
    attemptTimeoutMs,
    url: '/api/renders/:id/svg',
    contentType: svg,
    reply: (document, reply) => {
      reply.type(svg);
      return document;
    },
    summary: "A completed render's sheet (409 until it completes)",
  }),
];
