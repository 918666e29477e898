import fs from "node:fs";
import path from "node:path";
import { defineStep, port, Type, writeCsv, writeParquet } from "sluice";

/** Writes a table as a CSV or Parquet file (for people and other tools to read). */
export const writeTable = defineStep({
  name: "write-table",
  description: "Write a table as CSV or Parquet",
  inputs: { table: port.table() },
  outputs: { file: port.file() },
  params: Type.Object({ format: Type.Union([Type.Literal("csv"), Type.Literal("parquet")], { default: "csv" }) }),
  async run({ inputs, params, outDir }) {
    const file = path.join(outDir, `table.${params.format}`);
    fs.writeFileSync(file, params.format === "csv" ? writeCsv(inputs.table) : await writeParquet(inputs.table));
    return { file: { path: file } };
  },
});
