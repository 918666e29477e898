import type { Table } from "../artifacts/table.ts";

/**
 * Port kinds: what a step consumes and produces. Each kind has a value type inside `run`
 * (what a step receives as an input) and a result type (what a step returns as an output).
 */

/** The kinds of artifact a port carries. */
export type PortKind = "json" | "file" | "dir" | "table";

/** All port kinds, for validation. */
export const PORT_KINDS: readonly PortKind[] = ["json", "file", "dir", "table"];

/** A declared input or output. `T` is the JSON value type of a `json` port. */
export interface PortSpec<K extends PortKind = PortKind, T = unknown> {
  readonly kind: K;
  readonly description?: string;
  /** Phantom: carries the value type for TypeScript; never set at run time. */
  readonly __type?: T;
}

/** A record of named ports. */
export type Ports = Record<string, PortSpec>;

/** Declares ports: `inputs: { rows: port.json<Row[]>(), corpus: port.dir() }`. */
export const port = {
  /** A JSON value (stored as canonical JSON). */
  json<T = unknown>(opts: { description?: string } = {}): PortSpec<"json", T> {
    return { kind: "json", ...opts };
  },
  /** One file. Inside `run` an input is a read-only path; an output is `{ path }` or bytes. */
  file(opts: { description?: string } = {}): PortSpec<"file", string> {
    return { kind: "file", ...opts };
  },
  /** A folder. Inside `run` an input is a read-only path; an output is `{ path }`. */
  dir(opts: { description?: string } = {}): PortSpec<"dir", string> {
    return { kind: "dir", ...opts };
  },
  /** A typed columnar table, stored as Apache Arrow IPC bytes. Inside `run` it is a `Table`. */
  table(opts: { description?: string } = {}): PortSpec<"table", Table> {
    return { kind: "table", ...opts };
  },
} as const;

/** A file or folder a step wrote (usually under `ctx.outDir`), returned as an output. */
export interface PathOutput {
  readonly path: string;
}

/** What `run` receives for an input port. */
export type InputValue<P> =
  P extends PortSpec<"json", infer T> ? T
  : P extends PortSpec<"file" | "dir"> ? string
  : P extends PortSpec<"table"> ? Table
  : never;

/** What `run` returns for an output port. */
export type OutputValue<P> =
  P extends PortSpec<"json", infer T> ? T
  : P extends PortSpec<"file"> ? PathOutput | Uint8Array
  : P extends PortSpec<"dir"> ? PathOutput
  : P extends PortSpec<"table"> ? Table | Uint8Array
  : never;

/** The `inputs` object inside `run`. */
export type InputValues<I extends Ports> = { readonly [K in keyof I]: InputValue<I[K]> };

/** The object `run` returns. */
export type OutputValues<O extends Ports> = { [K in keyof O]: OutputValue<O[K]> };

/**
 * A reference to an artifact produced by a node of the pipeline (a step's output or a source
 * file). The `kind` literal makes TypeScript reject wiring it into an input of another kind.
 */
export interface OutputRef<K extends PortKind = PortKind, T = unknown> {
  readonly __ref: true;
  readonly node: string;
  readonly port: string;
  readonly kind: K;
  readonly __type?: T;
}

/** The reference type an input port accepts. */
export type RefFor<P> = P extends PortSpec<infer K, infer T> ? OutputRef<K, T> : never;

/** The `inputs` wiring object of `p.step(...)`. */
export type InputRefs<I extends Ports> = { readonly [K in keyof I]: RefFor<I[K]> };

/** The `outputs` of a step handle. */
export type OutputRefs<O extends Ports> = { readonly [K in keyof O]: RefFor<O[K]> };

/** True for a value built by the pipeline builder. */
export function isOutputRef(v: unknown): v is OutputRef {
  return typeof v === "object" && v !== null && (v as { __ref?: unknown }).__ref === true;
}
