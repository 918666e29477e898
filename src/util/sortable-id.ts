import { randomBytes } from "node:crypto";

/** An id that sorts by creation time: a one-letter kind, the time in base 36, then randomness (`r0mx1o1qqo-4e9577d1`). */
export function sortableId(kind: string, now = Date.now()): string {
  return `${kind}${now.toString(36).padStart(9, "0")}-${randomBytes(4).toString("hex")}`;
}
