import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deferredLogger } from "../../../src/log.ts";
import { openCacheDb, type CacheDb } from "../../../src/store/cache-db.ts";
import { LocalCas } from "../../../src/store/local-cas.ts";
import { openRemoteCache, type RemoteCache } from "../../../src/store/remote-cache/index.ts";
import type { Digest } from "../../../src/util/canonical-json.ts";

const BYTES = Buffer.from(JSON.stringify({ answer: 42 }));
const HEX = createHash("sha256").update(BYTES).digest("hex");
const DIGEST = `sha256:${HEX}` as Digest;

let root: string;
let db: CacheDb;
let server: http.Server;
let remote: RemoteCache;
/** Requests the server received, and the gate its answers wait for. */
let received: string[];
let open: () => void;
let gate: Promise<void>;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), "sluice-remote-async-"));
  db = openCacheDb(root);
  received = [];
  gate = new Promise((resolve) => (open = resolve));
  // A cache server on this thread's own event loop: it can answer only while that loop is free.
  server = http.createServer((req, res) => {
    received.push(`${req.method} ${req.url}`);
    void gate.then(() => {
      if (req.url?.startsWith(`/v8/artifacts/cas-${HEX}`)) res.writeHead(200, { "content-type": "application/octet-stream" }).end(BYTES);
      else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  remote = openRemoteCache({ url, token: "t", signingKey: "k".repeat(32) }, { tmpDir: join(root, "tmp"), inlineMaxBytes: 1024 }, deferredLogger({ level: "silent" }));
});

afterEach(async () => {
  open();
  await remote.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  db.close();
  rmSync(root, { recursive: true, force: true });
});

describe("RemoteCache.fetchObjectsAsync", () => {
  it("leaves this thread's event loop free while the server has not answered, then stores the verified object", async () => {
    const cas = new LocalCas({ dir: root, db, remote });
    remote.bind(cas);
    const pending = remote.fetchObjectsAsync([DIGEST], cas);
    // The server runs on this loop: it sees the request only if the fetch does not block the loop.
    while (received.length === 0) await new Promise((r) => setImmediate(r));
    expect(received[0]).toMatch(new RegExp(`^GET /v8/artifacts/cas-${HEX}`));
    expect(cas.localCheck(DIGEST)).toBe("missing");
    open();
    expect([...(await pending)]).toEqual([DIGEST]);
    expect(cas.getBytes(DIGEST)?.equals(BYTES)).toBe(true);
  });

  it("a digest the server does not have is left out, and is not asked for again in the same run", async () => {
    const cas = new LocalCas({ dir: root, db, remote });
    remote.bind(cas);
    open();
    const other = `sha256:${"0".repeat(64)}` as Digest;
    expect((await remote.fetchObjectsAsync([other], cas)).size).toBe(0);
    const asked = received.length;
    expect((await remote.fetchObjectsAsync([other], cas)).size).toBe(0);
    expect(received.length).toBe(asked);
  });
});
