import type { KeyRecord } from "./cache-key.ts";

/** Code component of a key, as explain needs it. */
export interface CodeFiles {
  readonly files: Readonly<Record<string, string>>;
  readonly packages: Readonly<Record<string, string>>;
}

/** One component of a cache key that differs between two entries. */
export type KeyChange =
  | { readonly component: "code"; readonly file: string; readonly old: string | null; readonly new: string | null }
  | { readonly component: "package"; readonly name: string; readonly old: string | null; readonly new: string | null }
  | { readonly component: "param"; readonly path: string; readonly old: unknown; readonly new: unknown }
  | { readonly component: "input"; readonly port: string; readonly old: string | null; readonly new: string | null }
  | { readonly component: "env"; readonly name: string; readonly old: string | null; readonly new: string | null }
  | { readonly component: "version" | "format" | "step"; readonly old: unknown; readonly new: unknown };

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Leaf-level differences between two JSON values, as dotted paths (array items as `[i]`). */
export function diffJson(a: unknown, b: unknown, prefix = ""): Array<{ path: string; old: unknown; new: unknown }> {
  if (same(a, b)) return [];
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diffJson(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((v, i) => diffJson(v, b[i], `${prefix}[${i}]`));
  }
  return [{ path: prefix, old: a, new: b }];
}

function diffMaps(a: Readonly<Record<string, string | null>>, b: Readonly<Record<string, string | null>>): Array<{ key: string; old: string | null; new: string | null }> {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => (a[k] ?? null) !== (b[k] ?? null)).map((k) => ({ key: k, old: a[k] ?? null, new: b[k] ?? null }));
}

/** What changed from an older key record (and its code files) to a newer one. */
export function explainChanges(old: { record: KeyRecord; code: CodeFiles | undefined }, cur: { record: KeyRecord; code: CodeFiles | undefined }): KeyChange[] {
  const out: KeyChange[] = [];
  for (const c of ["format", "step", "version"] as const) {
    if (!same(old.record[c], cur.record[c])) out.push({ component: c, old: old.record[c], new: cur.record[c] });
  }
  if (old.record.code !== cur.record.code) {
    if (old.code && cur.code) {
      for (const d of diffMaps(old.code.files, cur.code.files)) out.push({ component: "code", file: d.key, old: d.old, new: d.new });
      for (const d of diffMaps(old.code.packages, cur.code.packages)) out.push({ component: "package", name: d.key, old: d.old, new: d.new });
    } else {
      out.push({ component: "code", file: "(code manifest not recorded)", old: old.record.code, new: cur.record.code });
    }
  }
  for (const d of diffJson(old.record.params, cur.record.params)) out.push({ component: "param", path: d.path, old: d.old, new: d.new });
  for (const d of diffMaps(old.record.inputs, cur.record.inputs)) out.push({ component: "input", port: d.key, old: d.old, new: d.new });
  for (const d of diffMaps(old.record.env, cur.record.env)) out.push({ component: "env", name: d.key, old: d.old, new: d.new });
  return out;
}

function short(v: unknown): string {
  if (typeof v === "string" && v.startsWith("sha256:")) return v.slice(7, 19);
  return v === undefined ? "(unset)" : JSON.stringify(v);
}

/** One line per change, for people: `param top: 10 → 20`, `code steps/count.ts changed`. */
export function formatChange(c: KeyChange): string {
  switch (c.component) {
    case "code":
      return c.old === null ? `code ${c.file} added` : c.new === null ? `code ${c.file} no longer imported` : `code ${c.file} changed`;
    case "package":
      return `package ${c.name} ${c.old ?? "(none)"} → ${c.new ?? "(none)"}`;
    case "param":
      return `param ${c.path}: ${short(c.old)} → ${short(c.new)}`;
    case "input":
      return `input ${c.port}: ${short(c.old)} → ${short(c.new)}`;
    case "env":
      return `env ${c.name} ${c.old === null ? "set" : c.new === null ? "unset" : "changed"}`;
    case "version":
    case "format":
    case "step":
      return `${c.component} ${short(c.old)} → ${short(c.new)}`;
    default: {
      const never: never = c;
      return String(never);
    }
  }
}
