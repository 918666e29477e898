#!/usr/bin/env node
// The sluice command: the CLI from the dist/ bundle (built by `npm ci` / `npm run build`).
import { main } from "../dist/cli.js";

const code = await main(process.argv.slice(2));
// Let stdout drain before exiting (a pipe may be slower than us).
process.stdout.write("", () => process.exit(code));
