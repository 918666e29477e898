import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { deferredLogger } from "../../../src/log.ts";

/** A destination that keeps the JSON lines written to it. */
function sink(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, lines: () => text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("deferredLogger", () => {
  it("writes enabled lines through pino with every child's bindings, and drops the others", async () => {
    const out = sink();
    const log = deferredLogger({ level: "info", destination: out.stream });
    const child = log.child({ component: "workspace" }).child({ runId: "r1" });
    child.debug("dropped");
    child.info({ step: "s1" }, "ran");
    log.warn("top");
    await new Promise((r) => setImmediate(r));
    expect(out.lines().map((l) => [l.msg, l.component, l.runId, l.step, l.app])).toEqual([
      ["ran", "workspace", "r1", "s1", "sluice"],
      ["top", undefined, undefined, undefined, "sluice"],
    ]);
    expect([child.isLevelEnabled("debug"), child.isLevelEnabled("info"), child.isLevelEnabled("error")]).toEqual([false, true, true]);
  });

  it("at level silent writes nothing and enables no level", async () => {
    const out = sink();
    const log = deferredLogger({ level: "silent", destination: out.stream });
    log.error("nothing");
    log.child({ a: 1 }).fatal("nothing either");
    await new Promise((r) => setImmediate(r));
    expect(out.lines()).toEqual([]);
    expect(log.isLevelEnabled("fatal")).toBe(false);
  });

  it("redacts secrets as createLogger does", async () => {
    const out = sink();
    deferredLogger({ level: "info", destination: out.stream }).info({ token: "s3cret", nested: { password: "p" } }, "login");
    await new Promise((r) => setImmediate(r));
    expect(out.lines()[0]).toMatchObject({ token: "[redacted]", nested: { password: "[redacted]" } });
  });
});
