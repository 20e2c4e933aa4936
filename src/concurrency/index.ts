/** The concurrency floor: structured ways to run many tasks at once. */
export { type GatherOptions, type GatherResults, gather, type Task } from './gather.ts';
