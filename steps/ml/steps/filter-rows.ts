import { column, defineStep, filterRows as filter, port, Type, type Column } from "sluice";
import { dataInvalid } from "./features.ts";

const Op = Type.Union(["==", "!=", "<", "<=", ">", ">=", "isNull", "notNull", "in"].map((o) => Type.Literal(o)));
const Scalar = Type.Union([Type.Number(), Type.String(), Type.Boolean()]);

/** One condition on a column. */
interface Condition {
  column: string;
  op: string;
  value?: number | string | boolean | (number | string | boolean)[];
}

function cell(c: Column, i: number): number | string | boolean | null {
  if (c.nulls?.[i]) return null;
  const v = c.values[i]!;
  return typeof v === "bigint" ? Number(v) : c.type === "bool" ? v === 1 : v;
}

function test(cond: Condition, v: number | string | boolean | null): boolean {
  if (cond.op === "isNull") return v === null;
  if (cond.op === "notNull") return v !== null;
  if (v === null) return false;
  const w = cond.value;
  switch (cond.op) {
    case "==": return v === w;
    case "!=": return v !== w;
    case "<": return (v as number) < (w as number);
    case "<=": return (v as number) <= (w as number);
    case ">": return (v as number) > (w as number);
    case ">=": return (v as number) >= (w as number);
    case "in": return Array.isArray(w) && w.includes(v);
    default: return false;
  }
}

/** Keeps the rows for which every condition holds (nulls fail every comparison but `isNull`). */
export const filterRows = defineStep({
  name: "filter-rows",
  description: "Keep the rows matching all conditions",
  inputs: { table: port.table() },
  outputs: { table: port.table() },
  params: Type.Object({
    where: Type.Array(Type.Object({ column: Type.String(), op: Op, value: Type.Optional(Type.Union([Scalar, Type.Array(Scalar)])) }), { minItems: 1 }),
  }),
  run({ inputs, params }) {
    const conds = params.where as Condition[];
    const cols = conds.map((c) => column(inputs.table, c.column));
    conds.forEach((c, k) => {
      const needsValue = !["isNull", "notNull"].includes(c.op);
      if (needsValue && c.value === undefined) throw dataInvalid(`filter-rows › where[${k}]`, `op "${c.op}" on column "${c.column}" needs a value`, "Add value.");
      if (["<", "<=", ">", ">="].includes(c.op) && (typeof c.value !== "number" || cols[k]!.type === "string")) {
        throw dataInvalid(`filter-rows › where[${k}]`, `op "${c.op}" compares numbers, but column "${c.column}" is ${cols[k]!.type} and value is ${JSON.stringify(c.value)}`, "Use == / != / in for text, or a numeric value.");
      }
    });
    return { table: filter(inputs.table, (i) => conds.every((c, k) => test(c, cell(cols[k]!, i)))) };
  },
});
