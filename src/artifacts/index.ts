/**
 * Artifacts: the in-memory form, canonical bytes and readers/writers of each port kind.
 * The `table` kind: typed columns in memory, Arrow IPC file bytes as its canonical form, and
 * readers for CSV, JSON Lines and Parquet.
 */
export { decodeTable, encodeTable } from "./arrow-codec.ts";
export { DEFAULT_NULL_VALUES, parseCsv, readCsv, writeCsv, type ReadCsvOptions, type WriteCsvOptions } from "./csv.ts";
export { parseJsonl, readJsonl, type ReadJsonlOptions } from "./jsonl.ts";
export { parseParquet, readParquet, writeParquet } from "./parquet.ts";
export { cellValue, tableFromRows, tableToRows } from "./rows.ts";
export {
  column,
  COLUMN_TYPES,
  createTable,
  dropColumns,
  filterRows,
  selectColumns,
  takeRows,
  toFloat64Matrix,
  type Column,
  type ColumnType,
  type ColumnValues,
  type Table,
} from "./table.ts";
