import { Type, type Static, type TObject, type TSchema } from "@sinclair/typebox";
import { SluiceError } from "../errors.ts";
import { callerModuleUrl } from "./caller.ts";
import { PORT_KINDS, type PortKind, type InputValues, type OutputValues, type Ports } from "./ports.ts";

/**
 * Where a step runs. `inline`: the coordinator's event loop; `thread`: the Piscina pool;
 * `process`: a child process (command steps); `remote`: a `sluice worker` on any machine, through
 * a BullMQ queue on Redis.
 */
export type ExecutorKind = "inline" | "thread" | "process" | "remote";

/** Executor kinds this version can run. */
export const EXECUTOR_KINDS: readonly ExecutorKind[] = ["inline", "thread", "process", "remote"];

/** How a declaration names its executor: a kind, or `{ queue }` for a remote step on a named queue. */
export type ExecutorSpec = ExecutorKind | { readonly queue: string };

/** Queue of `executor: "remote"`. */
export const DEFAULT_QUEUE = "default";

/** Queue names: plain BullMQ names (no `:`), so a dashboard shows them as they are. */
const QUEUE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** True for a usable worker queue name: letters, digits, `-`, `_`, `.`, at most 64. */
export function isQueueName(name: unknown): name is string {
  return typeof name === "string" && QUEUE_RE.test(name);
}

/** Retry with exponential backoff and jitter. A step throws `NonRetryableError` to stop retrying. */
export interface RetryPolicy {
  /** Attempts in all, the first included. @default 1 */
  readonly attempts: number;
  /** Delay before the second attempt; doubles each time, with ±50% jitter. @default 1000 */
  readonly baseDelayMs?: number;
  /** Longest delay between attempts. @default 60000 */
  readonly maxDelayMs?: number;
}

/** What one attempt needs of the machine; the scheduler never starts more than the machine has. */
export interface Resources {
  /** Cores. @default 1 for thread and process steps, 0 for inline steps */
  readonly cpu?: number;
  /** Memory in MiB. @default 0 */
  readonly memoryMb?: number;
}

/** How attempts of a step run: shared by step declarations and per-instance overrides. */
export interface RunPolicy {
  readonly retries?: RetryPolicy;
  /** An attempt running longer is stopped (a thread step's worker is terminated) and fails as a timeout. */
  readonly timeoutMs?: number;
  readonly resources?: Resources;
}

// At module level: a closure made per call costs a defineProperty per call under keepNames (tsx).
const pos = (v: unknown): boolean => typeof v === "number" && Number.isFinite(v) && v > 0;

/** Problems with a run policy, as phrases (empty when valid). */
export function runPolicyProblems(p: RunPolicy | undefined): string[] {
  const out: string[] = [];
  if (!p) return out;
  if (p.retries !== undefined) {
    if (!Number.isInteger(p.retries.attempts) || p.retries.attempts < 1) out.push("retries.attempts must be a whole number ≥ 1");
    if (p.retries.baseDelayMs !== undefined && !(p.retries.baseDelayMs >= 0)) out.push("retries.baseDelayMs must be ≥ 0");
    if (p.retries.maxDelayMs !== undefined && !(p.retries.maxDelayMs >= 0)) out.push("retries.maxDelayMs must be ≥ 0");
  }
  if (p.timeoutMs !== undefined && !pos(p.timeoutMs)) out.push("timeoutMs must be a positive number");
  if (p.resources?.cpu !== undefined && !(p.resources.cpu >= 0)) out.push("resources.cpu must be ≥ 0");
  if (p.resources?.memoryMb !== undefined && !(p.resources.memoryMb >= 0)) out.push("resources.memoryMb must be ≥ 0");
  return out;
}

/** `true` (default): cache; `false`: always run; `{ ttlMs }`: entries expire. */
export type CachePolicy = boolean | { readonly ttlMs: number };

/** Log levels a step may use. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** A registered model version, as steps see it. */
export interface ModelVersionInfo {
  readonly name: string;
  readonly version: number;
  /** Digest of the ONNX bytes in the CAS. */
  readonly digest: string;
  readonly metrics: Readonly<Record<string, number>>;
  readonly stage: "candidate" | "champion" | "archived";
  readonly signature: unknown;
  readonly tags: Readonly<Record<string, string>>;
  readonly createdAt: number;
  /** Run, step, pipeline, input digests, params and code digest of the step that registered it. */
  readonly lineage: unknown;
}

/** One deployment of a model version behind an endpoint. */
export interface DeploymentSpec {
  readonly deployment: string;
  readonly model: string;
  readonly version: number;
  /** Share of requests, 0–100; the non-shadow deployments of an endpoint sum to 100. */
  readonly trafficPercent: number;
  /** Receives a copy of requests; its answers are logged, not returned. */
  readonly shadow?: boolean;
}

/**
 * The model registry as a step sees it. Registration records lineage (this run, step, inputs,
 * params and code) by itself. Steps that read mutable registry state (`champion`) should not be
 * cached (`cache: false`), since that state is not part of their key.
 */
export interface ModelsClient {
  /** Registers the ONNX file of input port `input` under `name`; the same bytes again return the same version. */
  register(m: { name: string; input: string; metrics: Record<string, number>; signature?: unknown; tags?: Record<string, string> }): Promise<ModelVersionInfo>;
  get(name: string, version?: number): Promise<ModelVersionInfo | undefined>;
  champion(name: string): Promise<ModelVersionInfo | undefined>;
  promote(name: string, version: number): Promise<ModelVersionInfo>;
  /** The ONNX bytes of a registered version. */
  read(name: string, version?: number): Promise<Uint8Array>;
  /** Records the desired deployments of an endpoint (replacing its previous ones). */
  deploy(endpoint: string, deployments: readonly DeploymentSpec[]): Promise<void>;
}

/** What a step's `run` receives. */
export interface StepContext<I extends Ports, P> {
  /** Validated params with defaults applied. */
  readonly params: P;
  /** Input values: parsed JSON, read-only file/folder paths, or table bytes. */
  readonly inputs: InputValues<I>;
  /** A fresh empty folder for this attempt; write file and dir outputs here. */
  readonly outDir: string;
  /** Aborted when the run is cancelled or the step times out. */
  readonly signal: AbortSignal;
  readonly runId: string;
  /** The step instance id in the pipeline. */
  readonly stepId: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Values of the environment variables the step declared in `env` (part of its cache key). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The digest of each input (`sha256:…`), e.g. to record lineage. */
  readonly inputDigests: Readonly<Record<string, string>>;
  /** The model registry (throws SLUICE_CONFIG_INVALID where a run has none). */
  readonly models: ModelsClient;
  /** Structured log lines, stored per step in the run record. */
  log(level: LogLevel, msg: string, data?: Record<string, unknown>): void;
  /** A metric point; `step` is the x axis (epoch, iteration), optional. */
  metric(name: string, value: number, step?: number): void;
}

/** The declaration passed to `defineStep`. */
export interface StepDeclaration<I extends Ports, O extends Ports, S extends TObject> extends RunPolicy {
  /** Unique within its module; part of the cache key. Letters, digits, `-`, `_`, `.`. */
  readonly name: string;
  readonly description?: string;
  /** Salt: bump to invalidate cached results without a code change. */
  readonly version?: string | number;
  readonly inputs?: I;
  readonly outputs?: O;
  /** TypeBox object schema; validated with ajv, defaults applied, before anything runs. */
  readonly params?: S;
  /**
   * `"remote"` runs it on a `sluice worker` of queue `default`; `{ queue: "gpu" }` on a worker
   * of that queue.
   * @default "inline"
   */
  readonly executor?: ExecutorSpec;
  /** @default true */
  readonly cache?: CachePolicy;
  /** Environment variables whose values are part of the cache key (and visible to the step). */
  readonly env?: readonly string[];
  /** The declaring module's URL (`import.meta.url`); read from the call stack when omitted. */
  readonly module?: string;
  run(ctx: StepContext<I, Static<S>>): OutputValues<O> | Promise<OutputValues<O>>;
}

/** A declared step: a module-level constant workers can load again by (module URL, name). */
export interface Step<I extends Ports = Ports, O extends Ports = Ports, S extends TObject = TObject> extends RunPolicy {
  readonly __sluiceStep: true;
  readonly name: string;
  readonly description: string | undefined;
  readonly version: string | undefined;
  readonly inputs: I;
  readonly outputs: O;
  readonly params: S;
  readonly executor: ExecutorKind;
  /** The worker queue of a remote step (`default` unless declared); also used when an instance overrides its executor to `remote`. */
  readonly queue: string;
  readonly cache: CachePolicy;
  readonly env: readonly string[];
  readonly moduleUrl: string;
  readonly run: (ctx: StepContext<I, Static<S>>) => OutputValues<O> | Promise<OutputValues<O>>;
}

/** Any step, for code that does not care about its port types. */
export type AnyStep = Step<any, any, any>;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Declares a step. Call at module level and export the result. */
export function defineStep<I extends Ports = {}, O extends Ports = {}, S extends TObject = TObject<{}>>(
  decl: StepDeclaration<I, O, S>,
): Step<I, O, S> {
  const where = `step "${String(decl?.name)}"`;
  const problems: string[] = [];
  if (typeof decl?.name !== "string" || !NAME_RE.test(decl.name)) {
    problems.push(`name must match ${NAME_RE} (letters, digits, "-", "_", ".")`);
  }
  if (typeof decl?.run !== "function") problems.push("run must be a function");
  for (const side of ["inputs", "outputs"] as const) {
    for (const [portName, spec] of Object.entries(decl?.[side] ?? {})) {
      if (!PORT_KINDS.includes((spec as unknown as { kind: PortKind })?.kind)) {
        problems.push(`${side.slice(0, -1)} "${portName}" has kind ${JSON.stringify((spec as { kind?: unknown })?.kind)}; use port.json(), port.file(), port.dir() or port.table()`);
      }
    }
  }
  const spec = decl?.executor ?? "inline";
  const executor: ExecutorKind = typeof spec === "object" && spec !== null ? "remote" : spec;
  const queue = typeof spec === "object" && spec !== null ? spec.queue : DEFAULT_QUEUE;
  if (!EXECUTOR_KINDS.includes(executor)) problems.push(`executor ${JSON.stringify(executor)} is unknown; use one of ${EXECUTOR_KINDS.join(", ")} or { queue: "<name>" }`);
  if (!isQueueName(queue)) problems.push(`executor queue ${JSON.stringify(queue)} is not a queue name; use letters, digits, "-", "_", "." (no ":"), at most 64`);
  const cache = decl?.cache ?? true;
  if (typeof cache !== "boolean" && !(typeof cache === "object" && Number.isFinite(cache.ttlMs) && cache.ttlMs > 0)) {
    problems.push("cache must be true, false or { ttlMs: <positive number> }");
  }
  problems.push(...runPolicyProblems(decl));
  if (decl?.params !== undefined && (decl.params as TSchema).type !== "object") {
    problems.push("params must be a TypeBox object schema: Type.Object({ ... })");
  }
  const moduleUrl = decl?.module ?? callerModuleUrl();
  if (!moduleUrl) problems.push("could not tell which module declared it; pass module: import.meta.url");
  if (problems.length > 0) {
    throw new SluiceError("SLUICE_DEFINITION_INVALID", `${where}: ${problems.join("; ")}.`, { step: decl?.name, problems });
  }
  return Object.freeze({
    __sluiceStep: true,
    name: decl.name,
    description: decl.description,
    version: decl.version === undefined ? undefined : String(decl.version),
    inputs: (decl.inputs ?? {}) as I,
    outputs: (decl.outputs ?? {}) as O,
    params: (decl.params ?? Type.Object({})) as S,
    executor,
    queue,
    cache,
    env: [...(decl.env ?? [])],
    ...(decl.retries ? { retries: { ...decl.retries } } : {}),
    ...(decl.timeoutMs !== undefined ? { timeoutMs: decl.timeoutMs } : {}),
    ...(decl.resources ? { resources: { ...decl.resources } } : {}),
    moduleUrl: moduleUrl!,
    run: decl.run,
  });
}

/** True for a value made by `defineStep`. */
export function isStep(v: unknown): v is AnyStep {
  return typeof v === "object" && v !== null && (v as { __sluiceStep?: unknown }).__sluiceStep === true;
}
