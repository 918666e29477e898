export * from "./workspace.ts";
