import type { ServiceStore } from "../store/run-store/index.ts";
import type { Access } from "./access.ts";
import type { RunManager } from "./run-manager.ts";

/** What the core route groups need beyond the shared `ServerContext`. */
export interface ServiceParts {
  readonly runs: RunManager;
  readonly access: Access;
  readonly service: ServiceStore;
}
