/** One line of the results table. */
export interface Row {
  /** Section letter and title, e.g. "a. engine overhead". */
  readonly section: string;
  readonly name: string;
  /** The measured figure, formatted with its unit. */
  readonly measured: string;
  /** The floor measured in the same run, formatted with its unit ("" when none). */
  readonly floor: string;
  /** How the measured figure compares to the floor ("" when none). */
  readonly ratio: string;
  /** The target ("" when the row is informational). */
  readonly target: string;
  /** Whether the target was met; null for informational rows. */
  readonly met: boolean | null;
}

const HEAD = ["section", "case", "measured", "floor (same run)", "vs floor", "target", "met"];

function cells(r: Row): string[] {
  return [r.section, r.name, r.measured, r.floor, r.ratio, r.target, r.met === null ? "" : r.met ? "yes" : "NO"];
}

/** A plain-text table for stdout. */
export function textTable(rows: readonly Row[]): string {
  const all = [HEAD, ...rows.map(cells)];
  const widths = HEAD.map((_, c) => Math.max(...all.map((r) => r[c]!.length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(HEAD), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map((r) => line(cells(r)))].join("\n");
}

/** A Markdown table. */
export function markdownTable(rows: readonly Row[]): string {
  const esc = (s: string): string => s.replace(/\|/g, "\\|");
  return [`| ${HEAD.join(" | ")} |`, `| ${HEAD.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${cells(r).map(esc).join(" | ")} |`)].join("\n");
}
