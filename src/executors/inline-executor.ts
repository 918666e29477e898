import type { Executor, ProducedOutput, StepTask } from "../scheduler/index.ts";
import type { LocalCas } from "../store/local-cas.ts";
import { runStepBody } from "./step-io.ts";

/** Runs steps on the coordinator's event loop: for I/O-bound and tiny steps. */
export class InlineExecutor implements Executor {
  readonly kind = "inline" as const;
  readonly limit: number;
  readonly worker = null;
  readonly isolated = false;
  readonly #cas: LocalCas;

  constructor(cas: LocalCas, opts: { limit?: number } = {}) {
    this.#cas = cas;
    this.limit = opts.limit ?? 64;
  }

  execute(task: StepTask): Promise<Record<string, ProducedOutput>> {
    return runStepBody(task.step, task, this.#cas);
  }

  async close(): Promise<void> {}
}
