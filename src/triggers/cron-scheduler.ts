/**
 * The cron scheduler: fires pipelines' schedules at their instants. Framework-free: the clock,
 * the timers, the ledger, the logger and `launch` (which starts a run) are passed in.
 *
 * Every fire is claimed in the ledger (one row per schedule and instant) BEFORE its run is
 * launched, so a restarted scheduler, or a second one on the same database, never fires an
 * instant twice. Each schedule's work (waking, launching, a run finishing) runs one step at a
 * time on that schedule's chain, so its overlap state never races.
 */
import type { Schedule } from "../define/index.ts";
import type { Logger } from "../log.ts";
import type { FireReason, FireRecord, FireStatus, ScheduleLedger } from "../store/run-store/index.ts";
import { dueInstants, nextFires } from "./next-fires.ts";
import { realTimers, type Timers } from "./timers.ts";

/** What `launch` is asked to start. */
export interface LaunchRequest {
  readonly pipeline: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly scheduleId: string;
  /** The cron instant (epoch ms) this run is for. */
  readonly fireTime: number;
}

/** A started run: its id, and a promise settled when it is over (either way). */
export interface LaunchedRun {
  readonly runId: string;
  readonly done: Promise<unknown>;
}

/** Starts a run (the server wires its run manager here). */
export type Launch = (req: LaunchRequest) => Promise<LaunchedRun>;

/** One schedule of one pipeline. */
export interface PipelineSchedule {
  readonly pipeline: string;
  readonly schedule: Schedule;
}

/** Options of `CronScheduler`. */
export interface CronSchedulerOptions {
  readonly schedules: readonly PipelineSchedule[];
  readonly ledger: ScheduleLedger;
  readonly launch: Launch;
  readonly log: Logger;
  /** Epoch ms now. */
  readonly clock: () => number;
  /** @default real setTimeout */
  readonly timers?: Timers;
  /**
   * A fire handled later than this after its instant (the process was down or asleep) is a
   * misfire, handled by the schedule's misfire policy.
   * @default 60_000
   */
  readonly misfireGraceMs?: number;
  /**
   * Longest timer; a longer wait is cut into pieces, so a wall-clock jump delays a fire by at most this.
   * @default 60_000
   */
  readonly maxTimerMs?: number;
}

/** A schedule as the scheduler sees it now. */
export interface ScheduleState {
  readonly pipeline: string;
  readonly schedule: Schedule;
  /** The next instant the timer waits for (epoch ms), or null before start / after stop. */
  readonly nextFire: number | null;
  /** The run this schedule launched that is still going. */
  readonly running: string | null;
  /** Fires waiting for that run (overlap `queue`), oldest first. */
  readonly queued: readonly number[];
  /** The newest fire this scheduler recorded or found in the ledger. */
  readonly lastFire: FireRecord | null;
}

interface Slot {
  readonly pipeline: string;
  readonly schedule: Schedule;
  /** The latest instant handled (fired, skipped or found in the ledger). */
  cursor: number;
  nextFire: number | null;
  timer: unknown;
  /** The fire whose run is going (runId null while it is being launched). */
  running: { fireTime: number; runId: string | null } | undefined;
  queue: number[];
  lastFire: FireRecord | null;
  /** Tail of this schedule's chain of work. */
  chain: Promise<void>;
}

/** Fires schedules on time, claims every fire in the ledger first, applies overlap and misfire policies. */
export class CronScheduler {
  readonly #opts: Required<Omit<CronSchedulerOptions, "timers">> & { timers: Timers };
  readonly #slots: Slot[];
  readonly #log: Logger;
  #state: "new" | "started" | "stopped" = "new";

  constructor(opts: CronSchedulerOptions) {
    this.#opts = { misfireGraceMs: 60_000, maxTimerMs: 60_000, ...opts, timers: opts.timers ?? realTimers };
    this.#log = opts.log.child({ component: "cron" });
    this.#slots = opts.schedules.map(({ pipeline, schedule }) => ({ pipeline, schedule, cursor: 0, nextFire: null, timer: undefined, running: undefined, queue: [], lastFire: null, chain: Promise.resolve() }));
  }

  /**
   * Reads the ledger, handles fires missed since each schedule's last recorded fire (misfire
   * policy), takes up fires left queued, and arms a timer per schedule.
   */
  async start(): Promise<void> {
    if (this.#state !== "new") return;
    this.#state = "started";
    const latest = await this.#opts.ledger.latest();
    const queued = await this.#opts.ledger.list({ status: "queued", limit: 10_000 });
    const now = this.#opts.clock();
    for (const slot of this.#slots) {
      const last = latest.find((f) => f.pipeline === slot.pipeline && f.scheduleId === slot.schedule.id);
      slot.lastFire = last ?? null;
      // Never fired: nothing to catch up, the first fire is the next instant.
      slot.cursor = last?.fireTime ?? now;
      slot.queue = queued.filter((f) => f.pipeline === slot.pipeline && f.scheduleId === slot.schedule.id).map((f) => f.fireTime).sort((a, b) => a - b);
      this.#enqueue(slot, () => this.#wake(slot));
    }
    await this.settled();
  }

  /** Stops the timers and waits for work in progress; runs already launched go on, queued fires stay in the ledger. */
  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    for (const slot of this.#slots) {
      if (slot.timer !== undefined) this.#opts.timers.clear(slot.timer);
      slot.timer = undefined;
      slot.nextFire = null;
    }
    await this.settled();
  }

  /** Every schedule's state. */
  list(): ScheduleState[] {
    return this.#slots.map((s) => ({ pipeline: s.pipeline, schedule: s.schedule, nextFire: s.nextFire, running: s.running?.runId ?? null, queued: [...s.queue], lastFire: s.lastFire }));
  }

  /** Resolves once no schedule has work in progress (runs may still be going). */
  async settled(): Promise<void> {
    for (;;) {
      const tails = this.#slots.map((s) => s.chain);
      await Promise.all(tails);
      // Let callbacks of settled promises (a run's `done`) enqueue their work, then look again.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#slots.every((s, i) => s.chain === tails[i])) return;
    }
  }

  /** Appends `fn` to the schedule's chain; a failure is logged, never breaks the chain. */
  #enqueue(slot: Slot, fn: () => Promise<void>): Promise<void> {
    const run = slot.chain.then(fn).catch((err: unknown) => {
      this.#log.error({ pipeline: slot.pipeline, schedule: slot.schedule.id, err }, "schedule work failed");
    });
    slot.chain = run;
    return run;
  }

  /** Handles the instants due now, then waits for the next one. */
  async #wake(slot: Slot): Promise<void> {
    slot.timer = undefined;
    if (this.#state !== "started") return;
    const now = this.#opts.clock();
    // Woken early (long waits are cut into pieces): nothing is due yet, wait on.
    if (slot.nextFire !== null && now < slot.nextFire) return this.#arm(slot);
    try {
      const due = dueInstants(slot.schedule, slot.cursor, now);
      if (due.latest !== undefined) {
        slot.cursor = due.latest;
        const late = now - due.latest > this.#opts.misfireGraceMs;
        if (!late) await this.#fire(slot, due.latest, "cron", due.count);
        else if (slot.schedule.misfire === "run-once") await this.#fire(slot, due.latest, "misfire", due.count);
        else await this.#record(slot, due.latest, "skipped", "misfire", due.count, `missed ${due.count} fire(s) while not running; misfire policy "skip"`);
      }
      await this.#pump(slot);
    } finally {
      // Even when the ledger failed (that instant is lost: it could not be claimed), keep firing.
      this.#arm(slot);
    }
  }

  #arm(slot: Slot): void {
    if (this.#state !== "started") return;
    const now = this.#opts.clock();
    const next = slot.nextFire !== null && slot.nextFire > now ? slot.nextFire : nextFires(slot.schedule, Math.max(now, slot.cursor), 1)[0];
    slot.nextFire = next ?? null;
    if (next === undefined) return;
    const delay = Math.min(Math.max(0, next - now), this.#opts.maxTimerMs, 2 ** 31 - 1);
    slot.timer = this.#opts.timers.set(() => this.#enqueue(slot, () => this.#wake(slot)), delay);
  }

  /** Claims a fire with the status its overlap policy gives it, then launches or queues it. */
  async #fire(slot: Slot, fireTime: number, reason: FireReason, instants: number): Promise<void> {
    if (slot.running !== undefined && slot.schedule.overlap === "skip") {
      await this.#record(slot, fireTime, "skipped", reason, instants, `previous run ${slot.running.runId ?? "(starting)"} still going; overlap policy "skip"`);
      return;
    }
    const busy = slot.running !== undefined || slot.queue.length > 0;
    const status: FireStatus = busy ? "queued" : "launching";
    if (!(await this.#record(slot, fireTime, status, reason, instants, null))) return;
    if (busy) slot.queue.push(fireTime);
    else await this.#launch(slot, fireTime);
  }

  /** Claims the row of a fire; false (and logged) when another scheduler already did. */
  async #record(slot: Slot, fireTime: number, status: FireStatus, reason: FireReason, instants: number, note: string | null): Promise<boolean> {
    const at = this.#opts.clock();
    const fire = { pipeline: slot.pipeline, scheduleId: slot.schedule.id, fireTime, status, reason, instants, note, claimedAt: at };
    const claimed = await this.#opts.ledger.claim(fire);
    const log = { pipeline: slot.pipeline, schedule: slot.schedule.id, fireTime: new Date(fireTime).toISOString(), status, reason, instants };
    if (!claimed) {
      this.#log.debug(log, "fire already claimed elsewhere");
      return false;
    }
    slot.lastFire = { ...fire, runId: null, updatedAt: at };
    this.#log.info(note === null ? log : { ...log, note }, "schedule fired");
    return true;
  }

  /** Sets a fire's ledger row (and the in-memory copy of the newest one). */
  async #update(slot: Slot, fireTime: number, status: FireStatus, extra: { runId?: string; note?: string }, from?: readonly FireStatus[]): Promise<boolean> {
    const at = this.#opts.clock();
    const changed = await this.#opts.ledger.update({ pipeline: slot.pipeline, scheduleId: slot.schedule.id, fireTime }, { status, at, ...extra }, from);
    if (changed && slot.lastFire?.fireTime === fireTime) slot.lastFire = { ...slot.lastFire, status, updatedAt: at, ...extra };
    return changed;
  }

  /** Launches the run of a claimed fire; when it is over, the next queued fire goes. */
  async #launch(slot: Slot, fireTime: number): Promise<void> {
    slot.running = { fireTime, runId: null };
    let started;
    try {
      started = await this.#opts.launch({ pipeline: slot.pipeline, params: slot.schedule.params, scheduleId: slot.schedule.id, fireTime });
    } catch (err) {
      slot.running = undefined;
      const message = err instanceof Error ? err.message : String(err);
      this.#log.error({ pipeline: slot.pipeline, schedule: slot.schedule.id, err }, "scheduled run could not start");
      await this.#update(slot, fireTime, "failed", { note: message });
      return;
    }
    slot.running = { fireTime, runId: started.runId };
    // Watch the run before touching the ledger: a failed ledger write must not leave the schedule
    // believing its run is still going (it would skip or queue every later fire).
    const finished = (note?: string) => () =>
      void this.#enqueue(slot, async () => {
        slot.running = undefined;
        await this.#updateLogged(slot, fireTime, "finished", note === undefined ? {} : { note });
        await this.#pump(slot);
      });
    started.done.then(finished(), (err: unknown) => finished(err instanceof Error ? err.message : String(err))());
    await this.#updateLogged(slot, fireTime, "launched", { runId: started.runId });
  }

  /** A ledger update whose failure is logged, not thrown: the run goes on either way. */
  async #updateLogged(slot: Slot, fireTime: number, status: FireStatus, extra: { runId?: string; note?: string }): Promise<void> {
    try {
      await this.#update(slot, fireTime, status, extra);
    } catch (err) {
      this.#log.error({ pipeline: slot.pipeline, schedule: slot.schedule.id, fireTime, status, err }, "fire ledger not updated");
    }
  }

  /** Launches queued fires, oldest first, while no run of the schedule is going. */
  async #pump(slot: Slot): Promise<void> {
    while (slot.running === undefined && slot.queue.length > 0 && this.#state === "started") {
      const fireTime = slot.queue.shift()!;
      // Hand-over queued → launching: if another process took the fire up meanwhile, leave it.
      if (await this.#update(slot, fireTime, "launching", {}, ["queued"])) await this.#launch(slot, fireTime);
    }
  }
}
