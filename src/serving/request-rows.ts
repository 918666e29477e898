/**
 * The rows of a scoring request as the model reads them: objects by column name, or arrays in the
 * model's column order. The shape of every row is checked first, so a bad one is named.
 */
import { SluiceError } from "../errors.ts";
import type { CellGetter } from "./model-io.ts";
import type { Route } from "./routing.ts";

/** Reads row `i`, column `c` of a request for `route`'s model; a row that is neither an object nor an array of the right length throws naming it. */
export function rowGetter(rows: readonly unknown[], route: Route, endpoint: string): CellGetter {
  const width = route.model.io.columns.length;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const ok = Array.isArray(r) ? r.length === width : typeof r === "object" && r !== null;
    if (!ok) {
      const names = route.model.io.columns.map((c) => `"${c.name}"`).join(", ");
      throw new SluiceError("SLUICE_DATA_INVALID", `endpoint "${endpoint}" › deployment "${route.deployment.deployment}" › row ${i}: expected an object of column values or an array of ${width} values (${names}), got ${Array.isArray(r) ? `an array of ${r.length}` : JSON.stringify(r)}. Send one object or array per row.`, { row: i, field: `rows/${i}` });
    }
  }
  return (i, c, name) => {
    const r = rows[i] as unknown[] | Record<string, unknown>;
    return Array.isArray(r) ? r[c] : Object.hasOwn(r, name) ? r[name] : undefined;
  };
}
