import { SluiceError, type ErrorDetails } from "../errors.ts";

/** Where a bad value sits: the file (or other source name), its 1-based row (header = row 1) and the column. */
export interface DataPlace {
  readonly source: string;
  readonly row?: number;
  readonly column?: string;
}

/**
 * A `SLUICE_DATA_INVALID` error whose message starts with the place (`data.csv, row 7, column "x": `),
 * then says what is wrong and the fix; `details` carries the same place as plain JSON.
 */
export function dataError(place: DataPlace, what: string, fix: string, details: ErrorDetails = {}): SluiceError {
  const parts = [place.source];
  if (place.row !== undefined) parts.push(`row ${place.row}`);
  if (place.column !== undefined) parts.push(`column "${place.column}"`);
  const placeDetails: ErrorDetails = { source: place.source };
  if (place.row !== undefined) placeDetails["row"] = place.row;
  if (place.column !== undefined) placeDetails["column"] = place.column;
  return new SluiceError("SLUICE_DATA_INVALID", `${parts.join(", ")}: ${what}. ${fix}`, { ...placeDetails, ...details });
}

/** Quotes a value for a message, cut to a readable length. */
export function showValue(value: unknown): string {
  const text = typeof value === "string" ? value : typeof value === "bigint" ? `${value}n` : JSON.stringify(value) ?? String(value);
  const cut = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return typeof value === "string" ? JSON.stringify(cut) : cut;
}
