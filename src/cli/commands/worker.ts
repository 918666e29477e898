import { loadConfig } from "../../config/index.ts";
import { DEFAULT_QUEUE, isQueueName } from "../../define/index.ts";
import { SluiceError } from "../../errors.ts";
import { RemoteWorker } from "../../executors/remote/index.ts";
import { createLogger } from "../../log.ts";
import { durationFlag, intFlag, parseCommand } from "../args.ts";
import type { CliIo } from "../io.ts";

/** Help text of `sluice worker`. */
export const WORKER_HELP = `Usage: sluice worker [options]

Runs remote steps (executor: "remote" or { queue: "gpu" }) for any coordinator using the same
Redis (SLUICE_REDIS_URL) and key prefix (SLUICE_REDIS_PREFIX). Steps load from this workspace
(the same commit as the coordinator's: a step whose code fingerprint differs is refused) and
run on this worker's own thread pool; inputs and outputs go through the coordinators' cache:
the same cache folder, or the same cache server (SLUICE_REMOTE_CACHE_URL and its settings).

Options:
      --queue NAME           queue to take jobs from (default: ${DEFAULT_QUEUE})
      --concurrency N        steps at once (default: 1)
      --threads N            pool threads the steps run on; steps beyond them wait for a free
                             one (default: the smaller of --concurrency and this machine's cores)
      --pool-only            run every step on the pool; by default a step that took under 1 ms
                             20 times in a row runs on the worker's event loop (a thread hand-off
                             costs more than a no-op step) until one run there takes over 10 ms
      --lock-duration D      a killed worker's job goes to another worker after this (default: 30s)
      --stalled-interval D   how often to look for jobs of dead workers (default: 30s)
      --json                 print one JSON line when ready and one when stopped
  -w, --workspace DIR        project folder (default: current folder)
  -h, --help                 show this help

Stops on SIGINT or SIGTERM after its running steps finish; a second signal stops at once (the
running jobs go back to the queue for other workers).
`;

/** `sluice worker`: a long-running process; resolves with its exit code once stopped. */
export async function workerCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand("worker", argv, {
    queue: { type: "string" },
    concurrency: { type: "string" },
    threads: { type: "string" },
    "pool-only": { type: "boolean" },
    "lock-duration": { type: "string" },
    "stalled-interval": { type: "string" },
  });
  if (values.help) {
    io.out(WORKER_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    io.err(`sluice worker: takes no arguments, got ${positionals.join(" ")}.\n\n${WORKER_HELP}`);
    return 2;
  }
  const queue = values.queue ?? DEFAULT_QUEUE;
  if (!isQueueName(queue)) throw new SluiceError("SLUICE_USAGE", `sluice worker: --queue ${JSON.stringify(queue)} is not a queue name; use letters, digits, "-", "_", "." (no ":").`, { field: "queue", value: queue });
  const concurrency = intFlag("worker", "concurrency", values.concurrency) ?? 1;
  const threads = intFlag("worker", "threads", values.threads);
  const lockDurationMs = durationFlag("worker", "lock-duration", values["lock-duration"]);
  const stalledIntervalMs = durationFlag("worker", "stalled-interval", values["stalled-interval"]);
  const config = await loadConfig({ root: values.workspace });
  if (!config.redisUrl) {
    throw new SluiceError("SLUICE_CONFIG_INVALID", "sluice worker: no Redis is configured. Fix: set SLUICE_REDIS_URL=redis://host:6379 (or redisUrl in sluice.config.ts), the same as the coordinators'.", { field: "redisUrl" });
  }
  const worker = new RemoteWorker({
    root: config.root, cacheDir: config.cacheDir, redisUrl: config.redisUrl, prefix: config.redisPrefix, queue, concurrency,
    ...(threads !== undefined ? { threads } : {}),
    ...(values["pool-only"] ? { inlineQuickSteps: false } : {}),
    ...(config.remoteCache ? { remoteCache: config.remoteCache } : {}),
    logger: createLogger({ level: config.logLevel }),
    ...(lockDurationMs !== undefined ? { lockDurationMs } : {}),
    ...(stalledIntervalMs !== undefined ? { stalledIntervalMs } : {}),
  });
  let signals = 0;
  let stop!: (force: boolean) => void;
  const stopped = new Promise<boolean>((resolve) => (stop = resolve));
  const onSignal = (): void => {
    signals++;
    if (signals === 1 && !values.json) io.err(`worker ${worker.label}: stopping after the running steps (signal again to stop at once)\n`);
    stop(signals > 1);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    // A signal while it still waits for Redis stops it at once.
    const first = await Promise.race([worker.start().then(() => "started" as const), stopped.then(() => "stopped" as const)]);
    if (first === "stopped") {
      await worker.close(true);
      return 0;
    }
    if (values.json) io.out(`${JSON.stringify({ ready: true, worker: worker.label, queue, prefix: config.redisPrefix, concurrency })}\n`);
    else io.err(`worker ${worker.label} ready: queue "${queue}" (prefix ${config.redisPrefix}), concurrency ${concurrency}, workspace ${config.root}\n`);
    const force = await stopped;
    // A second signal while closing gracefully turns it into a forced close.
    const closing = worker.close(force);
    const forced = new Promise<void>((resolve) => process.once("SIGINT", resolve).once("SIGTERM", resolve)).then(() => worker.close(true));
    await Promise.race([closing, forced]);
    if (values.json) io.out(`${JSON.stringify({ stopped: true, worker: worker.label, ...worker.counts })}\n`);
    else io.err(`worker ${worker.label} stopped: ${worker.counts.succeeded} succeeded, ${worker.counts.failed} failed\n`);
    return 0;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
