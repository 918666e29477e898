import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The sluice package folder (this repository). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** A throwaway workspace laid out for the benches. */
export interface BenchWorkspace {
  readonly root: string;
  /** A fresh cache folder under the workspace (an empty cache). */
  freshCacheDir(label: string): string;
  remove(): void;
}

// Two no-op steps: `first` has no input, `noop` consumes one json. Each returns its param `i`,
// so every instance has its own output and its own cache key.
const NOOP_STEPS = `import { defineStep, port, Type } from "sluice";

export const first = defineStep({
  name: "first",
  outputs: { out: port.json<number>() },
  params: Type.Object({ i: Type.Integer() }),
  run: ({ params }) => ({ out: params.i }),
});

export const noop = defineStep({
  name: "noop",
  inputs: { in: port.json<number>() },
  outputs: { out: port.json<number>() },
  params: Type.Object({ i: Type.Integer() }),
  run: ({ params }) => ({ out: params.i }),
});
`;

// A deterministic CPU-bound loop on the thread pool; cache off so it always runs.
const SPIN_STEP = `import { defineStep, port, Type } from "sluice";

export const spin = defineStep({
  name: "spin",
  executor: "thread",
  cache: false,
  outputs: { out: port.json<number>() },
  params: Type.Object({ iterations: Type.Integer({ minimum: 1 }), seed: Type.Integer() }),
  run: ({ params }) => {
    let x = params.seed >>> 0;
    for (let k = 0; k < params.iterations; k++) x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return { out: x };
  },
});
`;

const N_PARAM = `params: Type.Object({ n: Type.Integer({ default: 10000, minimum: 1, maximum: 1000000 }) })`;

const WIDE = `import { definePipeline, Type } from "sluice";
import { first, noop } from "../steps/noop.ts";

/** One root feeding n independent no-op steps. */
export default definePipeline({
  name: "wide",
  ${N_PARAM},
  build(p, { n }) {
    const root = p.step("root", first, { params: { i: -1 } });
    for (let i = 0; i < n; i++) p.step(\`s\${i}\`, noop, { inputs: { in: root.outputs.out }, params: { i } });
  },
});
`;

const chainPipeline = (name: string, fixedN: number | undefined): string => `import { definePipeline, Type } from "sluice";
import { first, noop } from "../steps/noop.ts";

/** A chain: step i consumes step i-1's json output. */
export default definePipeline({
  name: "${name}",
  ${fixedN === undefined ? N_PARAM : "params: Type.Object({})"},
  build(p${fixedN === undefined ? ", { n }" : ""}) {
    ${fixedN === undefined ? "" : `const n = ${fixedN};\n    `}let prev = p.step("s0", first, { params: { i: 0 } });
    for (let i = 1; i < n; i++) prev = p.step(\`s\${i}\`, noop, { inputs: { in: prev.outputs.out }, params: { i } });
  },
});
`;

const SPIN2 = `import { definePipeline, Type } from "sluice";
import { spin } from "../steps/spin.ts";

/** Two independent CPU-bound thread steps. */
export default definePipeline({
  name: "spin2",
  params: Type.Object({ iterations: Type.Integer({ minimum: 1 }) }),
  build(p, { iterations }) {
    p.step("a", spin, { params: { iterations, seed: 1 } });
    p.step("b", spin, { params: { iterations, seed: 2 } });
  },
});
`;

/**
 * Creates the bench workspace in a temp folder: ESM package.json, node_modules/sluice linked to
 * this repository (imports resolve as for a user), the no-op and spin steps, and the pipelines
 * wide, chain, chain1000 and spin2.
 */
export function createBenchWorkspace(): BenchWorkspace {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-")));
  const write = (rel: string, text: string): void => {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
  };
  write("package.json", JSON.stringify({ name: "sluice-bench", private: true, type: "module" }, null, 2));
  fs.mkdirSync(path.join(root, "node_modules"), { recursive: true });
  fs.symlinkSync(PACKAGE_ROOT, path.join(root, "node_modules", "sluice"), "dir");
  write("steps/noop.ts", NOOP_STEPS);
  write("steps/spin.ts", SPIN_STEP);
  write("pipelines/wide.ts", WIDE);
  write("pipelines/chain.ts", chainPipeline("chain", undefined));
  write("pipelines/chain1000.ts", chainPipeline("chain1000", 1000));
  write("pipelines/spin2.ts", SPIN2);
  let caches = 0;
  return {
    root,
    freshCacheDir: (label) => path.join(root, "caches", `${label}-${caches++}`),
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}
