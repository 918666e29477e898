import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HASH_BUFFER_BYTES, hashFile, hashFileSync } from "../../../src/util/hash-file.ts";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sluice-hash-file-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function expected(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function file(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe("hashFile", () => {
  it("gives the crypto sha256 of the file's bytes and its size", async () => {
    const bytes = Buffer.from("sepal_length,sepal_width\n5.1,3.5\n");
    const path = file("iris.csv", bytes);
    expect(await hashFile(path)).toEqual({ digest: expected(bytes), size: bytes.length });
    expect(hashFileSync(path)).toEqual({ digest: expected(bytes), size: bytes.length });
  });

  it("hashes an empty file as the sha256 of no bytes", async () => {
    const path = file("empty", new Uint8Array(0));
    const empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    expect(await hashFile(path)).toEqual({ digest: empty, size: 0 });
    expect(hashFileSync(path)).toEqual({ digest: empty, size: 0 });
  });

  it("streams a 5 MiB file that is not a multiple of the buffer through many reads", async () => {
    const bytes = randomBytes(5 * 1024 * 1024 + 12345);
    const path = file("big.bin", bytes);
    const want = { digest: expected(bytes), size: bytes.length };
    expect(await hashFile(path)).toEqual(want);
    expect(hashFileSync(path)).toEqual(want);
    // An odd buffer exercises the partial last read of either half.
    expect(await hashFile(path, { bufferBytes: 65_537 })).toEqual(want);
  });

  it("still works with a buffer too small to split", async () => {
    const bytes = Buffer.from("abcdefg");
    const path = file("tiny", bytes);
    expect(await hashFile(path, { bufferBytes: 1 })).toEqual({ digest: expected(bytes), size: 7 });
  });

  it("hashes a file exactly as large as one buffer half and one whole buffer", async () => {
    for (const size of [HASH_BUFFER_BYTES / 2, HASH_BUFFER_BYTES]) {
      const bytes = randomBytes(size);
      const path = file(`exact-${size}`, bytes);
      expect(await hashFile(path)).toEqual({ digest: expected(bytes), size });
    }
  });

  it("gives the same digests for many files hashed at once", async () => {
    const files = Array.from({ length: 20 }, (_, i) => randomBytes(1000 + i * 70_000));
    const paths = files.map((b, i) => file(`f${i}`, b));
    const got = await Promise.all(paths.map((p) => hashFile(p)));
    expect(got.map((g) => g.digest)).toEqual(files.map(expected));
  });

  it("rejects with the fs error code for a missing file", async () => {
    await expect(hashFile(join(dir, "nope"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(() => hashFileSync(join(dir, "nope"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });
});
