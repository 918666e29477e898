// Piscina worker entry. Loader flags in a worker's execArgv do not reach dynamic imports on
// Node 20, so the worker registers tsx itself, then loads the TypeScript worker module: step
// modules written in TypeScript load with no build step.
import { register } from "tsx/esm/api";

register();
const worker = await import("./thread-worker.ts");

export default worker.default;
