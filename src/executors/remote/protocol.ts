import os from "node:os";
import type { ConnectionOptions } from "bullmq";
import type { LogLevel, PortKind } from "../../define/index.ts";
import { deserializeError, isErrorCode, SluiceError, type SerializedError } from "../../errors.ts";
import type { Digest } from "../../util/canonical-json.ts";

/**
 * What a BullMQ job of a remote step carries: where the step is in the workspace, its code
 * fingerprint, params and input digests. Data travels through the shared cache, except small
 * inputs the coordinator still holds (`inline`).
 */
export interface RemoteJobData {
  /** Bumped on an incompatible change; a worker refuses other formats. */
  readonly format: typeof JOB_FORMAT;
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  /** The step's module, workspace-root-relative POSIX path (a worker resolves it in its own checkout). */
  readonly module: string;
  /** The step's `name` (its export is found by name, as a thread worker does). */
  readonly step: string;
  /** The coordinator's code fingerprint of the step module. */
  readonly code: Digest;
  readonly params: Readonly<Record<string, unknown>>;
  readonly inputs: Readonly<Record<string, { readonly kind: PortKind; readonly digest: Digest }>>;
  /**
   * The bytes (base64) of small inputs the coordinator still held in memory, at most
   * RESULT_INLINE_MAX_BYTES each: a worker that runs the step on its event loop reads them from
   * here (after checking their digest) instead of the shared cache. Optional: a worker that
   * ignores it reads every input from the cache, as before.
   */
  readonly inline?: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The coordinator's host and pid, for the worker's log lines. */
  readonly coordinator: string;
}

/** What a finished job returns: its outputs (digests of objects in the shared cache, or small ones inline) and who ran it. */
export interface RemoteJobResult {
  /** Outputs in the shared cache, by digest. */
  readonly outputs: Readonly<Record<string, Digest>>;
  /**
   * Outputs of at most RESULT_INLINE_MAX_BYTES, base64, from a worker without a cache server: the
   * coordinator stores them with the step's cache entry, as it does for a thread step's small
   * outputs, so a quick step costs the worker no write to the shared cache database.
   */
  readonly inline?: Readonly<Record<string, string>>;
  readonly worker: string;
}

/** The largest output a worker returns in the job's result instead of writing it to the shared cache (and the largest input a job carries). */
export const RESULT_INLINE_MAX_BYTES = 4096;

/** One log line or metric point streamed back while a step runs. */
export type RemoteLine =
  | { readonly t: "log"; readonly level: LogLevel; readonly msg: string; readonly data?: Record<string, unknown> }
  | { readonly t: "metric"; readonly name: string; readonly value: number; readonly step?: number };

/** Job progress: the worker's label, and the log lines and metrics since the last report, in order. */
export interface RemoteProgress {
  readonly worker: string;
  readonly lines: readonly RemoteLine[];
}

/** Job data format version. */
export const JOB_FORMAT = 2;

/** Redis pub/sub channel on which coordinators ask workers to abort jobs (message: job id). */
export function cancelChannel(prefix: string, queue: string): string {
  return `${prefix}:${queue}:sluice-cancel`;
}

/** A worker's label in run records and logs: `host:pid`. */
export function workerLabel(): string {
  return `${os.hostname()}:${process.pid}`;
}

/** ioredis options from a `redis://` URL, as BullMQ wants them. */
export function connectionFrom(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SluiceError("SLUICE_CONFIG_INVALID", `SLUICE_REDIS_URL ${JSON.stringify(url)} is not a URL. Fix: set it to redis://host:6379 (or rediss:// for TLS).`, { source: "SLUICE_REDIS_URL", value: url });
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw new SluiceError("SLUICE_CONFIG_INVALID", `SLUICE_REDIS_URL ${JSON.stringify(url)}: expected redis:// or rediss://, got ${u.protocol}. Fix the URL.`, { source: "SLUICE_REDIS_URL", value: url });
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isInteger(db) ? { db } : {}),
    ...(u.protocol === "rediss:" ? { tls: {} } : {}),
  };
}

/** The failed reason a worker gives BullMQ: `CODE: message`, readable on a dashboard, parsed back by the coordinator. */
export function toFailedReason(err: SerializedError): string {
  return `${err.code}: ${err.message}`;
}

/** Rebuilds the error of a failed job from its reason (BullMQ's own reasons become SLUICE_REMOTE_UNAVAILABLE or SLUICE_STEP_FAILED). */
export function fromFailedReason(reason: string, where: { stepId: string; queue: string }): SluiceError {
  const m = /^(SLUICE_[A-Z_]+): ([\s\S]*)$/.exec(reason);
  if (m && isErrorCode(m[1]!)) return deserializeError({ code: m[1]!, message: m[2]!, details: { step: where.stepId, queue: where.queue } });
  if (/stalled more than allowable limit/.test(reason)) {
    return new SluiceError("SLUICE_REMOTE_UNAVAILABLE", `step "${where.stepId}": its worker on queue "${where.queue}" died (or stopped renewing its lock) too many times; BullMQ gave up: ${reason}. Check the workers' logs and memory.`, { step: where.stepId, queue: where.queue });
  }
  return new SluiceError("SLUICE_STEP_FAILED", `step "${where.stepId}" failed on a worker of queue "${where.queue}": ${reason}`, { step: where.stepId, queue: where.queue });
}
