import type { RetryPolicy } from "../define/index.ts";
import type { SerializedError } from "../errors.ts";

/** Codes that never earn another attempt. */
const NON_RETRYABLE = new Set(["SLUICE_NON_RETRYABLE", "SLUICE_RUN_CANCELLED", "SLUICE_STEP_OUTPUT_INVALID", "SLUICE_DEFINITION_INVALID", "SLUICE_WORKER_CODE_MISMATCH"]);

/** Whether a failed attempt is tried again under this policy. */
export function shouldRetry(policy: RetryPolicy | undefined, attempt: number, error: SerializedError): boolean {
  return policy !== undefined && attempt < policy.attempts && !NON_RETRYABLE.has(error.code);
}

/**
 * Delay before attempt `attempt + 1`: exponential from `baseDelayMs`, capped at `maxDelayMs`,
 * with jitter in [50%, 100%] so retries of many steps spread out.
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = policy.baseDelayMs ?? 1000;
  const max = policy.maxDelayMs ?? 60_000;
  const exp = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(exp * (0.5 + random() * 0.5));
}
