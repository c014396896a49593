// Runs on: the thread that owns a storage engine (main or shard worker); the tasks themselves
// run on piscina's job threads. Stateless CPU/IO jobs over immutable files.
export { PiscinaRunner } from './pool.js';
