import path from "node:path";
import { SluiceError } from "../errors.ts";
import { isOutputRef, recordPipeline, type AnyPipeline, type AnyStep, type CachePolicy, type ExecutorKind, type PlanProblem, type PortKind, type RunPolicy } from "../define/index.ts";
import { validateParams, type ParamIssue } from "../define/params.ts";
import { Adjacency } from "./adjacency.ts";
import { PlanNodes } from "./plan-nodes.ts";

/** Where an input comes from: a node and one of its output ports. */
export interface InputSource {
  readonly node: string;
  readonly port: string;
  readonly kind: PortKind;
  /** The node's number (`Plan.numbers`): what a run reads its state by, with no lookup by id. */
  readonly from: number;
}

/** A validated `when` gate: the upstream JSON value and its predicate. */
export interface WhenGate {
  readonly source: InputSource;
  readonly test: (value: any) => boolean;
  readonly label: string;
}

/** A validated step instance. */
export interface StepNode {
  readonly kind: "step";
  readonly id: string;
  readonly step: AnyStep;
  /** Validated, defaults applied. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly inputs: Readonly<Record<string, InputSource>>;
  readonly executor: ExecutorKind;
  readonly cache: CachePolicy;
  readonly policy: RunPolicy;
  readonly when: WhenGate | undefined;
}

/** A validated map: `step` fanned out over the JSON array `over`, the element going to input `as`. */
export interface MapNode extends Omit<StepNode, "kind"> {
  readonly kind: "map";
  readonly over: InputSource;
  readonly as: string;
  readonly key: ((item: unknown, index: number) => string | number) | undefined;
}

/** A validated source file or folder. */
export interface SourceNode {
  readonly kind: "source";
  readonly id: string;
  readonly sourceKind: "file" | "dir";
  /** Absolute path. */
  readonly path: string;
  /** As written in the pipeline. */
  readonly relPath: string;
}

/** A node of a plan. */
export type PlanNode = StepNode | MapNode | SourceNode;

/** A checked, immutable plan: the only thing the scheduler accepts. */
export interface Plan {
  readonly pipeline: AnyPipeline;
  readonly name: string;
  /** Pipeline params after validation and defaults. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly nodes: PlanNodes<PlanNode>;
  /** Each node id's number: its place among the nodes as the pipeline added them (for arrays by node); a sub-pipeline's id has -1. */
  readonly numbers: ReadonlyMap<string, number>;
  /** Topological order. */
  readonly order: readonly string[];
  /** The same order as node numbers (`nodes.at(n)`). */
  readonly orderNumbers: Int32Array;
  /** Distinct upstream node ids of each node. */
  readonly deps: ReadonlyMap<string, readonly string[]>;
  /** Distinct downstream node ids of each node. */
  readonly dependents: ReadonlyMap<string, readonly string[]>;
}

/** Options for `buildPlan`. */
export interface BuildPlanOptions {
  /** Workspace root: relative source paths resolve against it. */
  readonly root: string;
}

/** Where a node is, for messages (built only when there is a problem: planning 10,000 steps made 10,000 of them). */
function whereOf(pipeline: string, kind: string, id: string): string {
  return `pipeline "${pipeline}" › ${kind === "map" ? "map" : "step"} "${id}"`;
}

/** How a message names a wired field. */
function labelOf(field: string): string {
  return field === "when" || field === "over" ? field : `input "${field}"`;
}

function paramsMessage(where: string, issues: readonly ParamIssue[]): string {
  return issues.map((i) => `${where} › param "${i.path || "(params)"}" ${i.message}${i.value === undefined ? "" : ` (got ${JSON.stringify(i.value)})`}`).join("\n");
}

/**
 * Validates pipeline params, runs `build`, and checks the wiring. Every problem is collected and
 * thrown once as SLUICE_PLAN_INVALID (or SLUICE_PARAMS_INVALID for pipeline params). Runs no step.
 */
export function buildPlan(pipeline: AnyPipeline, rawParams: unknown, opts: BuildPlanOptions): Plan {
  const name = pipeline.name;
  const pv = validateParams(pipeline.params, rawParams);
  if (!pv.ok) {
    const known = Object.keys(pipeline.params.properties ?? {});
    throw new SluiceError(
      "SLUICE_PARAMS_INVALID",
      `${paramsMessage(`pipeline "${name}"`, pv.issues)}\nFix: pass --param NAME=VALUE matching the schema${known.length ? ` (params: ${known.join(", ")})` : " (this pipeline takes no params)"}.`,
      { pipeline: name, field: pv.issues[0]?.path, issues: pv.issues },
    );
  }
  let recorded: ReturnType<typeof recordPipeline>;
  try {
    recorded = recordPipeline(pipeline, pv.value);
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw new SluiceError("SLUICE_DEFINITION_INVALID", `pipeline "${name}": build() threw: ${(err as Error)?.message ?? String(err)}. Fix the pipeline's build function.`, { pipeline: name }, { cause: err });
  }
  const problems: PlanProblem[] = [...recorded.problems];
  const specs = recorded.nodes;
  const ids = new Array<string>(specs.length);
  for (let i = 0; i < specs.length; i++) ids[i] = specs[i]!.id;
  const g = new Adjacency(ids, recorded.index);
  const list = new Array<PlanNode>(specs.length); // by node number: each spec's node, or a problem
  /** The source of input `field` of node number `at`, or a problem. */
  const resolve = (ref: unknown, at: number, field: string, kindOf: string): InputSource | undefined => {
    const consumer = ids[at]!;
    if (!isOutputRef(ref)) {
      problems.push({ code: "SLUICE_INPUT_UNWIRED", pipeline: name, step: consumer, field, message: `${whereOf(name, kindOf, consumer)} › ${labelOf(field)}: expected an output reference (e.g. other.outputs.x or p.file(...)), got ${typeof ref}.` });
      return undefined;
    }
    const from = recorded.index.get(ref.node) ?? -1;
    const producer = specs[from];
    if (!producer) {
      problems.push({ code: "SLUICE_INPUT_UNWIRED", pipeline: name, step: consumer, field, message: `${whereOf(name, kindOf, consumer)} › ${labelOf(field)}: no node "${ref.node}" in the pipeline. Add it or wire another output.` });
      return undefined;
    }
    let kind: PortKind | undefined;
    if (producer.kind === "source") kind = ref.port === producer.sourceKind ? producer.sourceKind : undefined;
    else if (ref.port in producer.step.outputs) kind = producer.kind === "map" ? "json" : (producer.step.outputs as Record<string, { kind: PortKind }>)[ref.port]!.kind;
    if (!kind) {
      const outs = producer.kind === "source" ? [producer.sourceKind] : Object.keys(producer.step.outputs);
      problems.push({ code: "SLUICE_INPUT_UNWIRED", pipeline: name, step: consumer, field, message: `${whereOf(name, kindOf, consumer)} › ${labelOf(field)}: "${ref.node}" has no output "${ref.port}" (outputs: ${outs.join(", ") || "none"}).` });
      return undefined;
    }
    g.addEdge(from, at);
    return { node: ref.node, port: ref.port, kind, from };
  };
  const mismatch = (src: InputSource, want: PortKind, consumer: string, field: string, kindOf: string): boolean => {
    if (src.kind === want) return false;
    problems.push({ code: "SLUICE_PORT_TYPE_MISMATCH", pipeline: name, step: consumer, field, message: `${whereOf(name, kindOf, consumer)} › ${labelOf(field)}: expected ${want}, got ${src.kind} from "${src.node}.${src.port}". Wire a ${want} output or add a convert step.` });
    return true;
  };

  for (let at = 0; at < specs.length; at++) {
    const spec = specs[at]!;
    if (spec.kind === "source") {
      list[at] = { kind: "source", id: spec.id, sourceKind: spec.sourceKind, path: path.resolve(opts.root, spec.path), relPath: spec.path };
      continue;
    }
    const step = spec.step;
    const declared = step.inputs as Record<string, { kind: PortKind }>;
    const inputs: Record<string, InputSource> = {};
    for (const port in spec.inputs) {
      const ref = spec.inputs[port];
      const want = declared[port];
      if (!want || (spec.kind === "map" && port === spec.as)) {
        const names = Object.keys(declared);
        problems.push({ code: "SLUICE_INPUT_UNKNOWN", pipeline: name, step: spec.id, field: port, message: want ? `${whereOf(name, spec.kind, spec.id)} › input "${port}" receives each element of \`over\`; do not wire it in inputs.` : `${whereOf(name, spec.kind, spec.id)} › input "${port}": step "${step.name}" declares no such input${names.length ? ` (inputs: ${names.join(", ")})` : " (it takes no inputs)"}. Remove it or fix the name.` });
        continue;
      }
      const src = resolve(ref, at, port, spec.kind);
      if (src && !mismatch(src, want.kind, spec.id, port, spec.kind)) inputs[port] = src;
    }
    for (const port in declared) {
      if (!(port in spec.inputs) && !(spec.kind === "map" && port === spec.as)) {
        problems.push({ code: "SLUICE_INPUT_UNWIRED", pipeline: name, step: spec.id, field: port, message: `${whereOf(name, spec.kind, spec.id)} › input "${port}" is not wired. Pass inputs: { ${port}: <an output> }.` });
      }
    }
    let when: WhenGate | undefined;
    if (spec.when) {
      const src = resolve(spec.when.ref, at, "when", spec.kind);
      if (src && !mismatch(src, "json", spec.id, "when", spec.kind)) when = { source: src, test: spec.when.test, label: spec.when.label };
    }
    // The recorded params are the plan's own copy (made by recordPipeline).
    const sv = validateParams(step.params, spec.params, { owned: true });
    if (!sv.ok) {
      for (const i of sv.issues) {
        problems.push({ code: "SLUICE_PARAMS_INVALID", pipeline: name, step: spec.id, field: i.path, message: paramsMessage(whereOf(name, spec.kind, spec.id), [i]) + "." });
      }
    }
    const params = Object.freeze(sv.ok ? sv.value : {});
    const executor = spec.executor ?? step.executor;
    const cache = spec.cache ?? step.cache;
    if (spec.kind === "step") {
      // A literal, not a spread of shared fields: planning 10,000 steps spent 15% of its time spreading.
      list[at] = { kind: "step", id: spec.id, step, params, inputs: Object.freeze(inputs), executor, cache, policy: spec.policy, when };
      continue;
    }
    const base = { id: spec.id, step, params, inputs: Object.freeze(inputs), executor, cache, policy: spec.policy, when };
    if (declared[spec.as]?.kind !== "json") {
      problems.push({ code: "SLUICE_INPUT_UNKNOWN", pipeline: name, step: spec.id, field: "as", message: `${whereOf(name, spec.kind, spec.id)} › as "${spec.as}": step "${step.name}" has no json input of that name to receive each element (inputs: ${Object.keys(declared).join(", ") || "none"}).` });
      continue;
    }
    const over = resolve(spec.over, at, "over", spec.kind);
    if (over && !mismatch(over, "json", spec.id, "over", spec.kind)) list[at] = { kind: "map", ...base, over, as: spec.as, key: spec.key };
  }

  const sorted = g.sort();
  if (!sorted.ok) {
    problems.push({ code: "SLUICE_CYCLE", pipeline: name, step: sorted.cycle[0], message: `pipeline "${name}": cycle ${sorted.cycle.map((s) => `"${s}"`).join(" → ")}. A step cannot depend on its own outputs; break the cycle.` });
  }
  if (problems.length > 0) {
    throw new SluiceError("SLUICE_PLAN_INVALID", `pipeline "${name}" is not valid (${problems.length} problem${problems.length > 1 ? "s" : ""}):\n${problems.map((p) => `  - ${p.message}`).join("\n")}`, { pipeline: name, problems });
  }
  // Every node was added to the graph, and any that did not make it into `nodes` is a problem
  // thrown above: the graph's lists are the plan's.
  return new BuiltPlan({ pipeline, name, params: Object.freeze(pv.value), nodes: new PlanNodes(recorded.index, list), numbers: recorded.index, order: sorted.ok ? sorted.order : [], orderNumbers: sorted.ok ? sorted.numbers : new Int32Array(0) }, g);
}

/**
 * A plan: its fields, and its maps of edges by id made on first use (a run follows its nodes'
 * inputs instead: two 10,000-entry maps were built per run for nothing). A class, not an object
 * literal with getters: each such literal's accessors are new closures, which gave every plan a
 * hidden class of its own, so the code reading plans (and the run options holding one) was
 * optimised for one plan and deoptimised by the next run's.
 */
class BuiltPlan implements Plan {
  readonly pipeline: AnyPipeline;
  readonly name: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly nodes: PlanNodes<PlanNode>;
  readonly numbers: ReadonlyMap<string, number>;
  readonly order: readonly string[];
  readonly orderNumbers: Int32Array;
  readonly #g: Adjacency;
  #deps: Plan["deps"] | undefined;
  #dependents: Plan["dependents"] | undefined;

  constructor(fields: Omit<Plan, "deps" | "dependents">, g: Adjacency) {
    this.pipeline = fields.pipeline;
    this.name = fields.name;
    this.params = fields.params;
    this.nodes = fields.nodes;
    this.numbers = fields.numbers;
    this.order = fields.order;
    this.orderNumbers = fields.orderNumbers;
    this.#g = g;
    Object.freeze(this);
  }

  get deps(): Plan["deps"] {
    return (this.#deps ??= this.#g.preds());
  }

  get dependents(): Plan["dependents"] {
    return (this.#dependents ??= this.#g.succs());
  }
}
