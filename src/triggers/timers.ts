/**
 * The timer seam of the cron scheduler: real `setTimeout` in `sluice serve`, a fake in tests that
 * moves time by hand (no real waiting).
 */

/** A setTimeout-like timer source. */
export interface Timers {
  /**
   * Calls `fn` once after `delayMs`; returns a handle for `clear`. A fake may await the promise
   * `fn` returns before moving on; real timers ignore it.
   */
  set(fn: () => unknown, delayMs: number): unknown;
  /** Cancels a timer made by `set` (no effect once it has fired). */
  clear(handle: unknown): void;
}

/** `setTimeout`/`clearTimeout`. */
export const realTimers: Timers = {
  set: (fn, delayMs) => setTimeout(() => void fn(), delayMs),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
