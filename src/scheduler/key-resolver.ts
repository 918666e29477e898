import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { SluiceError } from "../errors.ts";
import type { Plan, StepNode } from "../graph/index.ts";
import { keyRecord, keyRecordJsonParts, type CacheKey, type KeyRecord, type KeyRecordJsonParts } from "../hash/cache-key.ts";
import { canonicalJson, sha256 } from "../util/canonical-json.ts";
import type { CodeFiles } from "../hash/explain.ts";
import type { ActionCache } from "../store/action-cache.ts";
import type { CacheDb, GroupCommit } from "../store/cache-db.ts";
import type { Claims } from "../store/claims.ts";
import type { LocalCas } from "../store/local-cas.ts";
import type { StatCache } from "../store/stat-cache.ts";
import type { Digest } from "../util/canonical-json.ts";
import type { ResolvedInput } from "./executor.ts";

/** Fingerprints step code (see hash/code-fingerprint). */
export interface Fingerprinter {
  fingerprint(file: string): { digest: Digest; manifest: CodeFiles };
}

/** The stores and services a run reads and writes. */
export interface CacheServices {
  readonly db: CacheDb;
  /** Batches the run's cache writes into few transactions. */
  readonly commits: GroupCommit;
  readonly cas: LocalCas;
  readonly statCache: StatCache;
  readonly actionCache: ActionCache;
  readonly claims: Claims;
  readonly fingerprinter: Fingerprinter;
  /** Epoch ms. */
  readonly clock: () => number;
  /** Environment the run sees (declared env vars are read from here). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Outcome of a cache lookup. */
export type LookupResult =
  | { readonly hit: true; readonly outputs: Readonly<Record<string, Digest>> }
  | { readonly hit: false; readonly reason: string; readonly warning?: string };

/** A step's declared input ports in canonical order, each with its JSON lead (`{"name":` or `,"name":`). */
interface SortedPorts {
  readonly names: readonly string[];
  readonly quoted: readonly string[];
}

/** What every instance of a step shares in a run's keys. */
interface SharedKeyParts {
  readonly base: KeyRecord;
  readonly json: KeyRecordJsonParts;
  readonly ports: SortedPorts;
}

/**
 * `canonicalJson(inputs)` when `inputs` holds a string for exactly the step's declared ports (as
 * every run's inputs do), made without listing and sorting the object's keys per step; undefined
 * otherwise (the caller falls back to canonicalJson).
 */
function digestsJson(ports: SortedPorts, inputs: Readonly<Record<string, string>>): string | undefined {
  const { names, quoted } = ports;
  let count = 0;
  for (const _ in inputs) count++;
  if (count !== names.length) return undefined;
  if (count === 0) return "{}";
  let out = "";
  for (let i = 0; i < names.length; i++) {
    const d = inputs[names[i]!];
    if (typeof d !== "string") return undefined;
    out += quoted[i]! + JSON.stringify(d);
  }
  return out + "}";
}

/** Computes code fingerprints, source digests and cache keys, and decides hits. */
export class KeyResolver {
  readonly #s: CacheServices;
  readonly #pipeline: string;
  readonly #code = new Map<string, Digest>();
  /** Per step definition: its key record without params and inputs, and that record's JSON around them. */
  readonly #shared = new Map<StepNode["step"], SharedKeyParts>();

  constructor(services: CacheServices, pipeline: string) {
    this.#s = services;
    this.#pipeline = pipeline;
  }

  /** Fingerprints every step module of the plan (before any step runs) and records the manifests. */
  fingerprintAll(plan: Plan): void {
    // Undefined when nothing was read: the entries and the CAS's notes from the last read still hold.
    const inline = this.#s.actionCache.preload(plan.name);
    if (inline) this.#s.cas.notePresentInline(inline);
    const manifests: Array<[Digest, CodeFiles]> = [];
    for (const node of plan.nodes.values()) {
      if (node.kind === "source" || this.#code.has(node.step.moduleUrl)) continue;
      const url = node.step.moduleUrl;
      if (!url.startsWith("file:")) {
        throw new SluiceError("SLUICE_DEFINITION_INVALID", `pipeline "${plan.name}" › step "${node.id}": its module ${url} is not a file, so its code cannot be fingerprinted. Declare steps in .ts/.js files.`, { pipeline: plan.name, step: node.id });
      }
      const fp = this.#s.fingerprinter.fingerprint(fileURLToPath(url));
      this.#code.set(url, fp.digest);
      manifests.push([fp.digest, fp.manifest]);
    }
    this.#s.commits.run(() => {
      for (const [d, m] of manifests) this.#s.actionCache.putCode(d, m);
    });
  }

  /** Digest of a step's code (after `fingerprintAll`). */
  codeOf(node: StepNode): Digest {
    return this.#code.get(node.step.moduleUrl)!;
  }

  /** Digests every source file and folder; every missing one is named in one error. */
  async digestSources(plan: Plan): Promise<Map<string, ResolvedInput>> {
    const sources = [...plan.nodes.values()].filter((n) => n.kind === "source");
    const missing = sources.filter((n) => !fs.existsSync(n.path));
    if (missing.length > 0) {
      const lines = missing.map((n) => `  - ${n.sourceKind} "${n.relPath}" (node "${n.id}", looked for ${n.path})`);
      throw new SluiceError("SLUICE_INPUT_MISSING", `pipeline "${plan.name}": ${missing.length === 1 ? "an input is" : "inputs are"} missing:\n${lines.join("\n")}\nFix: create ${missing.length === 1 ? "it" : "them"}, or point the pipeline at the right path.`, { pipeline: plan.name, step: missing[0]!.id, path: missing[0]!.path });
    }
    const out = new Map<string, ResolvedInput>();
    await Promise.all(
      sources.map(async (n) => {
        const digest = n.sourceKind === "file" ? (await this.#s.statCache.digestFile(n.path)).digest : (await this.#s.statCache.digestDir(n.path)).digest;
        out.set(n.id, { kind: n.sourceKind, digest, sourcePath: n.path });
      }),
    );
    this.#s.statCache.flush();
    return out;
  }

  /**
   * The key of a step instance whose inputs are digested, and the canonical JSON it hashes (what
   * the action cache stores as the entry's manifest). No record object: a hit needs none (10,000
   * of them were garbage at once); `recordOf` makes one for an entry or an explanation.
   */
  keyOf(node: StepNode, inputs: Readonly<Record<string, Digest>>): { key: CacheKey; recordJson: string } {
    const shared = this.#sharedOf(node);
    const { json } = shared;
    const recordJson = json.head + (digestsJson(shared.ports, inputs) ?? canonicalJson(inputs)) + json.middle + canonicalJson(node.params) + json.tail;
    return { key: sha256(recordJson) as CacheKey, recordJson };
  }

  /** The key record of a step instance (what `keyOf` hashes, as an object). */
  recordOf(node: StepNode, inputs: Readonly<Record<string, Digest>>): KeyRecord {
    const base = this.#sharedOf(node).base;
    return { format: base.format, step: base.step, code: base.code, version: base.version, params: node.params, inputs, env: base.env };
  }

  /** What every instance of a step shares in a run (code, env, version), made once. */
  #sharedOf(node: StepNode): SharedKeyParts {
    let shared = this.#shared.get(node.step);
    if (!shared) {
      const base = keyRecord({ step: node.step.name, code: this.codeOf(node), version: node.step.version, params: {}, inputs: {}, env: node.step.env, envValues: this.#s.env });
      const names = Object.keys(node.step.inputs).sort();
      shared = { base, json: keyRecordJsonParts(base), ports: { names, quoted: names.map((n, i) => (i === 0 ? "{" : ",") + JSON.stringify(n) + ":") } };
      this.#shared.set(node.step, shared);
    }
    return shared;
  }

  /** Is there a usable entry? Checks the TTL and that every output object is intact. */
  lookup(node: StepNode, key: CacheKey): LookupResult {
    if (node.cache === false) return { hit: false, reason: "cache: false" };
    const entry = this.#s.actionCache.get(key);
    if (!entry) return { hit: false, reason: "no cache entry for this key" };
    if (typeof node.cache === "object" && entry.createdAt + node.cache.ttlMs <= this.#s.clock()) {
      return { hit: false, reason: `cache entry expired (ttl ${node.cache.ttlMs} ms)` };
    }
    for (const port in entry.outputs) {
      const digest = entry.outputs[port]!;
      const state = this.#s.cas.check(digest);
      if (state !== "ok") {
        const what = `cached output "${port}" (${digest}) is ${state} in the cache`;
        return { hit: false, reason: `${what}; rerunning`, warning: `${what}; the step reruns to rebuild it` };
      }
    }
    return { hit: true, outputs: entry.outputs };
  }

  /** Where this pipeline's entries are filed in the action cache. */
  get pipeline(): string {
    return this.#pipeline;
  }
}
