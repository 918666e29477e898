import { Type, type Static, type TObject } from "@sinclair/typebox";
import { SluiceError } from "../errors.ts";
import { callerModuleUrl } from "./caller.ts";
import { runPolicyProblems, type AnyStep, type CachePolicy, type ExecutorKind, type RunPolicy, type Step } from "./define-step.ts";
import { shallowCopy, validateParams } from "./params.ts";
import { checkSchedules, type Schedule, type ScheduleSpec } from "./schedules.ts";
import { isOutputRef, type InputRefs, type InputValue, type OutputRef, type OutputRefs, type PortSpec, type Ports } from "./ports.ts";

/** A condition on an upstream JSON output: the step runs only when `test` holds. */
export interface WhenCondition<T = any> {
  readonly __when: true;
  readonly ref: OutputRef<"json", T>;
  readonly test: (value: T) => boolean;
  /** Shown in the skip reason and by explain; defaults to the predicate's source. */
  readonly label: string;
}

/** Options every instance may set: executor, cache policy, run policy and a `when` gate. */
export interface InstanceOptions extends RunPolicy {
  /** Overrides the step's executor for this instance. */
  readonly executor?: ExecutorKind;
  /** Overrides the step's cache policy for this instance. */
  readonly cache?: CachePolicy;
  /** Run only when this holds; otherwise the instance and its dependents are `skipped` (not failed). */
  readonly when?: WhenCondition;
}

/** How `p.step(...)` is configured for one instance. */
export type StepInstanceOptions<I extends Ports, S extends TObject> = ({} extends InputRefs<I>
  ? { readonly inputs?: InputRefs<I> }
  : { readonly inputs: InputRefs<I> }) & InstanceOptions & {
  /** Params for this instance; checked against the step's schema, defaults filled in. */
  readonly params?: Partial<Static<S>>;
};

/** What a map collects from one output port: JSON values as they are, other kinds as digests. */
export type Collected<P> = P extends PortSpec<"json", infer T> ? T : string;

/** How `p.map(...)` fans a step out. */
export type MapOptions<I extends Ports, S extends TObject, K extends keyof I & string> = InstanceOptions & {
  /** A JSON array produced at run time: one instance per element. */
  readonly over: OutputRef<"json", ReadonlyArray<InputValue<I[K]>>>;
  /** The step's (json) input port that receives the element. */
  readonly as: K;
  /** The step's other inputs, shared by every instance. */
  readonly inputs?: Omit<InputRefs<I>, K>;
  readonly params?: Partial<Static<S>>;
  /** A stable name per element (default: its index), used in instance ids `id[key]`. */
  readonly key?: (item: InputValue<I[K]>, index: number) => string | number;
};

/** A step instance inside a pipeline. */
export interface StepHandle<O extends Ports> {
  readonly id: string;
  readonly outputs: OutputRefs<O>;
}

/** A mapped step: each output collects every instance's output, in element order, as one JSON array. */
export interface MapHandle<O extends Ports> {
  readonly id: string;
  readonly outputs: { readonly [P in keyof O]: OutputRef<"json", Array<Collected<O[P]>>> };
}

/** Instance settings shared by step and map nodes. */
interface InstanceSpec {
  readonly id: string;
  readonly step: AnyStep;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly params: Readonly<Record<string, unknown>>;
  readonly executor: ExecutorKind | undefined;
  readonly cache: CachePolicy | undefined;
  readonly policy: RunPolicy;
  readonly when: WhenCondition | undefined;
}

/** One recorded step instance, as `build` wired it (not yet validated). */
export interface StepNodeSpec extends InstanceSpec {
  readonly kind: "step";
}

/** One recorded map: a step fanned out over a run-time list. */
export interface MapNodeSpec extends InstanceSpec {
  readonly kind: "map";
  readonly over: unknown;
  readonly as: string;
  readonly key: ((item: unknown, index: number) => string | number) | undefined;
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
export type NodeSpec = StepNodeSpec | MapNodeSpec | SourceNodeSpec;

/** What `build` received; passed to `definePipeline`. */
export interface PipelineBuilder {
  /** Adds a step instance with a pipeline-unique id. */
  step<I extends Ports, O extends Ports, S extends TObject>(id: string, step: Step<I, O, S>, ...opts: {} extends InputRefs<I> ? [StepInstanceOptions<I, S>?] : [StepInstanceOptions<I, S>]): StepHandle<O>;
  /** Fans a step out over a JSON array produced at run time: one cached instance per element. */
  map<I extends Ports, O extends Ports, S extends TObject, K extends keyof I & string>(id: string, step: Step<I, O, S>, opts: MapOptions<I, S, K>): MapHandle<O>;
  /** Uses a pipeline as a step: its steps join this run (ids `id/inner`), cached one by one. */
  pipeline<S extends TObject, PI extends Ports, PO extends Ports>(id: string, sub: Pipeline<S, PI, PO>, ...opts: {} extends InputRefs<PI> ? [SubPipelineOptions<S, PI>?] : [SubPipelineOptions<S, PI>]): StepHandle<PO>;
  /** A condition for `when`: the instance runs only if `test(value of ref)` holds. */
  when<T>(ref: OutputRef<"json", T>, test: (value: T) => boolean, label?: string): WhenCondition<T>;
  /** A file of the workspace, hashed by content (`path` relative to the workspace root). */
  file(id: string, path: string): OutputRef<"file", string>;
  /** A folder of the workspace, hashed by content. */
  dir(id: string, path: string): OutputRef<"dir", string>;
  /** A reference to an output by node id and port name, for wiring declared later. */
  output(nodeId: string, port: string): OutputRef<any, any>;
}

/** How `p.pipeline(...)` is configured. */
export type SubPipelineOptions<S extends TObject, PI extends Ports> = ({} extends InputRefs<PI> ? { readonly inputs?: InputRefs<PI> } : { readonly inputs: InputRefs<PI> }) & {
  readonly params?: Partial<Static<S>>;
};

/** The declaration passed to `definePipeline`. */
export interface PipelineDeclaration<S extends TObject, PI extends Ports = {}, PO extends Ports = {}> {
  /** Unique in the workspace; what `npm run pipeline -- <name>` takes. */
  readonly name: string;
  readonly description?: string;
  /** TypeBox object schema for pipeline params (`--param k=v`). */
  readonly params?: S;
  /** Cron schedules `sluice serve` runs this pipeline on (checked here: cron, time zone, policies, params). */
  readonly schedules?: readonly ScheduleSpec[];
  /** Inputs when used as a sub-pipeline (`p.pipeline(...)`). */
  readonly inputs?: PI;
  /** Outputs when used as a sub-pipeline: `build` returns a reference for each. */
  readonly outputs?: PO;
  /** Wires step instances. Runs no step. */
  build(p: PipelineBuilder, params: Static<S>, inputs: InputRefs<PI>): {} extends PO ? void | Partial<OutputRefs<PO>> : OutputRefs<PO>;
}

/** A declared pipeline. */
export interface Pipeline<S extends TObject = TObject, PI extends Ports = {}, PO extends Ports = {}> {
  readonly __sluicePipeline: true;
  readonly name: string;
  readonly description: string | undefined;
  readonly params: S;
  readonly schedules: readonly Schedule[];
  readonly inputs: PI;
  readonly outputs: PO;
  readonly moduleUrl: string;
  readonly build: (p: PipelineBuilder, params: Static<S>, inputs: InputRefs<PI>) => unknown;
}

/** Any pipeline. */
export type AnyPipeline = Pipeline<any, any, any>;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Declares a pipeline; export it as the module's default export in `pipelines/`. */
export function definePipeline<S extends TObject = TObject<{}>, PI extends Ports = {}, PO extends Ports = {}>(decl: PipelineDeclaration<S, PI, PO>): Pipeline<S, PI, PO> {
  const problems: string[] = [];
  if (typeof decl?.name !== "string" || !NAME_RE.test(decl.name)) problems.push(`name must match ${NAME_RE}`);
  if (typeof decl?.build !== "function") problems.push("build must be a function");
  if (decl?.params !== undefined && decl.params.type !== "object") problems.push("params must be a TypeBox object schema: Type.Object({ ... })");
  const checked = checkSchedules(String(decl?.name), decl?.schedules, decl?.params);
  if (problems.length > 0 || checked.problems.length > 0) {
    const head = problems.length > 0 ? [`pipeline "${String(decl?.name)}": ${problems.join("; ")}.`] : [];
    const message = [...head, ...checked.problems.map((p) => `${p.message}.`)].join("\n");
    const fields = checked.problems.map((p) => p.field);
    throw new SluiceError("SLUICE_DEFINITION_INVALID", message, { pipeline: decl?.name, problems: [...problems, ...checked.problems.map((p) => p.message)], ...(fields.length > 0 ? { field: fields[0], fields } : {}) });
  }
  return Object.freeze({
    __sluicePipeline: true,
    name: decl.name,
    description: decl.description,
    params: (decl.params ?? Type.Object({})) as S,
    schedules: Object.freeze(checked.schedules),
    inputs: (decl.inputs ?? {}) as PI,
    outputs: (decl.outputs ?? {}) as PO,
    moduleUrl: callerModuleUrl() ?? "",
    build: decl.build as Pipeline<S, PI, PO>["build"],
  });
}

/** True for a value made by `definePipeline`. */
export function isPipeline(v: unknown): v is AnyPipeline {
  return typeof v === "object" && v !== null && (v as { __sluicePipeline?: unknown }).__sluicePipeline === true;
}

/** A problem found while recording or validating a pipeline. */
export interface PlanProblem {
  readonly code: "SLUICE_CYCLE" | "SLUICE_DUPLICATE_ID" | "SLUICE_INPUT_UNKNOWN" | "SLUICE_INPUT_UNWIRED" | "SLUICE_PORT_TYPE_MISMATCH" | "SLUICE_PARAMS_INVALID" | "SLUICE_NOT_A_STEP" | "SLUICE_BAD_ID" | "SLUICE_BAD_OPTION";
  readonly pipeline: string;
  readonly step?: string;
  readonly field?: string;
  readonly message: string;
}

/** Each step's own run policy, shared by its instances that set none. */
const stepPolicies = new WeakMap<AnyStep, RunPolicy>();

/** The last step asked for (a build usually adds many instances of one step in a row): a WeakMap read cost 0.3 µs. */
let lastPolicy: { step: AnyStep; policy: RunPolicy } | undefined;

function stepPolicy(step: AnyStep): RunPolicy {
  if (lastPolicy?.step === step) return lastPolicy.policy;
  let policy = stepPolicies.get(step);
  if (!policy) stepPolicies.set(step, (policy = Object.freeze({ retries: step.retries, timeoutMs: step.timeoutMs, resources: step.resources })));
  lastPolicy = { step, policy };
  return policy;
}

const isStepValue = (v: unknown): v is AnyStep => typeof v === "object" && v !== null && (v as { __sluiceStep?: unknown }).__sluiceStep === true;

/** What `recordPipeline` found: the nodes in the order added, where each id is, and the problems. */
export interface RecordedPipeline {
  readonly nodes: NodeSpec[];
  /** Node id → its position in `nodes` (-1 for a sub-pipeline's id, which names no node). */
  readonly index: ReadonlyMap<string, number>;
  readonly problems: PlanProblem[];
}

/** Runs `build` with already-validated params and records what it wired. Pure: runs no step. */
export function recordPipeline(pipeline: AnyPipeline, params: unknown): RecordedPipeline {
  const nodes: NodeSpec[] = [];
  const problems: PlanProblem[] = [];
  // Every id taken so far.
  const index = new Map<string, number>();
  const add = (node: NodeSpec): void => {
    index.set(node.id, nodes.length);
    nodes.push(node);
  };
  const name = pipeline.name;
  const ref = (node: string, port: string, kind: string): OutputRef<any, any> => Object.freeze({ __ref: true, node, port, kind });

  const makeBuilder = (prefix: string): PipelineBuilder => {
    const claim = (id: string): boolean => {
      if (typeof id !== "string" || !NAME_RE.test(id)) {
        problems.push({ code: "SLUICE_BAD_ID", pipeline: name, step: String(id), message: `pipeline "${name}" › node id ${JSON.stringify(id)} is not valid: use letters, digits, "-", "_", ".".` });
        return false;
      }
      const full = prefix === "" ? id : prefix + id;
      if (index.has(full)) {
        problems.push({ code: "SLUICE_DUPLICATE_ID", pipeline: name, step: full, message: `pipeline "${name}" › step "${full}": the id is used twice. Give each step instance its own id.` });
        return false;
      }
      // The caller adds the node at once (or, for a sub-pipeline, marks the id taken).
      return true;
    };
    const instance = (id: string, step: unknown, opts: InstanceOptions & { inputs?: Record<string, unknown>; params?: Record<string, unknown> }, what: string): StepNodeSpec | undefined => {
      if (!isStepValue(step)) {
        problems.push({ code: "SLUICE_NOT_A_STEP", pipeline: name, step: prefix + id, message: `pipeline "${name}" › step "${prefix + id}": the second argument of ${what} is not a step. Pass a value made by defineStep().` });
        return undefined;
      }
      // An instance that sets no policy of its own has nothing to check.
      const ownPolicy = opts.retries !== undefined || opts.timeoutMs !== undefined || opts.resources !== undefined;
      const policyProblems = ownPolicy ? runPolicyProblems(opts) : [];
      if (opts.when !== undefined && (opts.when as { __when?: unknown }).__when !== true) policyProblems.push("when must be made by p.when(ref, test)");
      for (const msg of policyProblems) problems.push({ code: "SLUICE_BAD_OPTION", pipeline: name, step: prefix + id, message: `pipeline "${name}" › step "${prefix + id}": ${msg}.` });
      if (!claim(id)) return undefined;
      // Most instances set no policy of their own: they share their step's (one object per step, not per instance).
      const policy = !ownPolicy ? stepPolicy(step) : { retries: opts.retries ?? step.retries, timeoutMs: opts.timeoutMs ?? step.timeoutMs, resources: opts.resources ?? step.resources };
      // Params are copied now (build may reuse and change the object it passed) by assignment:
      // the plan freezes this copy, and V8 freezes spread copies 3–8× slower.
      return { kind: "step", id: prefix + id, step, inputs: { ...(opts.inputs ?? {}) }, params: opts.params === undefined ? {} : shallowCopy(opts.params), executor: opts.executor, cache: opts.cache, policy, when: opts.when };
    };
    const outputsOf = (id: string, step: unknown, kindOf: (k: string) => string): Record<string, OutputRef> => {
      // A plain loop: entries/map/fromEntries allocated five objects per port, per step.
      const ports = ((step as AnyStep | undefined)?.outputs ?? {}) as Ports;
      const out: Record<string, OutputRef> = {};
      for (const port in ports) out[port] = ref(prefix + id, port, kindOf(ports[port]!.kind));
      return out;
    };
    return {
      step(id, step, ...rest) {
        const spec = instance(id, step, (rest[0] ?? {}) as never, "p.step()");
        if (spec) add(spec);
        return { id: prefix + id, outputs: outputsOf(id, step, (k) => k) as never };
      },
      map(id, step, opts) {
        const spec = instance(id, step, opts as never, "p.map()");
        if (spec) add({ ...spec, kind: "map", over: opts.over, as: opts.as, key: opts.key as MapNodeSpec["key"] });
        return { id: prefix + id, outputs: outputsOf(id, step, () => "json") as never };
      },
      pipeline(id, sub, ...rest) {
        const opts = (rest[0] ?? {}) as { inputs?: Record<string, unknown>; params?: Record<string, unknown> };
        const outputs: Record<string, OutputRef> = {};
        if (!isPipeline(sub)) {
          problems.push({ code: "SLUICE_NOT_A_STEP", pipeline: name, step: prefix + id, message: `pipeline "${name}" › "${prefix + id}": the second argument of p.pipeline() is not a pipeline. Pass a value made by definePipeline().` });
          return { id: prefix + id, outputs: outputs as never };
        }
        if (!claim(id)) return { id: prefix + id, outputs: outputs as never };
        index.set(prefix + id, -1);
        const pv = validateParams(sub.params, opts.params ?? {});
        if (!pv.ok) {
          for (const i of pv.issues) problems.push({ code: "SLUICE_PARAMS_INVALID", pipeline: name, step: prefix + id, field: i.path, message: `pipeline "${name}" › sub-pipeline "${prefix + id}" (${sub.name}) › param "${i.path}" ${i.message}.` });
          return { id: prefix + id, outputs: outputs as never };
        }
        for (const port of Object.keys(sub.inputs)) {
          if (!(port in (opts.inputs ?? {}))) problems.push({ code: "SLUICE_INPUT_UNWIRED", pipeline: name, step: prefix + id, field: port, message: `pipeline "${name}" › sub-pipeline "${prefix + id}" › input "${port}" is not wired. Pass inputs: { ${port}: <an output> }.` });
        }
        const returned = (sub.build(makeBuilder(`${prefix}${id}/`), pv.value as never, (opts.inputs ?? {}) as never) ?? {}) as Record<string, unknown>;
        for (const port of Object.keys(sub.outputs)) {
          const r = returned[port];
          if (isOutputRef(r)) outputs[port] = r;
          else problems.push({ code: "SLUICE_INPUT_UNWIRED", pipeline: name, step: prefix + id, field: port, message: `pipeline "${name}" › sub-pipeline "${prefix + id}" (${sub.name}): build() returned no reference for output "${port}". Return { ${port}: <an output> }.` });
        }
        return { id: prefix + id, outputs: outputs as never };
      },
      when(r, test, label) {
        return Object.freeze({ __when: true as const, ref: r, test, label: label ?? test.toString().replace(/\s+/g, " ").slice(0, 80) });
      },
      file(id, path) {
        if (claim(id)) add({ kind: "source", id: prefix + id, sourceKind: "file", path });
        return ref(prefix + id, "file", "file");
      },
      dir(id, path) {
        if (claim(id)) add({ kind: "source", id: prefix + id, sourceKind: "dir", path });
        return ref(prefix + id, "dir", "dir");
      },
      output(nodeId, port) {
        return ref(prefix + nodeId, port, "?");
      },
    };
  };
  pipeline.build(makeBuilder(""), params as never, {} as never);
  return { nodes, index, problems };
}
