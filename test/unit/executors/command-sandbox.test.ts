import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cleanDeadSandboxes, makeSandboxDir } from "../../../src/executors/command-sandbox.ts";

describe("command sandbox folders", () => {
  it("are made enterable but not listable by others, and those of dead processes are removed while live ones stay", () => {
    const mine = makeSandboxDir("live-step-");
    const base = path.dirname(mine);
    expect(fs.statSync(base).mode & 0o777).toBe(0o711);
    // A pid that is certainly gone: a child that has already exited.
    const deadPid = spawnSync(process.execPath, ["-e", "0"]).pid!;
    const dead = path.join(base, `${deadPid}-killed-step-abc`);
    fs.mkdirSync(path.join(dead, "out"), { recursive: true });
    fs.writeFileSync(path.join(dead, "out", "half-written"), "x");
    try {
      expect(cleanDeadSandboxes()).toBeGreaterThanOrEqual(1);
      expect(fs.existsSync(dead)).toBe(false);
      expect(fs.existsSync(mine)).toBe(true);
    } finally {
      fs.rmSync(mine, { recursive: true, force: true });
      fs.rmSync(dead, { recursive: true, force: true });
    }
  });
});
