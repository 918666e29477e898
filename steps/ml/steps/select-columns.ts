import { defineStep, dropColumns, port, selectColumns as select, Type } from "sluice";

/** Keeps the named columns (in that order), or with `drop: true` removes them. Each must exist. */
export const selectColumns = defineStep({
  name: "select-columns",
  description: "Keep (or drop) named columns of a table",
  inputs: { table: port.table() },
  outputs: { table: port.table() },
  params: Type.Object({
    columns: Type.Array(Type.String(), { minItems: 1 }),
    /** Remove the named columns instead of keeping them. */
    drop: Type.Boolean({ default: false }),
  }),
  run: ({ inputs, params }) => ({ table: params.drop ? dropColumns(inputs.table, params.columns) : select(inputs.table, params.columns) }),
});
