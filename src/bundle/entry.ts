/**
 * The entry of dist/sluice.cjs, the one CommonJS bundle behind every dist/ entry (see
 * scripts/build.mjs and loader.js beside this file). The public API and the CLI load with the
 * bundle; sluice/testing and the pool thread's entry load on first use, so a `sluice run` does not
 * evaluate them.
 */
export * as api from "../index.ts";
export { main } from "../cli/main.ts";

declare const require: (id: string) => unknown;
export const testing = (): unknown => require("../testing/index.ts");
export const threadWorker = (): unknown => require("../executors/thread-worker.ts");
