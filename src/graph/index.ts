export * from "./build-plan.ts";
export { validateParams, knownParams, type ParamIssue } from "../define/params.ts";
export { topoSort, type TopoResult } from "./topo-sort.ts";
