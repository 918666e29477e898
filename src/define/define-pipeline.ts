import { Type, type Static, type TObject } from "@sinclair/typebox";
import { SluiceError } from "../errors.ts";
import { callerModuleUrl } from "./caller.ts";
import type { AnyStep, CachePolicy, ExecutorKind, Step } from "./define-step.ts";
import type { InputRefs, OutputRef, OutputRefs, Ports } from "./ports.ts";

/** How `p.step(...)` is configured for one instance. */
export type StepInstanceOptions<I extends Ports, S extends TObject> = ({} extends InputRefs<I>
  ? { readonly inputs?: InputRefs<I> }
  : { readonly inputs: InputRefs<I> }) & {
  /** Params for this instance; checked against the step's schema, defaults filled in. */
  readonly params?: Partial<Static<S>>;
  /** Overrides the step's executor for this instance. */
  readonly executor?: ExecutorKind;
  /** Overrides the step's cache policy for this instance. */
  readonly cache?: CachePolicy;
};

/** A step instance inside a pipeline. */
export interface StepHandle<O extends Ports> {
  readonly id: string;
  readonly outputs: OutputRefs<O>;
}

/** One recorded step instance, as `build` wired it (not yet validated). */
export interface StepNodeSpec {
  readonly kind: "step";
  readonly id: string;
  readonly step: AnyStep;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly params: Readonly<Record<string, unknown>>;
  readonly executor: ExecutorKind | undefined;
  readonly cache: CachePolicy | undefined;
}

/** A file or folder of the workspace that the pipeline reads. */
export interface SourceNodeSpec {
  readonly kind: "source";
  readonly id: string;
  readonly sourceKind: "file" | "dir";
  /** As written in the pipeline: relative to the workspace root, or absolute. */
  readonly path: string;
}

/** A recorded node. */
export type NodeSpec = StepNodeSpec | SourceNodeSpec;

/** What `build` received; passed to `definePipeline`. */
export interface PipelineBuilder {
  /** Adds a step instance with a pipeline-unique id. */
  step<I extends Ports, O extends Ports, S extends TObject>(id: string, step: Step<I, O, S>, ...opts: {} extends InputRefs<I> ? [StepInstanceOptions<I, S>?] : [StepInstanceOptions<I, S>]): StepHandle<O>;
  /** A file of the workspace, hashed by content (`path` relative to the workspace root). */
  file(id: string, path: string): OutputRef<"file", string>;
  /** A folder of the workspace, hashed by content. */
  dir(id: string, path: string): OutputRef<"dir", string>;
  /** A reference to an output by node id and port name, for wiring declared later. */
  output(nodeId: string, port: string): OutputRef<any, any>;
}

/** A cron schedule (run by `sluice serve`). */
export interface ScheduleSpec {
  readonly cron: string;
  readonly timezone?: string;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly overlap?: "skip" | "queue";
  readonly misfire?: "skip" | "run-once";
}

/** The declaration passed to `definePipeline`. */
export interface PipelineDeclaration<S extends TObject> {
  /** Unique in the workspace; what `npm run pipeline -- <name>` takes. */
  readonly name: string;
  readonly description?: string;
  /** TypeBox object schema for pipeline params (`--param k=v`). */
  readonly params?: S;
  readonly schedules?: readonly ScheduleSpec[];
  /** Wires step instances. Runs no step. */
  build(p: PipelineBuilder, params: Static<S>): void;
}

/** A declared pipeline. */
export interface Pipeline<S extends TObject = TObject> {
  readonly __sluicePipeline: true;
  readonly name: string;
  readonly description: string | undefined;
  readonly params: S;
  readonly schedules: readonly ScheduleSpec[];
  readonly moduleUrl: string;
  readonly build: (p: PipelineBuilder, params: Static<S>) => void;
}

/** Any pipeline. */
export type AnyPipeline = Pipeline<any>;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Declares a pipeline; export it as the module's default export in `pipelines/`. */
export function definePipeline<S extends TObject = TObject<{}>>(decl: PipelineDeclaration<S>): Pipeline<S> {
  const problems: string[] = [];
  if (typeof decl?.name !== "string" || !NAME_RE.test(decl.name)) problems.push(`name must match ${NAME_RE}`);
  if (typeof decl?.build !== "function") problems.push("build must be a function");
  if (decl?.params !== undefined && decl.params.type !== "object") problems.push("params must be a TypeBox object schema: Type.Object({ ... })");
  if (problems.length > 0) {
    throw new SluiceError("SLUICE_DEFINITION_INVALID", `pipeline "${String(decl?.name)}": ${problems.join("; ")}.`, { pipeline: decl?.name, problems });
  }
  return Object.freeze({
    __sluicePipeline: true,
    name: decl.name,
    description: decl.description,
    params: (decl.params ?? Type.Object({})) as S,
    schedules: [...(decl.schedules ?? [])],
    moduleUrl: callerModuleUrl() ?? "",
    build: decl.build,
  });
}

/** True for a value made by `definePipeline`. */
export function isPipeline(v: unknown): v is AnyPipeline {
  return typeof v === "object" && v !== null && (v as { __sluicePipeline?: unknown }).__sluicePipeline === true;
}

/** A problem found while recording or validating a pipeline. */
export interface PlanProblem {
  readonly code: "SLUICE_CYCLE" | "SLUICE_DUPLICATE_ID" | "SLUICE_INPUT_UNKNOWN" | "SLUICE_INPUT_UNWIRED" | "SLUICE_PORT_TYPE_MISMATCH" | "SLUICE_PARAMS_INVALID" | "SLUICE_NOT_A_STEP" | "SLUICE_BAD_ID";
  readonly pipeline: string;
  readonly step?: string;
  readonly field?: string;
  readonly message: string;
}

/** Runs `build` with already-validated params and records what it wired. Pure: runs no step. */
export function recordPipeline(pipeline: AnyPipeline, params: unknown): { nodes: NodeSpec[]; problems: PlanProblem[] } {
  const nodes: NodeSpec[] = [];
  const problems: PlanProblem[] = [];
  const seen = new Set<string>();
  const name = pipeline.name;
  const claim = (id: string): boolean => {
    if (typeof id !== "string" || !NAME_RE.test(id)) {
      problems.push({ code: "SLUICE_BAD_ID", pipeline: name, step: String(id), message: `pipeline "${name}" › node id ${JSON.stringify(id)} is not valid: use letters, digits, "-", "_", ".".` });
      return false;
    }
    if (seen.has(id)) {
      problems.push({ code: "SLUICE_DUPLICATE_ID", pipeline: name, step: id, message: `pipeline "${name}" › step "${id}": the id is used twice. Give each step instance its own id.` });
      return false;
    }
    seen.add(id);
    return true;
  };
  const ref = (node: string, port: string, kind: string): OutputRef<any, any> => Object.freeze({ __ref: true, node, port, kind });
  const builder: PipelineBuilder = {
    step(id, step, ...rest) {
      const opts = (rest[0] ?? {}) as { inputs?: Record<string, unknown>; params?: Record<string, unknown>; executor?: ExecutorKind; cache?: CachePolicy };
      const outputs = Object.fromEntries(Object.entries((step?.outputs ?? {}) as Ports).map(([port, spec]) => [port, ref(id, port, spec.kind)]));
      if (!(typeof step === "object" && step !== null && (step as { __sluiceStep?: unknown }).__sluiceStep === true)) {
        problems.push({ code: "SLUICE_NOT_A_STEP", pipeline: name, step: id, message: `pipeline "${name}" › step "${id}": the second argument of p.step() is not a step. Pass a value made by defineStep().` });
        return { id, outputs: outputs as never };
      }
      if (claim(id)) {
        nodes.push({ kind: "step", id, step: step as AnyStep, inputs: { ...(opts.inputs ?? {}) }, params: { ...(opts.params ?? {}) }, executor: opts.executor, cache: opts.cache });
      }
      return { id, outputs: outputs as never };
    },
    file(id, path) {
      if (claim(id)) nodes.push({ kind: "source", id, sourceKind: "file", path });
      return ref(id, "file", "file");
    },
    dir(id, path) {
      if (claim(id)) nodes.push({ kind: "source", id, sourceKind: "dir", path });
      return ref(id, "dir", "dir");
    },
    output(nodeId, port) {
      return ref(nodeId, port, "?");
    },
  };
  pipeline.build(builder, params as never);
  return { nodes, problems };
}
