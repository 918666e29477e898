#!/usr/bin/env node
// The sluice command: the CLI from the dist/ bundle (built by `npm ci` / `npm run build`).
import { writeCodeCacheOnExit } from "../dist/loader.js";
import { main } from "../dist/cli.js";

const args = process.argv.slice(2);
// The first commands leave the engine's compiled code in dist/.v8/ for the next ones.
writeCodeCacheOnExit(args[0] === "run" ? "run" : "any");
const code = await main(args);
// Let stdout drain before exiting (a pipe may be slower than us).
process.stdout.write("", () => process.exit(code));
