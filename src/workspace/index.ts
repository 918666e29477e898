export * from "./workspace.ts";
export * from "./prune.ts";
