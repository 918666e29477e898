import { createRequire } from "node:module";
import type { Logger, LoggerOptions } from "pino";

/** The logger type passed down from the edge. */
export type { Logger };

/** Log levels sluice accepts. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** One of `LOG_LEVELS`. */
export type LogLevelName = (typeof LOG_LEVELS)[number];

/**
 * The root logger, made once at the edge (CLI, server) and passed down; components take child
 * loggers. JSON lines on stderr by default; tokens and secrets are redacted.
 */
export function createLogger(opts: { level?: LogLevelName; destination?: NodeJS.WritableStream } = {}): Logger {
  return pinoOf()(pinoOptions(opts.level ?? "warn"), (opts.destination ?? process.stderr) as NodeJS.WritableStream & { write(s: string): boolean });
}

/** A logger that drops everything (a real pino logger: one that fastify accepts). */
export function silentLogger(): Logger {
  return pinoOf()({ level: "silent" });
}

/**
 * A logger for short commands (`sluice run`, `sluice show`…) and a workspace's default: it loads
 * pino only when a line at an enabled level is written, so a command that logs nothing does not
 * pay pino's ~15 ms of loading. It has the methods sluice's components call (error, warn,
 * info, debug, child, isLevelEnabled); pass `createLogger` to servers (fastify needs all of pino).
 */
export function deferredLogger(opts: { level?: LogLevelName; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? "warn";
  let root: Logger | undefined;
  const real = (): Logger => (root ??= createLogger(opts));
  return new DeferredLogger(LEVEL_VALUES[level], real, []) as unknown as Logger;
}

const LEVEL_VALUES: Record<LogLevelName, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

type LogArgs = [unknown, ...unknown[]];

class DeferredLogger {
  readonly #min: number;
  readonly #root: () => Logger;
  readonly #bindings: ReadonlyArray<Record<string, unknown>>;
  #real: Logger | undefined;

  constructor(min: number, root: () => Logger, bindings: ReadonlyArray<Record<string, unknown>>) {
    this.#min = min;
    this.#root = root;
    this.#bindings = bindings;
  }

  #logger(): Logger {
    if (!this.#real) {
      let l = this.#root();
      for (const b of this.#bindings) l = l.child(b);
      this.#real = l;
    }
    return this.#real;
  }

  isLevelEnabled(level: string): boolean {
    return (LEVEL_VALUES[level as LogLevelName] ?? Infinity) >= this.#min;
  }

  child(bindings: Record<string, unknown>): DeferredLogger {
    return new DeferredLogger(this.#min, this.#root, [...this.#bindings, bindings]);
  }

  fatal(...args: LogArgs): void {
    this.#write("fatal", args);
  }
  error(...args: LogArgs): void {
    this.#write("error", args);
  }
  warn(...args: LogArgs): void {
    this.#write("warn", args);
  }
  info(...args: LogArgs): void {
    this.#write("info", args);
  }
  debug(...args: LogArgs): void {
    this.#write("debug", args);
  }
  trace(...args: LogArgs): void {
    this.#write("trace", args);
  }

  /** Writes through pino (made now if need be) when `level` is enabled. */
  #write(level: Exclude<LogLevelName, "silent">, args: LogArgs): void {
    if (LEVEL_VALUES[level] >= this.#min) (this.#logger()[level] as (...a: LogArgs) => void)(...args);
  }
}

function pinoOptions(level: LogLevelName): LoggerOptions {
  return {
    level,
    base: { app: "sluice" },
    redact: { paths: ["token", "*.token", "authorization", "*.authorization", "password", "*.password", "secret", "*.secret", "*.signingKey"], censor: "[redacted]" },
  };
}

type PinoFactory = (opts: LoggerOptions, destination?: NodeJS.WritableStream & { write(s: string): boolean }) => Logger;

let pinoFactory: PinoFactory | undefined;

/** pino, loaded on first use (it is CommonJS). */
function pinoOf(): PinoFactory {
  return (pinoFactory ??= (createRequire(import.meta.url)("pino") as { pino: PinoFactory }).pino);
}
