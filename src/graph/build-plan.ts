import { Graph } from "@dagrejs/graphlib";
import path from "node:path";
import { SluiceError } from "../errors.ts";
import { isOutputRef, recordPipeline, type AnyPipeline, type AnyStep, type CachePolicy, type ExecutorKind, type PlanProblem, type PortKind } from "../define/index.ts";
import { validateParams, type ParamIssue } from "../define/params.ts";
import { topoSort } from "./topo-sort.ts";

/** Where an input comes from: a node and one of its output ports. */
export interface InputSource {
  readonly node: string;
  readonly port: string;
  readonly kind: PortKind;
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
export type PlanNode = StepNode | SourceNode;

/** A checked, immutable plan: the only thing the scheduler accepts. */
export interface Plan {
  readonly pipeline: AnyPipeline;
  readonly name: string;
  /** Pipeline params after validation and defaults. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly nodes: ReadonlyMap<string, PlanNode>;
  /** Topological order. */
  readonly order: readonly string[];
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
  const g = new Graph({ directed: true, multigraph: false });
  const nodes = new Map<string, PlanNode>();
  for (const spec of recorded.nodes) g.setNode(spec.id);

  for (const spec of recorded.nodes) {
    if (spec.kind === "source") {
      nodes.set(spec.id, { kind: "source", id: spec.id, sourceKind: spec.sourceKind, path: path.resolve(opts.root, spec.path), relPath: spec.path });
      continue;
    }
    const where = `pipeline "${name}" › step "${spec.id}"`;
    const step = spec.step;
    const inputs: Record<string, InputSource> = {};
    for (const [port, ref] of Object.entries(spec.inputs)) {
      const want = (step.inputs as Record<string, { kind: PortKind }>)[port];
      if (!want) {
        const declared = Object.keys(step.inputs);
        problems.push({ code: "SLUICE_INPUT_UNKNOWN", pipeline: name, step: spec.id, field: port, message: `${where} › input "${port}": step "${step.name}" declares no such input${declared.length ? ` (inputs: ${declared.join(", ")})` : " (it takes no inputs)"}. Remove it or fix the name.` });
        continue;
      }
      if (!isOutputRef(ref)) {
        problems.push({ code: "SLUICE_INPUT_UNWIRED", pipeline: name, step: spec.id, field: port, message: `${where} › input "${port}": expected an output reference (e.g. other.outputs.x or p.file(...)), got ${typeof ref}.` });
        continue;
      }
      const producer = recorded.nodes.find((n) => n.id === ref.node);
      if (!producer) {
        problems.push({ code: "SLUICE_INPUT_UNWIRED", pipeline: name, step: spec.id, field: port, message: `${where} › input "${port}": no node "${ref.node}" in the pipeline. Add it or wire another output.` });
        continue;
      }
      let kind: PortKind | undefined;
      if (producer.kind === "source") kind = ref.port === producer.sourceKind ? producer.sourceKind : undefined;
      else kind = (producer.step.outputs as Record<string, { kind: PortKind }>)[ref.port]?.kind;
      if (!kind) {
        const outs = producer.kind === "source" ? [producer.sourceKind] : Object.keys(producer.step.outputs);
        problems.push({ code: "SLUICE_INPUT_UNWIRED", pipeline: name, step: spec.id, field: port, message: `${where} › input "${port}": "${ref.node}" has no output "${ref.port}" (outputs: ${outs.join(", ") || "none"}).` });
        continue;
      }
      if (kind !== want.kind) {
        problems.push({ code: "SLUICE_PORT_TYPE_MISMATCH", pipeline: name, step: spec.id, field: port, message: `${where} › input "${port}": expected ${want.kind}, got ${kind} from "${ref.node}.${ref.port}". Wire a ${want.kind} output or add a convert step.` });
        continue;
      }
      inputs[port] = { node: ref.node, port: ref.port, kind };
      g.setEdge(ref.node, spec.id);
    }
    for (const port of Object.keys(step.inputs)) {
      if (!(port in spec.inputs)) {
        problems.push({ code: "SLUICE_INPUT_UNWIRED", pipeline: name, step: spec.id, field: port, message: `${where} › input "${port}" is not wired. Pass inputs: { ${port}: <an output> }.` });
      }
    }
    const sv = validateParams(step.params, spec.params);
    if (!sv.ok) {
      for (const i of sv.issues) {
        problems.push({ code: "SLUICE_PARAMS_INVALID", pipeline: name, step: spec.id, field: i.path, message: paramsMessage(where, [i]) + "." });
      }
    }
    nodes.set(spec.id, {
      kind: "step",
      id: spec.id,
      step,
      params: Object.freeze(sv.ok ? sv.value : {}),
      inputs: Object.freeze(inputs),
      executor: spec.executor ?? step.executor,
      cache: spec.cache ?? step.cache,
    });
  }

  const sorted = topoSort(g);
  if (!sorted.ok) {
    problems.push({ code: "SLUICE_CYCLE", pipeline: name, step: sorted.cycle[0], message: `pipeline "${name}": cycle ${sorted.cycle.map((s) => `"${s}"`).join(" → ")}. A step cannot depend on its own outputs; break the cycle.` });
  }
  if (problems.length > 0) {
    throw new SluiceError("SLUICE_PLAN_INVALID", `pipeline "${name}" is not valid (${problems.length} problem${problems.length > 1 ? "s" : ""}):\n${problems.map((p) => `  - ${p.message}`).join("\n")}`, { pipeline: name, problems });
  }
  const deps = new Map<string, string[]>();
  const dependents = new Map<string, string[]>();
  for (const id of nodes.keys()) {
    deps.set(id, g.predecessors(id) ?? []);
    dependents.set(id, g.successors(id) ?? []);
  }
  return Object.freeze({ pipeline, name, params: Object.freeze(pv.value), nodes, order: sorted.ok ? sorted.order : [], deps, dependents });
}
