/**
 * Many-row inserts in chunks, without recompiling each chunk. Building and compiling a 500-row
 * INSERT with Kysely takes ~5 ms, which dominated a 10,000-row upsert. Every value is a bound
 * parameter, so a chunk's SQL text depends only on its row count: it is compiled once per count
 * and reused with the next chunk's values. The SQL still comes from the dialect's own compiler.
 */
import { type Compilable, CompiledQuery, type Kysely } from "kysely";

/** Most bound parameters in one statement: well under SQLite's 32,766 and pg's 65,535. */
export const MAX_BIND_PARAMS = 8000;


/** Splits `items` into slices of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function sameParameters(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

/** Inserts rows of one shape (every column present, in `columns` order) in chunks. */
export class BulkInsert<DB, Row extends Record<string, unknown>> {
  readonly #columns: readonly (keyof Row)[];
  readonly #build: (db: Kysely<DB>, rows: Row[]) => Compilable;
  readonly #rowsPerStatement: number;
  readonly #sqlByRowCount = new Map<number, string>();

  /**
   * @param columns every column of a row, in the order its object lists them
   * @param build the statement for some rows (`insertInto(...).values(rows)…`)
   */
  constructor(columns: readonly (keyof Row)[], build: (db: Kysely<DB>, rows: Row[]) => Compilable) {
    this.#columns = columns;
    this.#build = build;
    this.#rowsPerStatement = Math.max(1, Math.floor(MAX_BIND_PARAMS / columns.length));
  }

  /** Inserts `rows` through `db` (a transaction, so that the chunks commit together). */
  async run(db: Kysely<DB>, rows: readonly Row[]): Promise<void> {
    for (const part of this.#parts(rows)) await db.executeQuery(this.#compile(db, part));
  }

  /**
   * Full chunks, then the rest in power-of-two sizes (largest first): every statement has one
   * of a few row counts whose text is compiled once, where an odd-sized rest cost a compile
   * (milliseconds) on every call.
   */
  #parts(rows: readonly Row[]): Row[][] {
    const out: Row[][] = [];
    let at = 0;
    while (rows.length - at >= this.#rowsPerStatement) {
      out.push(rows.slice(at, at + this.#rowsPerStatement));
      at += this.#rowsPerStatement;
    }
    for (let size = 2 ** Math.floor(Math.log2(this.#rowsPerStatement)); at < rows.length; size >>= 1) {
      if (rows.length - at >= size) {
        out.push(rows.slice(at, at + size));
        at += size;
      }
    }
    return out;
  }

  #compile(db: Kysely<DB>, rows: Row[]): CompiledQuery {
    const columns = this.#columns;
    const parameters = new Array<unknown>(rows.length * columns.length);
    let i = 0;
    for (const row of rows) for (const c of columns) parameters[i++] = row[c];
    const cached = this.#sqlByRowCount.get(rows.length);
    if (cached !== undefined) return CompiledQuery.raw(cached, parameters);
    const compiled = this.#build(db, rows).compile();
    // Reuse the text only when its parameters are exactly the row-major values: then nothing of
    // the values is in the text. Otherwise compile every time (correct, just slower).
    if (sameParameters(compiled.parameters, parameters)) this.#sqlByRowCount.set(rows.length, compiled.sql);
    return compiled;
  }
}
