import type { MessagePort } from "node:worker_threads";

/** What the HTTP worker is started with (plain data, plus the port of the blocking channel). */
export interface WorkerInit {
  /** Base URL of the cache server, without `/v8`. */
  readonly url: string;
  readonly token: string | undefined;
  /** Query string that scopes every request to the team (`teamId=…` or `slug=…`). */
  readonly teamQuery: string;
  readonly timeoutMs: number;
  /** Most requests in flight at once, reads and uploads each. */
  readonly concurrency: number;
  /** Bodies up to this size come back as bytes; larger ones are streamed to a file in `tmpDir`. */
  readonly inlineMaxBytes: number;
  readonly tmpDir: string;
  /** The worker refuses every upload. */
  readonly readOnly: boolean;
  /** Bumped (and notified) by the worker after it posts each blocking reply. */
  readonly flag: Int32Array;
  readonly syncPort: MessagePort;
}

/** A blocking request: fetch these artifacts (by server name). */
export interface FetchRequest {
  readonly id: number;
  readonly names: readonly string[];
}

/** One artifact's answer. `sha256` is the hex hash of the body, computed while it streamed in. */
export type FetchResult =
  | { readonly status: "hit"; readonly sha256: string; readonly size: number; readonly bytes: Uint8Array }
  | { readonly status: "hit"; readonly sha256: string; readonly size: number; readonly path: string }
  | { readonly status: "miss" }
  | { readonly status: "unavailable"; readonly reason: string };

/** The reply to a `FetchRequest`, in the same order. */
export interface FetchReply {
  readonly id: number;
  readonly results: readonly FetchResult[];
}

/**
 * One artifact to upload: bytes, or a local file streamed from disk; or, for an object this
 * machine does not hold (a remote worker made it), one that must already be on the server.
 */
export type UploadItem =
  | { readonly name: string; readonly bytes: Uint8Array }
  | { readonly name: string; readonly path: string; readonly size: number }
  | { readonly name: string; readonly onServer: true };

/** Upload `objects` (write-once each), then, only if all of them are on the server, `entry` (if any). */
export interface UploadJob {
  readonly id: number;
  readonly objects: readonly UploadItem[];
  readonly entry?: UploadItem;
}

/** How an upload job ended. `put`: artifacts written; `present`: already there (not overwritten). */
export type UploadReply =
  | { readonly id: number; readonly status: "done"; readonly put: number; readonly present: number }
  | { readonly id: number; readonly status: "skipped"; readonly reason: string }
  | { readonly id: number; readonly status: "unavailable"; readonly reason: string };
