/** Helpers for testing pipelines and steps: `import { createTestWorkspace } from "sluice/testing"`. */
export { createTestWorkspace, sluicePackageRoot, type TestWorkspace } from "./test-workspace.ts";
