import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config/index.ts";
import type { CacheKey } from "../../../src/hash/cache-key.ts";
import type { ActionEntry } from "../../../src/store/action-cache.ts";
import { openEntry, signEntry } from "../../../src/store/remote-cache/index.ts";
import { sha256 } from "../../../src/util/canonical-json.ts";
import { SluiceError } from "../../../src/errors.ts";

const KEY = "team-signing-key-0123456789";
const key = sha256("a cache key") as CacheKey;
const entry: ActionEntry = {
  key, outputs: { lines: sha256("lines") }, createdAt: 1_700_000_000_000,
  record: { step: "load", code: sha256("code"), version: null, params: {}, inputs: {}, env: {}, format: 1 } as unknown as ActionEntry["record"],
  pipeline: "demo", stepId: "load", runId: "r1", durationMs: 12,
};

describe("signed action-cache entries", () => {
  it("opens an entry signed with the shared key, for its own cache key", () => {
    const opened = openEntry(signEntry(entry, KEY), key, KEY);
    expect(opened).toEqual({ ok: true, entry });
  });

  it("rejects an entry signed with another key", () => {
    expect(openEntry(signEntry(entry, "someone-elses-key-0123"), key, KEY)).toEqual({ ok: false, why: "bad-signature" });
  });

  it("rejects an entry whose outputs were edited after signing", () => {
    const outer = JSON.parse(signEntry(entry, KEY).toString());
    const inner = JSON.parse(outer.entry);
    inner.outputs.lines = sha256("something else");
    const forged = Buffer.from(JSON.stringify({ ...outer, entry: JSON.stringify(inner) }));
    expect(openEntry(forged, key, KEY)).toEqual({ ok: false, why: "bad-signature" });
  });

  it("rejects a valid entry served under another cache key", () => {
    const other = sha256("another key") as CacheKey;
    expect(openEntry(signEntry(entry, KEY), other, KEY)).toEqual({ ok: false, why: "bad-signature" });
  });

  it("rejects unsigned, truncated and non-JSON bytes as malformed", () => {
    expect(openEntry(Buffer.from(JSON.stringify(entry)), key, KEY)).toEqual({ ok: false, why: "malformed" });
    const signed = signEntry(entry, KEY);
    expect(openEntry(signed.subarray(0, signed.length - 5), key, KEY)).toEqual({ ok: false, why: "malformed" });
    expect(openEntry(Buffer.from([0xff, 0x00, 0x12]), key, KEY)).toEqual({ ok: false, why: "malformed" });
  });
});

async function rejection(p: Promise<unknown>): Promise<SluiceError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

describe("remote cache settings", () => {
  const base = { SLUICE_REMOTE_CACHE_URL: "http://cache.internal:3000", SLUICE_REMOTE_CACHE_SIGNING_KEY: KEY };

  it("reads SLUICE_REMOTE_CACHE_* into one frozen setting with defaults", async () => {
    const c = await loadConfig({ root: process.cwd(), env: { ...base, SLUICE_REMOTE_CACHE_TOKEN: "tok", SLUICE_REMOTE_CACHE_READ_ONLY: "1" } });
    expect(c.remoteCache).toEqual({ url: "http://cache.internal:3000", token: "tok", team: "sluice", signingKey: KEY, readOnly: true });
    expect(Object.isFrozen(c.remoteCache)).toBe(true);
    expect((await loadConfig({ root: process.cwd(), env: {} })).remoteCache).toBeUndefined();
  });

  it("refuses a cache URL without a signing key, naming the variable to set", async () => {
    const err = await rejection(loadConfig({ root: process.cwd(), env: { SLUICE_REMOTE_CACHE_URL: base.SLUICE_REMOTE_CACHE_URL } }));
    expect(err).toMatchObject({ code: "SLUICE_CONFIG_INVALID", details: { field: "remoteCacheSigningKey" } });
    expect(err.message).toContain("SLUICE_REMOTE_CACHE_SIGNING_KEY");
  });

  it("refuses a read-only flag that is not a yes/no value", async () => {
    const err = await rejection(loadConfig({ root: process.cwd(), env: { ...base, SLUICE_REMOTE_CACHE_READ_ONLY: "maybe" } }));
    expect(err).toMatchObject({ code: "SLUICE_CONFIG_INVALID", details: { source: "SLUICE_REMOTE_CACHE_READ_ONLY" } });
  });
});
