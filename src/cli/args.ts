import { parseArgs, type ParseArgsConfig } from "node:util";
import type { TObject, TSchema } from "@sinclair/typebox";
import { SluiceError } from "../errors.ts";

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  workspace: { type: "string", short: "w" },
} as const satisfies ParseArgsConfig["options"];

/** Parses a command's argv strictly: an unknown flag is a usage error naming it. */
export function parseCommand<O extends NonNullable<ParseArgsConfig["options"]>>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new SluiceError("SLUICE_USAGE", `sluice ${command}: ${(err as Error).message}. See \`sluice ${command} --help\`.`, { command });
  }
}

function propSchema(schema: TObject, path: string[]): TSchema | undefined {
  let cur: TSchema | undefined = schema;
  for (const seg of path) cur = (cur as TObject | undefined)?.properties?.[seg];
  return cur;
}

function coerce(raw: string, schema: TSchema | undefined): unknown {
  const types = [schema?.type].flat().filter(Boolean) as string[];
  if (types.includes("string") && types.length === 1) return raw;
  if (types.some((t) => t === "number" || t === "integer") && raw.trim() !== "" && !Number.isNaN(Number(raw))) return Number(raw);
  if (types.includes("boolean") && (raw === "true" || raw === "false")) return raw === "true";
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * `--param k=v` pairs into a params object. Values are read as the schema's type says (a string
 * param stays a string; numbers, booleans, arrays and objects are parsed); dotted keys nest.
 */
export function parseParamFlags(pairs: readonly string[], schema: TObject, command: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new SluiceError("SLUICE_USAGE", `sluice ${command}: --param ${JSON.stringify(pair)} is not NAME=VALUE. Example: --param top=10.`, { field: pair });
    const path = pair.slice(0, eq).split(".");
    if (path.some((seg) => seg === "" || seg === "__proto__" || seg === "constructor" || seg === "prototype")) {
      throw new SluiceError("SLUICE_USAGE", `sluice ${command}: --param ${JSON.stringify(pair)} has an empty or reserved name segment. Use NAME or NAME.FIELD.`, { field: pair });
    }
    let target = out;
    for (const seg of path.slice(0, -1)) {
      const next = Object.hasOwn(target, seg) ? target[seg] : (target[seg] = {});
      if (typeof next !== "object" || next === null || Array.isArray(next)) {
        throw new SluiceError("SLUICE_USAGE", `sluice ${command}: --param ${JSON.stringify(pair)} sets a field of "${seg}", which another --param already set to a value. Set the whole object or only its fields.`, { field: pair });
      }
      target = next as Record<string, unknown>;
    }
    target[path.at(-1)!] = coerce(pair.slice(eq + 1), propSchema(schema, path));
  }
  return out;
}

/** A non-negative integer flag, or a usage error naming it. */
export function intFlag(command: string, name: string, raw: string | undefined, min = 1): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < min) throw new SluiceError("SLUICE_USAGE", `sluice ${command}: --${name} ${JSON.stringify(raw)} must be a whole number ≥ ${min}.`, { field: name, value: raw });
  return n;
}

/** "30d", "12h", "15m", "45s" → ms. */
export function durationFlag(command: string, name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(raw.trim());
  if (!m) throw new SluiceError("SLUICE_USAGE", `sluice ${command}: --${name} ${JSON.stringify(raw)} is not a duration. Use e.g. 30d, 12h, 15m, 45s.`, { field: name, value: raw });
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as "ms" | "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

/** "500MB", "2GiB", "1024" (bytes) → bytes. */
export function sizeFlag(command: string, name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/i.exec(raw.trim());
  if (!m) throw new SluiceError("SLUICE_USAGE", `sluice ${command}: --${name} ${JSON.stringify(raw)} is not a size. Use e.g. 500MB or 2GiB.`, { field: name, value: raw });
  const units: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };
  return Math.round(Number(m[1]) * units[(m[2] ?? "b").toLowerCase()]!);
}
