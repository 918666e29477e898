import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { handOver, makeSandboxDir, sandboxIds } from "../../src/executors/command-sandbox.ts";
import { loadConfig, Workspace } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";

const STEPS = `import { defineCommandStep, port, Type } from "sluice";

export const pyTrain = defineCommandStep({
  name: "py-train",
  inputs: { script: port.file(), data: port.file() },
  outputs: { model: port.file(), metrics: port.json<{ rows: number; scale: number }>() },
  params: Type.Object({ scale: Type.Number({ default: 2 }) }),
  command: ["python3", "{inputs.script}", "--data", "{inputs.data}", "--scale", "{params.scale}", "--model", "{outputs.model}", "--metrics", "{outputs.metrics}"],
});

export const nodeReport = defineCommandStep({
  name: "node-report",
  inputs: { script: port.file(), model: port.file() },
  outputs: { report: port.dir() },
  env: ["REPORT_TITLE"],
  command: ["node", "{inputs.script}", "{inputs.model}", "{outputs.report}"],
});

export const failing = defineCommandStep({
  name: "failing",
  inputs: { script: port.file() },
  outputs: { out: port.file() },
  command: ["python3", "{inputs.script}"],
});

export const lazy = defineCommandStep({
  name: "lazy",
  outputs: { out: port.file() },
  command: ["node", "-e", "console.log('did nothing')"],
});

const PROBE = [
  "const fs = require('fs'), path = require('path');",
  "const [targets, model, out] = process.argv.slice(1);",
  "const report = { uid: String(process.getuid()) };",
  "for (const t of JSON.parse(targets)) { try { fs.writeFileSync(path.join(t, 'intruder'), 'x'); report[t] = 'written'; } catch (e) { report[t] = e.code; } }",
  "try { fs.chmodSync(model, 0o644); fs.writeFileSync(model, 'x'); report.input = 'written'; } catch (e) { report.input = e.code; }",
  "fs.writeFileSync(out, JSON.stringify(report));",
].join("\\n");

export const probe = defineCommandStep({
  name: "probe",
  inputs: { model: port.file() },
  outputs: { report: port.json<Record<string, string>>() },
  params: Type.Object({ targets: Type.Array(Type.String()) }),
  command: ["node", "-e", PROBE, "{params.targets}", "{inputs.model}", "{outputs.report}"],
});

export const vandal = defineCommandStep({
  name: "vandal",
  inputs: { model: port.file() },
  outputs: { out: port.json<number>() },
  command: ["node", "-e", "const fs=require('fs');fs.chmodSync(process.argv[1],0o644);fs.writeFileSync(process.argv[1],'x');fs.writeFileSync(process.argv[2],'1')", "{inputs.model}", "{outputs.out}"],
});
`;

const PIPELINES = `import { definePipeline, Type } from "sluice";
import * as s from "../steps/cmd.ts";

export const commands = definePipeline({ name: "commands", build(p) {
  const t = p.step("train", s.pyTrain, { inputs: { script: p.file("train-py", "scripts/train.py"), data: p.file("data", "data/rows.csv") }, params: { scale: 3 } });
  p.step("report", s.nodeReport, { inputs: { script: p.file("report-js", "scripts/report.cjs"), model: t.outputs.model } });
} });

export const failingCmd = definePipeline({ name: "failing", build(p) {
  p.step("fail", s.failing, { inputs: { script: p.file("fail-py", "scripts/fail.py") } });
} });

export const probeCmd = definePipeline({ name: "probe", params: Type.Object({ targets: Type.Array(Type.String()) }), build(p, params) {
  const t = p.step("train", s.pyTrain, { inputs: { script: p.file("train-py", "scripts/train.py"), data: p.file("data", "data/rows.csv") }, params: { scale: 3 } });
  p.step("probe", s.probe, { inputs: { model: t.outputs.model }, params: { targets: params.targets } });
} });

export const lazyCmd = definePipeline({ name: "lazy", build(p) { p.step("lazy", s.lazy); } });

export const vandalCmd = definePipeline({ name: "vandal", build(p) {
  const t = p.step("train", s.pyTrain, { inputs: { script: p.file("train-py", "scripts/train.py"), data: p.file("data", "data/rows.csv") }, params: { scale: 3 } });
  p.step("vandal", s.vandal, { inputs: { model: t.outputs.model } });
} });
`;

const TRAIN_PY = `import argparse, json, sys
ap = argparse.ArgumentParser()
for a in ["--data", "--scale", "--model", "--metrics"]:
    ap.add_argument(a)
args = ap.parse_args()
rows = [l for l in open(args.data).read().splitlines() if l.strip()]
print("training on", len(rows), "rows")
print("a warning on stderr", file=sys.stderr)
with open(args.model, "w") as f:
    f.write("model " + str(len(rows) * float(args.scale)) + "\\n" + "#" * 20000)
with open(args.metrics, "w") as f:
    json.dump({"rows": len(rows), "scale": float(args.scale)}, f)
`;

const REPORT_CJS = `const fs = require("fs");
const path = require("path");
const [model, out] = process.argv.slice(2);
fs.writeFileSync(path.join(out, "report.txt"), (process.env.REPORT_TITLE || "untitled") + ": " + fs.readFileSync(model, "utf8"));
fs.mkdirSync(path.join(out, "parts"));
fs.writeFileSync(path.join(out, "parts", "env.txt"), String(process.env.SECRET_NOT_ALLOWED));
`;

const FAIL_PY = `import sys
for i in range(40):
    print("noise line", i, file=sys.stderr)
print("Traceback: ValueError: the learning rate must be positive", file=sys.stderr)
sys.exit(3)
`;

let tw: TestWorkspace;
let ws: Workspace | undefined;
afterEach(async () => {
  await ws?.close();
  tw.remove();
});
async function open(env: Record<string, string> = {}): Promise<Workspace> {
  tw = createTestWorkspace({ "steps/cmd.ts": STEPS, "pipelines/cmd.ts": PIPELINES, "scripts/train.py": TRAIN_PY, "scripts/report.cjs": REPORT_CJS, "scripts/fail.py": FAIL_PY, "data/rows.csv": "a\nb\nc\n" });
  ws = await Workspace.open(await loadConfig({ root: tw.root, env: { PATH: process.env.PATH!, ...env } }));
  return ws;
}

describe("command steps on the process executor", () => {
  it("runs a python3 and a node script that write files, streams their output to the log, and caches them", async () => {
    const w = await open({ REPORT_TITLE: "Quarterly", SECRET_NOT_ALLOWED: "leak" });
    const r = await w.run(await w.load("commands"));
    expect(r.status, JSON.stringify(r.error)).toBe("succeeded");
    const train = r.outputs.get("train")!;
    expect(w.cas.getBytes(train.model as never)!.toString()).toMatch(/^model 9\.0\n#{20000}$/);
    expect(JSON.parse(w.cas.getBytes(train.metrics as never)!.toString())).toEqual({ rows: 3, scale: 3 });
    const manifest = w.cas.readDirManifest(r.outputs.get("report")!.report as never)!;
    expect(manifest.entries.map((e) => e.path)).toEqual(["parts/env.txt", "report.txt"]);
    const files = Object.fromEntries(manifest.entries.map((e) => [e.path, w.cas.getBytes(e.digest)!.toString()]));
    expect(files["report.txt"]!.startsWith("Quarterly: model 9.0\n#")).toBe(true);
    expect(files["parts/env.txt"]).toBe("undefined");
    const logs = await w.runs.listLogs(r.runId, "train");
    // stdout and stderr are separate pipes: their relative order is the child's buffering, not ours.
    expect(logs.map((l) => [l.level, l.msg]).sort()).toEqual([["info", "training on 3 rows"], ["warn", "a warning on stderr"]]);
    const again = await w.run(await w.load("commands"));
    expect(again.steps.map((s) => s.status)).toEqual(["cached", "cached"]);
  });

  it("fails a non-zero exit with the exit code and the tail of stderr in the error", async () => {
    const w = await open();
    const r = await w.run(await w.load("failing"));
    expect(r.status).toBe("failed");
    expect(r.error?.message).toContain("command exited with code 3: python3");
    expect(r.error?.message).toContain("Traceback: ValueError: the learning rate must be positive");
    expect(r.error?.message).not.toContain("noise line 0\n");
  });

  it("fails clearly when a declared output was not written", async () => {
    const w = await open();
    const r = await w.run(await w.load("lazy"));
    expect(r.status).toBe("failed");
    expect(r.error?.code).toBe("SLUICE_STEP_OUTPUT_INVALID");
    expect(r.error?.message).toMatch(/output "out": the command exited 0 but did not write .*out\/out\. Write the declared output at \{outputs\.out\}/);
  });

  it("without isolation, fails a command that writes into its cached input, and the cache heals on the next run", async () => {
    const w = await open({ SLUICE_COMMAND_ISOLATION: "none" });
    const r = await w.run(await w.load("vandal"));
    expect(r.status).toBe("failed");
    expect(r.error?.message).toContain('input "model": the command changed its read-only input');
    const first = r.outputs.get("train")!.model!;
    expect(w.cas.check(first as never)).toBe("missing");
    const again = await w.run(await w.load("commands"));
    expect(again.steps.find((s) => s.id === "train")?.status).toBe("succeeded");
    expect(w.cas.getBytes(first as never)!.toString().startsWith("model 9.0\n")).toBe(true);
  });

  it("as root, runs each command as its own unprivileged user: it cannot write into the cache, the workspace or another step's folder", async () => {
    if (process.getuid?.() !== 0) {
      // Switching user ids is a root privilege: asking for it otherwise is a clear configuration error.
      tw = createTestWorkspace({ "pipelines/x.ts": "" });
      await expect(loadConfig({ root: tw.root, env: { SLUICE_COMMAND_ISOLATION: "uid" } })).rejects.toThrow(/SLUICE_COMMAND_ISOLATION: commandIsolation "uid" needs root/);
      return;
    }
    const w = await open();
    expect(w.config.commandIsolation).toBe("uid");
    // Another attempt's folder, exactly as the executor hands one over to its own sandbox user.
    const other = makeSandboxDir("other-step-");
    for (const d of ["in", "out", "tmp"]) fs.mkdirSync(path.join(other, d));
    const otherIds = sandboxIds();
    handOver(other, otherIds);
    const targets = [path.join(w.config.cacheDir, "objects"), w.config.cacheDir, path.join(w.config.cacheDir, "tmp"), tw.root, other, path.join(other, "out")];
    try {
      const r = await w.run(await w.load("probe"), { params: { targets } });
      expect(r.status, JSON.stringify(r.error)).toBe("succeeded");
      const report = JSON.parse(w.cas.getBytes(r.outputs.get("probe")!.report as never)!.toString()) as Record<string, string>;
      expect(report).toEqual({ ...Object.fromEntries(targets.map((t) => [t, "EACCES"])), input: "EPERM", uid: expect.stringMatching(/^\d+$/) });
      expect(Number(report.uid)).not.toBe(0);
      expect(Number(report.uid)).not.toBe(otherIds.uid);
      // The input object is untouched and nothing was created where the command tried to write.
      expect(w.cas.check(r.outputs.get("train")!.model as never)).toBe("ok");
      for (const t of targets) expect(fs.existsSync(path.join(t, "intruder"))).toBe(false);
      // Outputs enter the cache owned by the invoker, not by the sandbox user.
      expect(fs.statSync(w.cas.filePath(r.outputs.get("train")!.model as never)!).uid).toBe(0);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it("rejects a command that refers to an undeclared input", async () => {
    await open();
    const { defineCommandStep, port } = await import("sluice");
    expect(() => defineCommandStep({ name: "x", inputs: { a: port.file() }, command: ["cat", "{inputs.b}"] })).toThrow(/refers to \{inputs\.b\}, which is not declared \(inputs: a\)/);
  });
});
