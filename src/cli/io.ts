/** Where the CLI writes; tests pass buffers, `main` passes the process streams. */
export interface CliIo {
  /** Results (tables, JSON). */
  out(text: string): void;
  /** Progress, warnings and errors. */
  err(text: string): void;
  /** Progress is redrawn in place only on a terminal. */
  readonly isTTY: boolean;
  readonly columns: number;
  /** Epoch ms. */
  readonly now: () => number;
}

/** The process's streams. */
export function processIo(): CliIo {
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    isTTY: Boolean(process.stderr.isTTY),
    columns: process.stderr.columns ?? 100,
    now: Date.now,
  };
}
