/**
 * Runs built-in ML steps in-process, the way the engine calls `run`: params with their defaults,
 * file outputs written to a temp folder (so they can be wired into file inputs), metrics and logs
 * collected, and a fake model registry.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Value } from "@sinclair/typebox/value";
import { readCsv, type AnyStep, type Table } from "sluice";

/** A registry kept in memory, with the same semantics steps rely on. */
export interface FakeRegistry {
  readonly versions: Array<{ name: string; version: number; digest: string; metrics: Record<string, number>; stage: string; signature: unknown; tags: Record<string, string> }>;
  readonly deployments: Map<string, unknown[]>;
  client(inputs: Record<string, unknown>): any;
}

/** A fresh in-memory registry. */
export function fakeRegistry(): FakeRegistry {
  const versions: FakeRegistry["versions"] = [];
  const deployments = new Map<string, unknown[]>();
  return {
    versions,
    deployments,
    client: (inputs) => ({
      async register(m: { name: string; input: string; metrics: Record<string, number>; signature?: unknown; tags?: Record<string, string> }) {
        const bytes = fs.readFileSync(inputs[m.input] as string);
        const digest = `sha256:${(await import("node:crypto")).createHash("sha256").update(bytes).digest("hex")}`;
        const same = versions.find((v) => v.name === m.name && v.digest === digest);
        if (same) return same;
        const v = { name: m.name, version: versions.filter((x) => x.name === m.name).length + 1, digest, metrics: m.metrics, stage: "candidate", signature: m.signature, tags: m.tags ?? {} };
        versions.push(v);
        return v;
      },
      async champion(name: string) {
        return versions.find((v) => v.name === name && v.stage === "champion");
      },
      async promote(name: string, version: number) {
        for (const v of versions) if (v.name === name && v.stage === "champion") v.stage = "archived";
        const v = versions.find((x) => x.name === name && x.version === version)!;
        v.stage = "champion";
        return v;
      },
      async deploy(endpoint: string, d: unknown[]) {
        deployments.set(endpoint, [...d]);
      },
    }),
  };
}

const tmpRoots: string[] = [];

/** A temp folder removed by `cleanUp`. */
export function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-ml-steps-"));
  tmpRoots.push(d);
  return d;
}

/** Removes every temp folder made so far. */
export function cleanUp(): void {
  for (const d of tmpRoots.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** What a step run gave back: outputs (file outputs as paths), metrics and logs. */
export interface StepResult {
  readonly outputs: Record<string, any>;
  readonly metrics: Array<{ name: string; value: number; step?: number }>;
  readonly logs: Array<{ level: string; msg: string; data?: unknown }>;
}

/** Calls a step's `run` with params (defaults applied) and inputs; byte file outputs are written to disk. */
export async function runStep(step: AnyStep, inputs: Record<string, unknown>, params: Record<string, unknown> = {}, registry?: FakeRegistry): Promise<StepResult> {
  const metrics: StepResult["metrics"] = [];
  const logs: StepResult["logs"] = [];
  const outDir = tempDir();
  const filled = Value.Default(step.params, structuredClone(params)) as Record<string, unknown>;
  if (!Value.Check(step.params, filled)) throw new Error(`bad params for ${step.name}: ${JSON.stringify([...Value.Errors(step.params, filled)].map((e) => `${e.path} ${e.message}`))}`);
  const ctx = {
    params: filled, inputs, outDir, signal: new AbortController().signal, runId: "r-test", stepId: step.name, attempt: 1, env: {}, inputDigests: {},
    models: registry ? registry.client(inputs) : new Proxy({}, { get: () => () => Promise.reject(new Error("no registry")) }),
    log: (level: string, msg: string, data?: unknown) => logs.push({ level, msg, data }),
    metric: (name: string, value: number, s?: number) => metrics.push({ name, value, ...(s === undefined ? {} : { step: s }) }),
  };
  const out = (await step.run(ctx as never)) as Record<string, unknown>;
  const outputs: Record<string, unknown> = {};
  for (const [port, spec] of Object.entries(step.outputs as Record<string, { kind: string }>)) {
    const v = out[port];
    if (spec.kind === "file" && v instanceof Uint8Array) {
      const p = path.join(outDir, `${port}.onnx`);
      fs.writeFileSync(p, v);
      outputs[port] = p;
    } else if (spec.kind === "json") {
      outputs[port] = JSON.parse(JSON.stringify(v));
    } else {
      outputs[port] = v;
    }
  }
  return { outputs, metrics, logs };
}

/** Path of a dataset of data/ml. */
export function dataPath(file: string): string {
  return path.join(path.dirname(new URL(import.meta.url).pathname), "../../../../data/ml", file);
}

/** A dataset of data/ml as a table. */
export function readData(file: string): Promise<Table> {
  return readCsv(dataPath(file));
}
