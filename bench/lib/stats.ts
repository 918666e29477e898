/** Wall-clock now in nanoseconds (monotonic). */
export function nowNs(): bigint {
  return process.hrtime.bigint();
}

/** Milliseconds since `start` (a `nowNs()` reading). */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Median of a non-empty sample. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median of an empty sample");
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Times an async function once, in ms. */
export async function timeMs(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = nowNs();
  await fn();
  return msSince(t);
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Formats a number with a fixed count of significant-looking decimals. */
export function fmt(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return String(x);
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A difference with its sign: "+12.0", "-3.5". */
export function signed(x: number, digits = 1): string {
  const v = Number(x.toFixed(digits)); // so that -0.3 rounds to "+0", not "-0"
  return `${v < 0 ? "-" : "+"}${fmt(Math.abs(v), digits)}`;
}
