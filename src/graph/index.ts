export * from "./build-plan.ts";
export { topoSort, type TopoResult } from "./topo-sort.ts";
