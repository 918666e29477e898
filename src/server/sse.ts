/**
 * Server-sent events over a hijacked fastify reply: `id`, `event` and `data` lines per event, a
 * comment every `heartbeatMs` so proxies keep the connection open, and an end when the source
 * says so or the client leaves.
 */
import type { FastifyReply } from "fastify";

/** One event to send. */
export interface SseEvent {
  readonly id: number;
  readonly event: string;
  readonly data: unknown;
}

/** An open stream: `send` events, `end` it; `closed` resolves when either side ends it. */
export interface SseStream {
  send(e: SseEvent): void;
  end(): void;
  readonly closed: Promise<void>;
}

/** Takes over `reply` and starts an event stream on it. */
export function openSse(reply: FastifyReply, opts: { heartbeatMs?: number } = {}): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", connection: "keep-alive", "x-accel-buffering": "no" });
  res.write(": sluice run events\n\n");
  let open = true;
  let markClosed!: () => void;
  const closed = new Promise<void>((r) => (markClosed = r));
  const heartbeat = setInterval(() => open && res.write(": ping\n\n"), opts.heartbeatMs ?? 15_000);
  heartbeat.unref();
  const finish = (): void => {
    if (!open) return;
    open = false;
    clearInterval(heartbeat);
    markClosed();
  };
  res.on("close", finish);
  return {
    send(e) {
      if (open) res.write(`id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
    },
    end() {
      if (!open) return;
      finish();
      res.end();
    },
    closed,
  };
}
