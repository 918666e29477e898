#!/usr/bin/env node
// The sluice command. Registers tsx so pipelines, steps and sluice itself load as TypeScript
// with no build step, then hands over to the CLI.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
const code = await main(process.argv.slice(2));
// Let stdout drain before exiting (a pipe may be slower than us).
process.stdout.write("", () => process.exit(code));
