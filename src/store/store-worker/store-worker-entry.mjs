// Worker entry from sources: registers tsx, then loads the TypeScript worker (the dist bundle has
// a plain JavaScript one, so this file is used only by tests and `--conditions=source` runs).
// The npm packages the worker needs load first, through Node's own loader: through tsx's hooks,
// kysely's few hundred modules took ~0.5 s of the thread's start.
import "kysely";
import "better-sqlite3";
import "safe-stable-stringify";
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
