import objectHash from "object-hash";
import { digestJson } from "../src/util/canonical-json.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median, msSince, nowNs } from "./lib/stats.ts";

/** Options of the object-hash comparison. */
export interface ObjectHashBenchOptions {
  /** Timed samples per case (median reported); each sample runs for about `sampleMs`. */
  readonly samples: number;
  readonly sampleMs: number;
}

const SMALL = { lr: 0.01, epochs: 20, batchSize: 64, layers: [64, 32, 16], activation: "relu", dropout: 0.1, seed: 42, early: { patience: 3, minDelta: 0.001 } };

function bigObject(keys: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  // Inserted in reverse so that key sorting has real work to do.
  for (let i = keys - 1; i >= 0; i--) o[`feature_${i}`] = i % 3 === 0 ? i * 0.5 : i % 3 === 1 ? `v${i}` : [i, i + 1];
  return o;
}

/** µs per call of `fn(value)`: median of `samples` timed batches, each sized to run for about `sampleMs`. */
function usPerCall(fn: (v: unknown) => string, value: unknown, o: ObjectHashBenchOptions): number {
  // Warm up and size the batch.
  let batch = 1;
  for (;;) {
    const t = nowNs();
    for (let i = 0; i < batch; i++) fn(value);
    if (msSince(t) >= o.sampleMs / 4) break;
    batch *= 2;
  }
  batch *= 4;
  const per: number[] = [];
  for (let s = 0; s < o.samples; s++) {
    const t = nowNs();
    for (let i = 0; i < batch; i++) fn(value);
    per.push((msSince(t) * 1000) / batch);
  }
  return median(per);
}

/** (d) `object-hash` against canonical JSON + sha256 (`digestJson`) on a params object and a 1,000-key object. */
export function objectHashBench(o: ObjectHashBenchOptions, log: (s: string) => void): Row[] {
  const section = "d. object hashing";
  const rows: Row[] = [];
  const cases: Array<[string, unknown]> = [
    [`small params object (${Object.keys(SMALL).length} keys, nested)`, SMALL],
    ["1,000-key object", bigObject(1000)],
  ];
  for (const [label, value] of cases) {
    const ours = usPerCall(digestJson, value, o);
    const ohSha1 = usPerCall((v) => objectHash(v as object), value, o);
    const ohSha256 = usPerCall((v) => objectHash(v as object, { algorithm: "sha256" }), value, o);
    log(`  ${label}: digestJson ${fmt(ours, 2)} µs; object-hash sha1 ${fmt(ohSha1, 2)} µs, sha256 ${fmt(ohSha256, 2)} µs`);
    const floor = `canonical JSON + sha256 ${fmt(ours, 2)} µs`;
    rows.push(
      { section, name: `${label}: object-hash (defaults: sha1)`, measured: `${fmt(ohSha1, 2)} µs/hash`, floor, ratio: `${fmt(ohSha1 / ours, 1)}× slower`, target: "", met: null },
      { section, name: `${label}: object-hash ({ algorithm: "sha256" })`, measured: `${fmt(ohSha256, 2)} µs/hash`, floor, ratio: `${fmt(ohSha256 / ours, 1)}× slower`, target: "", met: null },
    );
  }
  return rows;
}
