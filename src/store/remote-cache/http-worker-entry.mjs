// Worker entry from sources: registers tsx, then loads the TypeScript worker (the dist bundle has
// a plain JavaScript one, so this file is used only by tests and `--conditions=source` runs).
import { register } from "tsx/esm/api";

register();
await import("./http-worker.ts");
