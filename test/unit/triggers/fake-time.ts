/**
 * Time the test moves by hand: a clock and setTimeout-like timers. `advanceTo` runs due timers in
 * order, each at its own instant, awaiting the promise a callback returns before the next one.
 */
import type { Timers } from "../../../src/triggers/index.ts";

/** A controllable clock and its timers. */
export class FakeTime {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => unknown }>();

  constructor(start: number) {
    this.#now = start;
  }

  /** The fake `Date.now`. */
  readonly clock = (): number => this.#now;

  /** Timers that fire only inside `advanceTo`. */
  readonly timers: Timers = {
    set: (fn, delayMs) => {
      this.#seq += 1;
      this.#timers.set(this.#seq, { at: this.#now + Math.max(0, delayMs), fn });
      return this.#seq;
    },
    clear: (handle) => void this.#timers.delete(handle as number),
  };

  /** Timers armed and not yet fired. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time to `t` (epoch ms), firing every timer due on the way at its instant. */
  async advanceTo(t: number): Promise<void> {
    for (;;) {
      let next: [number, { at: number; fn: () => unknown }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= t && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      await next[1].fn();
    }
    this.#now = Math.max(this.#now, t);
  }

  /** Jumps to `t` without firing timers (the process was down). */
  jumpTo(t: number): void {
    this.#now = t;
  }
}
