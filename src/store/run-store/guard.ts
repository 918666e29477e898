import { SluiceError } from "../../errors.ts";

/**
 * A guard for one store's database calls: errors that are not already SluiceErrors become
 * SLUICE_STORE_FAILED naming the store, the operation and what to check.
 */
export function storeGuard(store: string, fix: string): <T>(op: string, fn: () => Promise<T>) => Promise<T> {
  return async (op, fn) => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      const what = err instanceof Error ? err.message : String(err);
      throw new SluiceError("SLUICE_STORE_FAILED", `${store} › ${op}: ${what}. ${fix}`, { op }, { cause: err });
    }
  };
}
