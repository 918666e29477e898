import { describe, expect, it } from "vitest";
import { DigestTable } from "../../../src/store/digest-table.ts";
import { sha256 } from "../../../src/util/canonical-json.ts";

/** `n` digests written as `digest <n>` lines, and the table of them. */
function lines(digests: readonly string[], expected: number): DigestTable {
  const table = DigestTable.ofPieces(digests.map((d, n) => `${d} ${n}`).join("\n"), "\n", 32, expected);
  expect(table.size).toBe(digests.length);
  return table;
}

describe("DigestTable", () => {
  it("finds every digest at its offset, and nothing else, growing past what it expected", () => {
    const digests = Array.from({ length: 3000 }, (_, i) => sha256(`object ${i}`));
    const table = lines(digests, 10); // far fewer expected than filed: it grows
    for (const [n, d] of digests.entries()) {
      const at = table.find(d);
      expect(table.text.slice(at, table.text.indexOf("\n", at) >>> 0 || undefined)).toBe(`${d} ${n}`);
    }
    for (let i = 3000; i < 3100; i++) expect(table.has(sha256(`object ${i}`))).toBe(false);
  });

  it("confirms the whole digest: same first digits, a prefix of a longer entry, or text that is no digest", () => {
    const a = `sha256:abcdef0${"1".repeat(57)}`;
    const b = `sha256:abcdef0${"2".repeat(57)}`; // files in the same slot as a
    const long = `sha256:${"9".repeat(70)}`;
    const table = lines([a, b, long, "not-a-digest"], 4);
    expect([a, b, long, "not-a-digest"].map((d) => table.has(d))).toEqual([true, true, true, true]);
    expect(table.has(`sha256:abcdef0${"3".repeat(57)}`)).toBe(false);
    expect(table.has(long.slice(0, 71))).toBe(false); // its start, not a digest filed
    expect(table.has(`${a}0`)).toBe(false); // longer than what was filed
    expect(table.has("")).toBe(false);
    expect(table.has("not-a")).toBe(false);
  });

  it("finds nothing in an empty table", () => {
    const table = DigestTable.ofPieces("", " ", 32, 0);
    expect(table.size).toBe(0);
    expect(table.has(sha256("x"))).toBe(false);
  });
});
