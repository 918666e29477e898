import { pino, type Logger } from "pino";

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
  return pino(
    {
      level: opts.level ?? "warn",
      base: { app: "sluice" },
      redact: { paths: ["token", "*.token", "authorization", "*.authorization", "password", "*.password", "secret", "*.secret", "*.signingKey"], censor: "[redacted]" },
    },
    (opts.destination ?? process.stderr) as pino.DestinationStream,
  );
}

/** A logger that drops everything (library default when none is passed). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
