import { column, defineStep, port, readCsv, readJsonl, readParquet, Type, type ColumnType, type Table } from "sluice";
import { dataInvalid } from "./features.ts";

const ColumnTypeSchema = Type.Union([Type.Literal("float64"), Type.Literal("int32"), Type.Literal("int64"), Type.Literal("bool"), Type.Literal("string")]);

/** Reads a file by its extension: `.csv`/`.tsv`, `.jsonl`/`.ndjson` or `.parquet`. */
async function readAny(path: string, types: Record<string, ColumnType>, delimiter: string | undefined): Promise<Table> {
  if (/\.(jsonl|ndjson)$/i.test(path)) return readJsonl(path);
  if (/\.parquet$/i.test(path)) return readParquet(path);
  return readCsv(path, { types, ...(delimiter ? { delimiter } : /\.tsv$/i.test(path) ? { delimiter: "\t" } : {}) });
}

/**
 * Reads a CSV, JSON Lines or Parquet file into a typed table. With `textColumns`, every other
 * column must be numeric: text in one is an error naming the file, row and column.
 */
export const readTable = defineStep({
  name: "read-table",
  description: "CSV / JSON Lines / Parquet file → typed table",
  inputs: { file: port.file() },
  outputs: { table: port.table() },
  params: Type.Object({
    /** Declared column types (others are inferred). */
    types: Type.Record(Type.String(), ColumnTypeSchema, { default: {} }),
    /** When set, the only columns allowed to hold text; all others must be numeric. */
    textColumns: Type.Optional(Type.Array(Type.String())),
    /** CSV field separator (default "," or tab for .tsv). */
    delimiter: Type.Optional(Type.String({ minLength: 1, maxLength: 1 })),
  }),
  async run({ inputs, params }) {
    const types = { ...params.types } as Record<string, ColumnType>;
    const table = await readAny(inputs.file, types, params.delimiter);
    if (params.textColumns) {
      const text = new Set(params.textColumns);
      for (const n of text) column(table, n);
      const wrong = table.columns.filter((c) => c.type === "string" && !text.has(c.name) && !(c.nulls?.every((v) => v === 1)));
      if (wrong.length > 0) {
        // Read again with those columns declared numeric: the reader names the first bad cell's row.
        for (const c of wrong) types[c.name] = "float64";
        await readAny(inputs.file, types, params.delimiter);
        throw dataInvalid(`${inputs.file}, column "${wrong[0]!.name}"`, "holds text but is not one of textColumns", "Fix the values, or add the column to textColumns.", { column: wrong[0]!.name });
      }
    }
    return { table };
  },
});
