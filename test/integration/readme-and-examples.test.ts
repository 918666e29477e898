import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ERROR_CODES } from "sluice";
import { createTestWorkspace, sluicePackageRoot, type TestWorkspace } from "sluice/testing";
import { runCli, runJson } from "../helpers/cli.ts";

const ROOT = sluicePackageRoot();
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

let ws: TestWorkspace | undefined;
afterEach(() => ws?.remove());

/** The fenced ts block of README that starts with `// <file>`. */
function readmeBlock(file: string): string {
  const m = new RegExp("```ts\\n// " + file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&") + "\\n([\\s\\S]*?)```").exec(README);
  if (!m) throw new Error(`README has no ts block for ${file}`);
  return `// ${file}\n${m[1]}`;
}

function copyInto(target: TestWorkspace, rel: string): void {
  fs.cpSync(path.join(ROOT, rel), target.path(rel), { recursive: true });
}

describe("README", () => {
  it("lists exactly the error codes of the catalogue, with their exit codes", () => {
    const rows = [...README.matchAll(/^\| `(SLUICE_[A-Z_]+)` \| (\d+) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(ERROR_CODES).map(([code, e]) => [code, e.exit])));
  });

  it("gives exactly the two set-up commands and the main job", () => {
    const setup = /## Set-up[\s\S]*?```sh\n([\s\S]*?)```/.exec(README)![1]!.trim().split("\n");
    expect(setup).toEqual(["npm ci", "npm test"]);
    expect(README).toContain("npm run pipeline -- wordcount");
  });

  it("runs the pipeline-writing example exactly as written", async () => {
    ws = createTestWorkspace({ "steps/shout.ts": readmeBlock("steps/shout.ts"), "pipelines/hello.ts": readmeBlock("pipelines/hello.ts"), "data/hello.txt": "hello" });
    const r = await runJson<{ runId: string; status: string }>(["run", "hello", "--param", "marks=1"], { cwd: ws.root });
    expect(r.code, r.stderr).toBe(0);
    const out = await runCli(["show", r.json.runId, "--output", "shout.loud"], { cwd: ws.root });
    expect(out.stdout).toBe('"HELLO!"');
  });
});

describe("the wordcount example", () => {
  it("runs the tour: all steps, then all cached, then only the steps after a changed param", async () => {
    ws = createTestWorkspace();
    for (const rel of ["pipelines/wordcount.ts", "steps/text", "data/corpus"]) copyInto(ws, rel);
    const byId = (x: { steps: Array<{ id: string; status: string }> }) => Object.fromEntries(x.steps.map((s) => [s.id, s.status]));
    const first = await runJson<{ runId: string; steps: Array<{ id: string; status: string }> }>(["run", "wordcount"], { cwd: ws.root });
    expect(first.code, first.stderr).toBe(0);
    expect(Object.values(byId(first.json))).toEqual(["succeeded", "succeeded", "succeeded", "succeeded"]);
    const second = await runJson<{ steps: Array<{ id: string; status: string }> }>(["run", "wordcount"], { cwd: ws.root });
    expect(Object.values(byId(second.json))).toEqual(["cached", "cached", "cached", "cached"]);
    const top5 = await runJson<{ runId: string; steps: Array<{ id: string; status: string }> }>(["run", "wordcount", "--param", "top=5"], { cwd: ws.root });
    expect(byId(top5.json)).toEqual({ tokenize: "cached", count: "cached", "top-words": "succeeded", report: "succeeded" });
    const report = await runCli(["show", "latest", "--output", "report.report"], { cwd: ws.root });
    expect(report.stdout).toMatch(/^# Word frequencies\n\n\d+ words, \d+ distinct\./);
    expect(report.stdout.match(/^\| \d+ \|/gm)).toHaveLength(5);
    const explain = await runCli(["explain", "wordcount", "--param", "minLength=3"], { cwd: ws.root });
    expect(explain.stdout).toContain("param minLength: 2 → 3");
  });
});
