/**
 * Every error sluice raises carries a stable `code` from this catalogue, a message that says
 * where, what and the fix, and plain-JSON `details`. Codes are never reused once shipped.
 * README's "Error codes" table is kept in sync with this catalogue by a unit test.
 */

/** Exit code the CLI uses for an error of this kind. */
export type ExitCode = 1 | 2 | 130;

interface CatalogueEntry {
  /** What the code means, as README shows it. */
  readonly summary: string;
  /** Exit code of `sluice` when this error ends a command. */
  readonly exit: ExitCode;
  /** HTTP status when the service answers with this error. */
  readonly status: number;
}

/** The error-code catalogue. */
export const ERROR_CODES = {
  SLUICE_USAGE: { summary: "Unknown command, flag or malformed argument on the command line.", exit: 2, status: 400 },
  SLUICE_CONFIG_INVALID: { summary: "`sluice.config.ts` or a `SLUICE_*` variable is malformed or out of range.", exit: 2, status: 500 },
  SLUICE_WORKSPACE_INVALID: { summary: "The workspace folder does not exist or has no `pipelines/` folder.", exit: 2, status: 500 },
  SLUICE_PIPELINE_NOT_FOUND: { summary: "No pipeline of that name in the workspace's `pipelines/`.", exit: 2, status: 404 },
  SLUICE_PIPELINE_LOAD_FAILED: { summary: "A pipeline module failed to import (syntax error, throwing top-level code, no default export).", exit: 2, status: 500 },
  SLUICE_DEFINITION_INVALID: { summary: "A `defineStep`/`definePipeline` call is malformed (bad name, port kind, executor, cache policy).", exit: 2, status: 400 },
  SLUICE_PLAN_INVALID: { summary: "The pipeline's graph failed validation; `details.problems` lists every problem (cycle, unknown or unwired input, type mismatch, duplicate id, invalid params).", exit: 2, status: 400 },
  SLUICE_PARAMS_INVALID: { summary: "Pipeline or step params do not match their schema (wrong type, out of range, unknown).", exit: 2, status: 400 },
  SLUICE_INPUT_MISSING: { summary: "A source file or folder the pipeline reads does not exist.", exit: 2, status: 400 },
  SLUICE_RUN_NOT_FOUND: { summary: "No run with that id in the run store.", exit: 2, status: 404 },
  SLUICE_STEP_FAILED: { summary: "A step's `run` threw or returned invalid outputs; the run failed.", exit: 1, status: 500 },
  SLUICE_STEP_OUTPUT_INVALID: { summary: "A step returned outputs that do not match its declared ports.", exit: 1, status: 500 },
  SLUICE_STEP_TIMEOUT: { summary: "A step ran longer than its `timeoutMs`.", exit: 1, status: 500 },
  SLUICE_NON_RETRYABLE: { summary: "A step threw `NonRetryableError`: it failed without further attempts.", exit: 1, status: 500 },
  SLUICE_RUN_CANCELLED: { summary: "The run was cancelled (Ctrl-C or API); running steps were recorded `cancelled`.", exit: 130, status: 409 },
  SLUICE_CACHE_CORRUPT: { summary: "A cache object's bytes do not match its digest; it is treated as a miss and the step reruns.", exit: 1, status: 500 },
  SLUICE_STORE_FAILED: { summary: "The cache or run store could not be read or written (disk full, permissions, locked database).", exit: 1, status: 500 },
  SLUICE_INTERNAL: { summary: "A bug in sluice; please report it with the run id.", exit: 1, status: 500 },
  SLUICE_INPUT_UNSUPPORTED: { summary: "A source path is of a kind sluice cannot hash (symlink, socket, device, or a folder where a file was expected).", exit: 2, status: 400 },
  SLUICE_DATA_INVALID: { summary: "Input data is malformed (ragged row, text in a numeric column, …); the message names file, row and column.", exit: 2, status: 400 },
  SLUICE_MODEL_NOT_FOUND: { summary: "No model of that name and version in the registry.", exit: 2, status: 404 },
  SLUICE_REQUEST_INVALID: { summary: "An HTTP request is malformed (bad JSON, wrong type, unknown field, unsafe path); `field` names the part.", exit: 2, status: 400 },
  SLUICE_UNAUTHENTICATED: { summary: "The request has no valid bearer token (missing, unknown or revoked).", exit: 2, status: 401 },
  SLUICE_FORBIDDEN: { summary: "The token's role may not do this: viewer reads; operator triggers, cancels and scores; admin deploys and manages tokens.", exit: 2, status: 403 },
  SLUICE_ROUTE_NOT_FOUND: { summary: "No HTTP route with that method and path.", exit: 2, status: 404 },
  SLUICE_PAYLOAD_TOO_LARGE: { summary: "The request body is larger than the server's limit.", exit: 2, status: 413 },
  SLUICE_TOKEN_EXISTS: { summary: "A live token of that name exists; revoke it first or pick another name.", exit: 2, status: 409 },
  SLUICE_TOKEN_NOT_FOUND: { summary: "No live token of that name.", exit: 2, status: 404 },
  SLUICE_RUN_NOT_ACTIVE: { summary: "The run is not running in this server (finished, or owned by another process), so it cannot be cancelled here.", exit: 2, status: 409 },
  SLUICE_WORKER_CODE_MISMATCH: { summary: "A `sluice worker` refused a remote step: its checkout's code fingerprint for the step differs from the coordinator's. Deploy the same code to the worker and restart it.", exit: 1, status: 500 },
  SLUICE_REMOTE_UNAVAILABLE: { summary: "Remote steps could not be run: Redis is unreachable, or it lost the step's job (restarted without persistence), or no worker could see the shared cache.", exit: 1, status: 503 },
  SLUICE_ENDPOINT_NOT_FOUND: { summary: "No model endpoint of that name (no deployment in the registry serves it).", exit: 2, status: 404 },
  SLUICE_JOB_NOT_FOUND: { summary: "No batch scoring job of that id on this endpoint (jobs live in the serving process's memory).", exit: 2, status: 404 },
  SLUICE_SCORING_FAILED: { summary: "onnxruntime-node could not load or run an endpoint's model.", exit: 1, status: 500 },
  SLUICE_KEY_IN_USE: { summary: "Another server is still starting the run of this Idempotency-Key (it has no run id yet); send the request again in a moment.", exit: 2, status: 409 },
  SLUICE_QUEUE_FULL: { summary: "The server has as much queued work of that kind as it takes (batch scoring jobs); try again once some has finished.", exit: 1, status: 429 },
} as const satisfies Record<string, CatalogueEntry>;

/** A code from the catalogue. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Plain-JSON context: pipeline, step, field, value, path… */
export type ErrorDetails = Record<string, unknown>;

/** The one error type sluice throws; callers branch on `code`, never on `instanceof` across threads. */
export class SluiceError extends Error {
  override readonly name: string = "SluiceError";
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /** Exit code of the CLI for this error. */
  get exitCode(): ExitCode {
    return ERROR_CODES[this.code].exit;
  }

  /** Plain JSON, safe to send across threads, processes and HTTP. */
  toJSON(): SerializedError {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** A step throws this to fail at once, with no further attempts. */
export class NonRetryableError extends SluiceError {
  override readonly name = "NonRetryableError";
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super("SLUICE_NON_RETRYABLE", message, details, options);
  }
}

/** Wire form of an error crossing a thread, process or HTTP boundary. */
export interface SerializedError {
  code: string;
  message: string;
  details?: ErrorDetails;
  stack?: string;
}

/** Turns anything thrown into the wire form, keeping code and stack where present. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof SluiceError) return { ...err.toJSON(), ...(err.stack ? { stack: err.stack } : {}) };
  if (err instanceof Error) {
    const raw = (err as unknown as { code?: unknown }).code;
    const code = typeof raw === "string" && raw.startsWith("SLUICE_") ? raw : "SLUICE_STEP_FAILED";
    return { code, message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
  }
  return { code: "SLUICE_STEP_FAILED", message: String(err) };
}

/** True when `code` is in the catalogue. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** Rebuilds a SluiceError from its wire form (unknown codes become SLUICE_STEP_FAILED). */
export function deserializeError(e: SerializedError): SluiceError {
  const err = new SluiceError(isErrorCode(e.code) ? e.code : "SLUICE_STEP_FAILED", e.message, e.details ?? {});
  if (e.stack) err.stack = e.stack;
  return err;
}
