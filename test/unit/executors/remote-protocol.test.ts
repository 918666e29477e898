import { describe, expect, it } from "vitest";
import { defineStep, port } from "sluice";
import { connectionFrom, fromFailedReason, toFailedReason } from "../../../src/executors/remote/protocol.ts";
import { thrown } from "../../helpers/errors.ts";

const noop = { outputs: { out: port.json<number>() }, run: () => ({ out: 1 }) };

describe("declaring remote steps", () => {
  it("puts executor 'remote' on queue default and { queue } on that queue", () => {
    const a = defineStep({ name: "a", executor: "remote", ...noop });
    const b = defineStep({ name: "b", executor: { queue: "gpu" }, ...noop });
    const c = defineStep({ name: "c", ...noop });
    expect([a.executor, a.queue]).toEqual(["remote", "default"]);
    expect([b.executor, b.queue]).toEqual(["remote", "gpu"]);
    expect(c.executor).toBe("inline");
  });

  it("rejects a queue name BullMQ or a dashboard could not show as it is", () => {
    const e = thrown(() => defineStep({ name: "bad", executor: { queue: "gpu:1" }, ...noop }));
    expect(e.code).toBe("SLUICE_DEFINITION_INVALID");
    expect(e.message).toMatch(/step "bad": executor queue "gpu:1" is not a queue name; use letters, digits, "-", "_", "." \(no ":"\)/);
  });
});

describe("the remote job protocol", () => {
  it("reads host, port, credentials, database and TLS from a redis URL", () => {
    expect(connectionFrom("redis://127.0.0.1:6380/2")).toEqual({ host: "127.0.0.1", port: 6380, db: 2 });
    expect(connectionFrom("rediss://u:p%40ss@cache.example:6379")).toEqual({ host: "cache.example", port: 6379, username: "u", password: "p@ss", db: 0, tls: {} });
  });

  it("refuses a URL that is not redis:// or rediss://, naming the variable", () => {
    const e = thrown(() => connectionFrom("http://127.0.0.1:6379"));
    expect(e.code).toBe("SLUICE_CONFIG_INVALID");
    expect(e.message).toMatch(/^SLUICE_REDIS_URL "http:\/\/127\.0\.0\.1:6379": expected redis:\/\/ or rediss:\/\/, got http:/);
  });

  it("round-trips a step's error code through a job's failed reason", () => {
    const reason = toFailedReason({ code: "SLUICE_WORKER_CODE_MISMATCH", message: "step \"x\": refused" });
    expect(reason).toBe("SLUICE_WORKER_CODE_MISMATCH: step \"x\": refused");
    const back = fromFailedReason(reason, { stepId: "x", queue: "default" });
    expect([back.code, back.message]).toEqual(["SLUICE_WORKER_CODE_MISMATCH", "step \"x\": refused"]);
  });

  it("turns BullMQ's own reasons into errors that name the step and queue", () => {
    const stalled = fromFailedReason("job stalled more than allowable limit", { stepId: "train", queue: "gpu" });
    expect(stalled.code).toBe("SLUICE_REMOTE_UNAVAILABLE");
    expect(stalled.message).toMatch(/^step "train": its worker on queue "gpu" died/);
    const other = fromFailedReason("Missing lock for job 7", { stepId: "train", queue: "gpu" });
    expect([other.code, other.message]).toEqual(["SLUICE_STEP_FAILED", "step \"train\" failed on a worker of queue \"gpu\": Missing lock for job 7"]);
  });
});
