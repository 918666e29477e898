import type { RunEvent } from "../scheduler/index.ts";
import { formatCount, formatMs } from "./format.ts";
import type { CliIo } from "./io.ts";

const MAX_RUNNING_LINES = 8;

/**
 * The run's progress for people. On a terminal: a block redrawn in place (running steps, counts,
 * elapsed), at most a dozen lines whatever the pipeline's size. Elsewhere: one plain line per
 * step that ran, failed or waited, and a count of cached ones at the end.
 */
export class ProgressView {
  readonly #io: CliIo;
  readonly #running = new Map<string, number>();
  readonly #counts = { cached: 0, ran: 0, failed: 0, skipped: 0, cancelled: 0 };
  #total = 0;
  #started = 0;
  #lastLines = 0;
  #timer: NodeJS.Timeout | undefined;
  #header = "";

  constructor(io: CliIo) {
    this.#io = io;
  }

  /** Event sink. */
  readonly onEvent = (e: RunEvent): void => {
    const tty = this.#io.isTTY;
    switch (e.type) {
      case "run.started":
        this.#total = e.steps.length;
        this.#started = e.ts;
        this.#header = `run ${e.runId} · ${e.pipeline} · ${e.steps.length} step${e.steps.length === 1 ? "" : "s"}`;
        if (tty) this.#timer = setInterval(() => this.#draw(), 100);
        else this.#io.err(`${this.#header}\n`);
        return;
      case "step.started":
        this.#running.set(e.stepId, e.ts);
        if (!tty && !e.mapId) this.#io.err(`  ▶ ${e.stepId}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ""}\n`);
        return;
      case "step.retrying":
        this.#running.delete(e.stepId);
        this.#line(`  ↻ ${e.stepId} attempt ${e.attempt} failed: ${e.error.message.split("\n")[0]}; retrying in ${formatMs(e.delayMs)}`);
        return;
      case "map.expanded":
        this.#total += e.count - 1;
        this.#line(`  ⋔ map ${e.stepId}: ${formatCount(e.count)} instance${e.count === 1 ? "" : "s"}`);
        return;
      case "map.finished": {
        const c = e.counts;
        const parts = [`${formatCount(c.cached)} cached`, `${formatCount(c.succeeded)} ran`];
        if (c.failed) parts.push(`${c.failed} failed`);
        if (c.skipped) parts.push(`${c.skipped} skipped`);
        if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
        this.#line(`  ${e.status === "failed" ? "✗" : "✓"} map ${e.stepId}: ${parts.join(" · ")} ${formatMs(e.durationMs)}`);
        return;
      }
      case "step.cached":
        this.#counts.cached++;
        return;
      case "step.succeeded":
        this.#running.delete(e.stepId);
        this.#counts.ran++;
        if (!e.mapId) this.#line(`  ✓ ${e.stepId} ${formatMs(e.durationMs)}`);
        return;
      case "step.failed":
        this.#running.delete(e.stepId);
        this.#counts.failed++;
        this.#line(`  ✗ ${e.stepId} failed after ${formatMs(e.durationMs)}: ${e.error.message.split("\n")[0]}`);
        return;
      case "step.skipped":
        this.#counts.skipped++;
        return;
      case "step.cancelled":
        this.#running.delete(e.stepId);
        this.#counts.cancelled++;
        this.#line(`  ■ ${e.stepId} cancelled`);
        return;
      case "step.waiting":
        this.#line(`  … ${e.stepId}: waiting, another run is making it (${e.holder})`);
        return;
      case "log":
        if (e.level === "warn" || e.level === "error") this.#line(`  ${e.level === "warn" ? "!" : "✗"} ${e.stepId ?? "run"}: ${e.msg}`);
        return;
      case "run.finished":
        clearInterval(this.#timer);
        this.#timer = undefined;
        this.#erase();
        this.#io.err(`${this.#countsLine(e.ts)} · ${e.status}\n`);
        return;
      case "step.queued":
      case "metric":
        return;
      default: {
        const never: never = e;
        void never;
      }
    }
  };

  #countsLine(now: number): string {
    const c = this.#counts;
    const n = formatCount;
    const parts = [`${n(c.cached)} cached`, `${n(c.ran)} ran`];
    if (c.failed) parts.push(`${n(c.failed)} failed`);
    if (c.skipped) parts.push(`${n(c.skipped)} skipped`);
    if (c.cancelled) parts.push(`${n(c.cancelled)} cancelled`);
    const done = c.cached + c.ran + c.failed + c.skipped + c.cancelled;
    return `${parts.join(" · ")} (${n(done)}/${n(this.#total)}) · ${formatMs(now - this.#started)}`;
  }

  #line(text: string): void {
    if (!this.#io.isTTY) {
      this.#io.err(`${text}\n`);
      return;
    }
    this.#erase();
    this.#io.err(`${text}\n`);
    this.#draw();
  }

  #erase(): void {
    if (this.#lastLines > 0) this.#io.err(`\x1b[${this.#lastLines}A\x1b[0J`);
    this.#lastLines = 0;
  }

  #draw(): void {
    if (!this.#io.isTTY || !this.#header) return;
    this.#erase();
    const now = this.#io.now();
    const width = Math.max(20, this.#io.columns - 1);
    const lines = [this.#header, this.#countsLine(now)];
    const running = [...this.#running].sort((a, b) => a[1] - b[1]);
    for (const [id, since] of running.slice(0, MAX_RUNNING_LINES)) lines.push(`  ⠿ ${id} ${formatMs(now - since)}`);
    if (running.length > MAX_RUNNING_LINES) lines.push(`  … and ${running.length - MAX_RUNNING_LINES} more running`);
    this.#io.err(lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l)).join("\n") + "\n");
    this.#lastLines = lines.length;
  }

  /** Stops the redraw timer (on an error before run.finished). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
