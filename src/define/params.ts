import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import type { TObject, TSchema } from "@sinclair/typebox";

// Schemas come from TypeBox, so they are well-formed: skip compiling the meta-schema (~100 ms at
// start-up), and so skip adding the meta-schemas too (`meta: false`: the constructor took 6.7 →
// 2.5 ms in a bare process).
const ajv = new Ajv2020({ allErrors: true, useDefaults: true, coerceTypes: false, removeAdditional: false, strict: false, validateSchema: false, meta: false });

/** One params problem: the path inside the params object and what is wrong. */
export interface ParamIssue {
  /** Dotted path, e.g. `train.lr`; empty for the object itself. */
  readonly path: string;
  readonly message: string;
  readonly value: unknown;
}

/** Objects without an explicit `additionalProperties` reject unknown keys: a typo must not pass silently. */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (typeof schema !== "object" || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = closeObjects(v);
  if (out.type === "object" && out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** An object schema that an empty object satisfies as it is (nothing required, no defaults, no other object-level rule). */
const OBJECT_ONLY_KEYS = new Set(["type", "properties", "required", "additionalProperties", "description", "title", "$id"]);

/** What validating against a schema needs, worked out once per schema. */
interface SchemaInfo {
  /** A `default` keyword appears somewhere in the schema. */
  readonly defaults: boolean;
  /** An empty object satisfies it as it is. */
  readonly acceptsEmpty: boolean;
  /** Compiled on first use (a compile costs milliseconds of a CLI start-up). */
  validate: ValidateFunction | undefined;
}

const infos = new WeakMap<TSchema, SchemaInfo>();

/** The schema asked for last: a pipeline validates many instances of one step in a row, and a WeakMap read cost 0.3 µs. */
let last: { schema: TSchema; info: SchemaInfo } | undefined;

function infoOf(schema: TSchema): SchemaInfo {
  if (last?.schema === schema) return last.info;
  let info = infos.get(schema);
  if (!info) {
    const walk = (x: unknown): boolean => typeof x === "object" && x !== null && (Array.isArray(x) ? x.some(walk) : "default" in x || Object.values(x).some(walk));
    const defaults = walk(schema);
    const acceptsEmpty = schema.type === "object" && !defaults && (schema.required === undefined || schema.required.length === 0) && Object.keys(schema).every((k) => OBJECT_ONLY_KEYS.has(k));
    infos.set(schema, (info = { defaults, acceptsEmpty, validate: undefined }));
  }
  last = { schema, info };
  return info;
}

function isEmptyParams(raw: unknown): boolean {
  if (raw === undefined) return true;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return false;
  for (const _ in raw) return false;
  return true;
}

function valueAt(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) cur = typeof cur === "object" && cur !== null ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}

function describe(e: ErrorObject, root: unknown): ParamIssue {
  const segs = e.instancePath.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (e.keyword === "additionalProperties") {
    const extra = String((e.params as { additionalProperty: string }).additionalProperty);
    return { path: [...segs, extra].join("."), message: "is not a known param", value: valueAt(root, [...segs, extra]) };
  }
  if (e.keyword === "required") {
    const missing = String((e.params as { missingProperty: string }).missingProperty);
    return { path: [...segs, missing].join("."), message: "is required", value: undefined };
  }
  return { path: segs.join("."), message: e.message ?? e.keyword, value: valueAt(root, segs) };
}

/** A union of literals fails once per branch; say "must be one of a, b, c" once instead. */
function mergeUnionIssues(errors: readonly ErrorObject[], root: unknown): ParamIssue[] {
  const allowed = new Map<string, unknown[]>();
  for (const e of errors) {
    if (e.keyword === "const") {
      const list = allowed.get(e.instancePath) ?? [];
      list.push((e.params as { allowedValue: unknown }).allowedValue);
      allowed.set(e.instancePath, list);
    }
  }
  const out: ParamIssue[] = [];
  for (const e of errors) {
    if (e.keyword === "const") continue;
    if (e.keyword === "anyOf" && allowed.has(e.instancePath)) {
      const base = describe(e, root);
      out.push({ ...base, message: `must be one of ${allowed.get(e.instancePath)!.map((v) => JSON.stringify(v)).join(", ")}` });
      continue;
    }
    out.push(describe(e, root));
  }
  return out;
}

/**
 * A shallow copy of an object's own enumerable properties, made by assignment: the plan freezes
 * params, and V8 freezes a copy made with `{ ...o }` 3–8× slower than one made this way (and
 * makes such a copy no faster).
 */
export function shallowCopy(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = (o as Record<string, unknown>)[k];
  return out;
}

/**
 * Validates params against a TypeBox object schema, filling defaults. Returns a fresh object
 * (the input is not mutated) or every issue found. With `owned`, `raw` is the caller's own
 * shallow copy: when the schema fills no defaults, it is returned itself (planning copied each
 * step's params twice). Defaults may reach into nested objects, so those are still deep-copied.
 */
export function validateParams(schema: TObject, raw: unknown, opts?: { owned?: boolean }): { ok: true; value: Record<string, unknown> } | { ok: false; issues: ParamIssue[] } {
  // No params against an object schema that requires none and fills no defaults: nothing to
  // check, and no validator to compile (a compile costs milliseconds of a CLI start-up).
  const info = infoOf(schema);
  if (isEmptyParams(raw) && info.acceptsEmpty) return { ok: true, value: {} };
  const validate = (info.validate ??= ajv.compile(closeObjects(schema) as object));
  // Only defaults make ajv write into the value: without any, a shallow copy keeps the caller's
  // object untouched (planning 10,000 steps spent ~10% of its time deep-copying params).
  const isObject = typeof raw === "object" && raw !== null && !Array.isArray(raw);
  const value = (info.defaults ? structuredClone(raw ?? {}) : !isObject ? (raw ?? {}) : opts?.owned ? raw : shallowCopy(raw)) as Record<string, unknown>;
  if (validate(value)) return { ok: true, value };
  return { ok: false, issues: mergeUnionIssues(validate.errors ?? [], value) };
}
