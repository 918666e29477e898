/** Human formatting helpers for the CLI. */

/** 950ms, 12.3s, 4m05s. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, "0")}s`;
}

/**
 * 12,345: an integer with comma thousands separators (en-US), without Intl, whose first use
 * costs ~8 ms of start-up in a short command.
 */
export function formatCount(n: number): string {
  const digits = String(Math.abs(Math.trunc(n)));
  let out = "";
  for (let end = digits.length; end > 0; end -= 3) out = digits.slice(Math.max(0, end - 3), end) + (out ? "," + out : "");
  return (n < 0 ? "-" : "") + out;
}

/** 1.2 MiB. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A left-aligned text table. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Short digest for people: first 12 hex digits. */
export function shortDigest(d: string | null | undefined): string {
  return d ? d.replace(/^sha256:/, "").slice(0, 12) : "-";
}

/** 2026-11-23 11:50:17 (local time). */
export function formatTime(ms: number | null | undefined): string {
  if (!ms) return "-";
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
