import { readFileSync, readSync, openSync, closeSync, rmSync, statSync } from "node:fs";
import type { CacheKey } from "../../hash/cache-key.ts";
import type { Logger } from "../../log.ts";
import { digestHex, sha256, type Digest } from "../../util/canonical-json.ts";
import type { ActionCacheRemote, ActionEntry } from "../action-cache.ts";
import { parseDirManifest, type DirManifest } from "../dir-manifest.ts";
import type { CasRemote, LocalCas } from "../local-cas.ts";
import type { CacheServerClient } from "./cache-server-client.ts";
import type { FetchResult, UploadItem, UploadReply } from "./protocol.ts";
import { openEntry, signEntry } from "./signed-entry.ts";

/** Options of `RemoteCache`. */
export interface RemoteCacheOptions {
  readonly client: CacheServerClient;
  /** Server URL, for messages. */
  readonly url: string;
  /** HMAC-SHA256 key shared by every trusted writer and reader. */
  readonly signingKey: string;
  /** Never upload (untrusted runs, read-only tokens). */
  readonly readOnly: boolean;
  readonly logger: Logger;
  /** Entries waiting for upload; past this, new entries are not shared (counted, warned once). @default 10000 */
  readonly maxQueuedUploads?: number;
  /** Entries uploading at once (each a chain of HEAD/PUT requests; the client thread caps requests in flight). @default 16 */
  readonly uploadsInFlight?: number;
}

/** What the remote cache did since it was opened. */
export interface RemoteCacheStats {
  entryHits: number;
  entryMisses: number;
  objectsFetched: number;
  /** Entries refused: bad or missing signature, wrong key, malformed. */
  rejectedEntries: number;
  /** Objects whose bytes did not hash to their name's digest. */
  corruptObjects: number;
  entriesUploaded: number;
  /** Artifacts written by PUT, and found present by HEAD (so not written again). */
  artifactsPut: number;
  artifactsPresent: number;
  /** Entries not shared: queue full, server unavailable, or a local object gone before upload. */
  uploadsDropped: number;
  /** Blocking requests to the server thread (each fetches up to 8 artifacts at a time). */
  fetchRounds: number;
  /** Why the server was last declared unavailable (null while it answers). */
  unavailable: string | null;
}

const casName = (d: Digest): string => `cas-${digestHex(d)}`;
const acName = (k: CacheKey): string => `ac-${digestHex(k)}`;

/** Removes the temp file a fetched body was streamed to, if any (adopting it moved it already). */
function removeSpilled(r: FetchResult): void {
  if ("path" in r) rmSync(r.path, { force: true });
}
const MANIFEST_HEAD = '{"entries":[';

/** A folder manifest, when these bytes are one (a cheap prefix test first). */
function asManifest(bytes: Buffer): DirManifest | undefined {
  return bytes.subarray(0, MANIFEST_HEAD.length).toString("latin1") === MANIFEST_HEAD ? parseDirManifest(bytes) : undefined;
}

function fileStartsLikeManifest(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(MANIFEST_HEAD.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.toString("latin1") === MANIFEST_HEAD;
  } finally {
    closeSync(fd);
  }
}

/**
 * The shared cache behind the local one. Reads (on a local miss) fetch, verify and store locally
 * before anything is used: every object's digest is checked, every action-cache entry's HMAC.
 * Writes are write-once and asynchronous: `publish` queues an entry, the upload sends its objects
 * (a folder's members too) and then the signed entry; `flush` waits for the queue. Any answer but
 * 200/404 makes the server "unavailable" until `startRun`: one warning, then local only.
 */
export class RemoteCache implements CasRemote, ActionCacheRemote {
  readonly stats: RemoteCacheStats = {
    entryHits: 0, entryMisses: 0, objectsFetched: 0, rejectedEntries: 0, corruptObjects: 0,
    entriesUploaded: 0, artifactsPut: 0, artifactsPresent: 0, uploadsDropped: 0, fetchRounds: 0, unavailable: null,
  };
  readonly #o: RemoteCacheOptions;
  readonly #log: Logger;
  readonly #queue: ActionEntry[] = [];
  readonly #idle: Array<() => void> = [];
  #cas: LocalCas | undefined;
  #inFlight = 0;
  #pumpScheduled = false;
  #down: string | undefined;
  #warnedFull = false;
  /** Artifacts this run found missing, rejected or damaged: not asked for again until the next run. */
  readonly #missed = new Set<string>();

  constructor(opts: RemoteCacheOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: "remote-cache", url: opts.url });
  }

  /** The local CAS entries are fetched into and uploaded from. */
  bind(cas: LocalCas): void {
    this.#cas = cas;
  }

  /** A new run tries the server again, even if it was unavailable during the last one. */
  startRun(): void {
    this.#down = undefined;
    this.#warnedFull = false;
    this.#missed.clear();
  }

  fetchObjects(digests: readonly Digest[], cas: LocalCas): ReadonlySet<Digest> {
    const { have, want } = this.#wanted(digests, cas);
    if (want.length === 0 || this.#down) return have;
    this.stats.fetchRounds++;
    const results = this.#o.client.fetch(want.map(casName));
    if (this.#isDown(results)) return have;
    want.forEach((d, i) => this.#noteAdopted(d, this.#adopt(d, results[i]!, cas), have));
    return have;
  }

  /**
   * `fetchObjects` without blocking this thread while the server answers (a folder's members
   * too): for a `sluice worker`, whose event loop renews the locks of its other jobs meanwhile.
   */
  async fetchObjectsAsync(digests: readonly Digest[], cas: LocalCas): Promise<ReadonlySet<Digest>> {
    const { have, want } = this.#wanted(digests, cas);
    if (want.length === 0 || this.#down) return have;
    this.stats.fetchRounds++;
    const results = await this.#o.client.fetchAsync(want.map(casName));
    if (this.#isDown(results)) return have;
    for (let i = 0; i < want.length; i++) {
      const d = want[i]!;
      const r = results[i]!;
      const checked = this.#check(d, r);
      try {
        const ok = checked !== undefined && this.#complete(d, checked.manifest, checked.manifest && (await this.fetchObjectsAsync(checked.manifest.entries.map((e) => e.digest), cas))) && this.#store(d, checked, cas);
        this.#noteAdopted(d, ok, have);
      } finally {
        removeSpilled(r);
      }
    }
    return have;
  }

  /** The digests already here, and those to ask the server for (not missed there before in this run). */
  #wanted(digests: readonly Digest[], cas: LocalCas): { have: Set<Digest>; want: Digest[] } {
    const have = new Set<Digest>();
    const want: Digest[] = [];
    for (const d of new Set(digests)) {
      if (cas.localCheck(d) === "ok") have.add(d);
      else if (!this.#missed.has(casName(d))) want.push(d);
    }
    return { have, want };
  }

  /** One answer `unavailable` makes the whole round a failure: the server is marked down for this run. */
  #isDown(results: readonly FetchResult[]): boolean {
    const down = results.find((r) => r.status === "unavailable");
    if (down) this.#markDown(down.reason);
    return down !== undefined;
  }

  #noteAdopted(d: Digest, ok: boolean, have: Set<Digest>): void {
    if (ok) have.add(d);
    else if (!this.#down) this.#missed.add(casName(d));
  }

  /** Verifies one fetched object and stores it locally (a folder only once all its members are). */
  #adopt(digest: Digest, r: FetchResult, cas: LocalCas): boolean {
    const checked = this.#check(digest, r);
    try {
      return checked !== undefined && this.#complete(digest, checked.manifest, checked.manifest && this.fetchObjects(checked.manifest.entries.map((e) => e.digest), cas)) && this.#store(digest, checked, cas);
    } finally {
      removeSpilled(r);
    }
  }

  /**
   * A fetched object whose bytes are whole and match its digest, with its folder manifest if it is
   * one; undefined (and a warning) otherwise. A spilled file is the caller's to remove (`removeSpilled`).
   */
  #check(digest: Digest, r: FetchResult): { bytes?: Buffer; path?: string; manifest?: DirManifest } | undefined {
    if (r.status !== "hit") return undefined;
    const path = "path" in r ? r.path : undefined;
    // The worker hashed the bytes as they arrived; a spilled file that does not hold all of them is no copy of them.
    const held = path === undefined ? r.size : statSync(path).size;
    if (held !== r.size) {
      this.#log.warn({ digest, expected: r.size, held }, "remote cache object was not written whole to the temp folder (disk full?): treated as a miss");
      return undefined;
    }
    if (`sha256:${r.sha256}` !== digest) {
      this.stats.corruptObjects++;
      this.#log.warn({ digest, actual: `sha256:${r.sha256}`, artifact: casName(digest) }, "remote cache object does not match its digest: treated as a miss; remove the artifact from the server");
      return undefined;
    }
    const bytes = path === undefined ? Buffer.from((r as { bytes: Uint8Array }).bytes) : undefined;
    const manifest = bytes ? asManifest(bytes) : fileStartsLikeManifest(path!) ? parseDirManifest(readFileSync(path!)) : undefined;
    return { bytes, path, manifest };
  }

  /** A folder counts only once every member is stored here (`got`: the members fetched). */
  #complete(digest: Digest, manifest: DirManifest | undefined, got: ReadonlySet<Digest> | undefined): boolean {
    if (!manifest) return true;
    const missing = manifest.entries.map((e) => e.digest).filter((m) => !got!.has(m));
    if (missing.length === 0) return true;
    if (!this.#down) this.#log.warn({ digest, missing: missing.length, first: missing[0] }, "remote cache folder is incomplete: treated as a miss");
    return false;
  }

  #store(digest: Digest, checked: { bytes?: Buffer; path?: string }, cas: LocalCas): true {
    if (checked.bytes) cas.putBytes(checked.bytes);
    else cas.adoptVerifiedFile(checked.path!, digest); // consumes the file; the caller's rmSync finds nothing
    this.stats.objectsFetched++;
    return true;
  }

  fetchEntry(key: CacheKey): ActionEntry | undefined {
    return this.fetchEntries([key]).get(key);
  }

  /**
   * Fetches many entries in one blocking round (8 requests at a time), then every output object
   * they name in another: a verified entry is returned only when all its outputs are now stored
   * locally. Entries missing, rejected or incomplete are left out (with a warning for the latter two).
   */
  fetchEntries(keys: readonly CacheKey[]): Map<CacheKey, ActionEntry> {
    const out = new Map<CacheKey, ActionEntry>();
    const cas = this.#cas;
    keys = [...new Set(keys)].filter((k) => !this.#missed.has(acName(k)));
    if (this.#down || !cas || keys.length === 0) return out;
    this.stats.fetchRounds++;
    const results = this.#o.client.fetch(keys.map(acName));
    const down = results.find((r) => r.status === "unavailable");
    if (down) {
      this.#markDown(down.reason);
      return out;
    }
    const opened: ActionEntry[] = [];
    keys.forEach((key, i) => {
      const r = results[i]!;
      if (r.status !== "hit") {
        this.stats.entryMisses++;
        this.#missed.add(acName(key));
        return;
      }
      const bytes = "path" in r ? readFileSync(r.path) : Buffer.from(r.bytes);
      if ("path" in r) rmSync(r.path, { force: true });
      const o = openEntry(bytes, key, this.#o.signingKey);
      if (o.ok) opened.push(o.entry);
      else {
        this.#missed.add(acName(key));
        this.stats.rejectedEntries++;
        this.#log.warn({ key, artifact: acName(key), why: o.why }, "remote cache entry rejected (its signature does not verify under SLUICE_REMOTE_CACHE_SIGNING_KEY): the step reruns");
      }
    });
    const got = this.fetchObjects(opened.flatMap((e) => Object.values(e.outputs)), cas);
    for (const e of opened) {
      const missing = Object.values(e.outputs).filter((d) => !got.has(d));
      if (missing.length === 0) {
        this.stats.entryHits++;
        out.set(e.key, e);
        continue;
      }
      if (!this.#down) {
        this.#log.warn({ key: e.key, missing }, "remote cache entry names outputs the server cannot supply intact: the step reruns");
        this.#missed.add(acName(e.key));
      }
      this.stats.entryMisses++;
    }
    return out;
  }

  publish(entry: ActionEntry): void {
    if (this.#o.readOnly || this.#down) return;
    if (this.#queue.length + this.#inFlight >= (this.#o.maxQueuedUploads ?? 10_000)) {
      this.stats.uploadsDropped++;
      if (!this.#warnedFull) this.#log.warn({ max: this.#o.maxQueuedUploads ?? 10_000 }, "remote cache upload queue full: later entries of this run are not shared");
      this.#warnedFull = true;
      return;
    }
    this.#queue.push(entry);
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => this.#pump()); // off the caller's path: the run goes on while uploads build
  }

  #pump(): void {
    this.#pumpScheduled = false;
    while (this.#inFlight < (this.#o.uploadsInFlight ?? 16) && this.#queue.length > 0 && !this.#down) {
      const entry = this.#queue.shift()!;
      const objects = this.#objectsOf(entry);
      if (!objects) {
        this.stats.uploadsDropped++;
        continue;
      }
      this.#inFlight++;
      void this.#o.client.upload(objects, { name: acName(entry.key), bytes: signEntry(entry, this.#o.signingKey) }).then((reply) => this.#uploaded(reply));
    }
    this.#maybeIdle();
  }

  /**
   * Uploads objects now (a folder's members too), write-once, and resolves true once every one is
   * on the server: for handing inputs to a worker on another machine, or outputs back. False in
   * read-only mode, when the server is unavailable, or when an object is not in the local cache.
   */
  async pushObjects(digests: readonly Digest[]): Promise<boolean> {
    if (this.#o.readOnly || this.#down) return false;
    const objects = this.#itemsOf(digests);
    if (!objects) return false;
    if (objects.length === 0) return true;
    const reply = await this.#o.client.upload(objects);
    if (reply.status === "done") {
      this.stats.artifactsPut += reply.put;
      this.stats.artifactsPresent += reply.present;
      return true;
    }
    if (reply.status === "unavailable") this.#markDown(reply.reason);
    return false;
  }

  /** Every object an entry names (a folder's members first), or undefined when one is gone or damaged here. */
  #objectsOf(entry: ActionEntry): UploadItem[] | undefined {
    return this.#itemsOf(Object.values(entry.outputs), true);
  }

  /** With `elsewhere`, an object not held here (a remote worker made it) is expected on the server instead. */
  #itemsOf(digests: readonly Digest[], elsewhere = false): UploadItem[] | undefined {
    const cas = this.#cas!;
    const items = new Map<Digest, UploadItem>();
    const add = (d: Digest): boolean => {
      if (items.has(d)) return true;
      const o = cas.localObject(d);
      if (!o && elsewhere) {
        items.set(d, { name: casName(d), onServer: true });
        return true;
      }
      if (!o || ("bytes" in o && sha256(o.bytes) !== d)) return false;
      const manifest = "bytes" in o ? asManifest(o.bytes) : fileStartsLikeManifest(o.path) ? parseDirManifest(readFileSync(o.path)) : undefined;
      if (manifest && !manifest.entries.every((e) => add(e.digest))) return false;
      items.set(d, "bytes" in o ? { name: casName(d), bytes: o.bytes } : { name: casName(d), path: o.path, size: o.size });
      return true;
    };
    return digests.every(add) ? [...items.values()] : undefined;
  }

  #uploaded(reply: UploadReply): void {
    this.#inFlight--;
    if (reply.status === "done") {
      this.stats.entriesUploaded++;
      this.stats.artifactsPut += reply.put;
      this.stats.artifactsPresent += reply.present;
    } else if (reply.status === "skipped") this.stats.uploadsDropped++;
    else {
      this.stats.uploadsDropped++;
      this.#markDown(reply.reason);
    }
    this.#pump();
  }

  #maybeIdle(): void {
    if (this.#inFlight > 0 || (this.#queue.length > 0 && !this.#down) || this.#pumpScheduled) return;
    for (const done of this.#idle.splice(0)) done();
  }

  /** Resolves once every queued entry is uploaded (or dropped because the server is unavailable). */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.#idle.push(resolve);
      this.#maybeIdle();
    });
  }

  #markDown(reason: string): void {
    if (this.#down) return;
    this.#down = reason;
    this.stats.unavailable = reason;
    this.stats.uploadsDropped += this.#queue.length;
    this.#queue.length = 0;
    this.#log.warn({ reason }, "remote cache unavailable: this run goes on with the local cache only (no remote reads, no uploads)");
  }

  /** Flushes, then stops the HTTP thread. */
  async close(): Promise<void> {
    await this.flush();
    await this.#o.client.close();
  }
}
