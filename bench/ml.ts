import fs from "node:fs";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { createTable, readCsv, type Column, type Table } from "../src/index.ts";
import { predictGbdt, trainGbdt, type GbdtMatrix, type GbdtParams } from "../steps/ml/gbdt.ts";
import { accuracy } from "../steps/ml/metrics.ts";
import { exportGbdt } from "../steps/ml/onnx/export-trees.ts";
import { ort } from "../steps/ml/onnx/model.ts";
import { createRng } from "../steps/ml/rng.ts";
import { withModelMeta, type ModelMeta } from "../steps/ml/steps/onnx-io.ts";
import { scoreBatch } from "../steps/ml/steps/score-batch.ts";
import type { BenchWorkspace } from "./lib/bench-workspace.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median, timeMs } from "./lib/stats.ts";

const FEATURES = 20;
const CSV_COLUMNS = 6;
const CHUNK_ROWS = 8192;
const GBDT = { maxIter: 100, maxLeafNodes: 31, learningRate: 0.1 } as const;

/**
 * A deterministic binary-classification set: 20 standard-normal features, of which 6 carry the
 * signal (linear, an interaction, a sine and a step) and 14 are noise; the label is the sign of
 * the signal plus Gaussian noise, so no model reaches 100 %.
 */
function classificationData(rows: number, seed: number): { X: GbdtMatrix; y: Int32Array } {
  const rng = createRng(seed);
  const data = new Float64Array(rows * FEATURES);
  const y = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const x = data.subarray(i * FEATURES, (i + 1) * FEATURES);
    for (let j = 0; j < FEATURES; j++) x[j] = rng.normal();
    const signal = 1.2 * x[0]! - 0.8 * x[1]! + 0.9 * x[2]! * x[3]! + Math.sin(2 * x[4]!) + (x[5]! > 0.5 ? 0.7 : -0.3);
    y[i] = signal + 0.6 * rng.normal() > 0 ? 1 : 0;
  }
  return { X: { rows, cols: FEATURES, data }, y };
}

function takeRows(X: GbdtMatrix, start: number, end: number): GbdtMatrix {
  return { rows: end - start, cols: X.cols, data: X.data.slice(start * X.cols, end * X.cols) };
}

/** The features as a table of float64 columns f0..f19 (what score-batch reads). */
function featureTable(X: GbdtMatrix): Table {
  const columns: Column[] = [];
  for (let j = 0; j < X.cols; j++) {
    const values = new Float64Array(X.rows);
    for (let i = 0; i < X.rows; i++) values[i] = X.data[i * X.cols + j]!;
    columns.push({ name: `f${j}`, type: "float64", values });
  }
  return createTable(columns);
}

/** The trained ensemble as the ONNX file train-gbdt writes (no preprocessing in front: the features are numeric and complete). */
function modelFile(params: GbdtParams): Uint8Array {
  const meta: ModelMeta = { task: "classification", label: "y", numeric: Array.from({ length: FEATURES }, (_, j) => `f${j}`), categorical: [], classes: ["0", "1"], trainer: "gbdt" };
  return withModelMeta(exportGbdt(params, { name: "gbdt", labels: meta.classes }), meta);
}

/** Calls the score-batch step's `run` in process, as the engine and the step unit tests do. */
async function runScoreBatch(modelPath: string, table: Table, parallelism: number, outDir: string): Promise<Table> {
  const ctx = {
    params: { chunkRows: CHUNK_ROWS, parallelism, keepColumns: true },
    inputs: { model: modelPath, table },
    outDir, signal: new AbortController().signal, runId: "bench", stepId: "score", attempt: 1, env: {}, inputDigests: {},
    models: new Proxy({}, { get: () => () => Promise.reject(new Error("no registry in the bench")) }),
    log: () => {},
    metric: () => {},
  } as unknown as Parameters<typeof scoreBatch.run>[0];
  const out = (await scoreBatch.run(ctx)) as { scores: Table };
  return out.scores;
}

/** The floor: one bare onnxruntime-node session (1 intra-op thread) on the same float32 rows, in one call or in the step's chunks. */
async function bareSession(model: Uint8Array, input: Float32Array, rows: number, chunkRows: number): Promise<void> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    for (let s = 0; s < rows; s += chunkRows) {
      const e = Math.min(rows, s + chunkRows);
      await session.run({ input: new ort.Tensor("float32", input.subarray(s * FEATURES, e * FEATURES), [e - s, FEATURES]) });
    }
  } finally {
    await session.release();
  }
}

/** A numeric CSV: an integer id, three floats with 3–6 decimals, a small integer and a signed float. */
function writeNumericCsv(file: string, rows: number, seed: number): number {
  const rng = createRng(seed);
  const fd = fs.openSync(file, "w");
  try {
    fs.writeSync(fd, "id,x,y,z,count,delta\n");
    const lines: string[] = [];
    for (let i = 0; i < rows; i++) {
      lines.push(`${i},${(rng.next() * 1000).toFixed(3)},${rng.normal().toFixed(6)},${(rng.next() * 10).toFixed(4)},${rng.int(500)},${(rng.normal() * 50).toFixed(2)}`);
      if (lines.length === 50_000 || i === rows - 1) {
        fs.writeSync(fd, `${lines.join("\n")}\n`);
        lines.length = 0;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return fs.statSync(file).size;
}

const perS = (n: number, ms: number): string => `${Math.round((n * 1000) / ms).toLocaleString("en-US")} rows/s`;

/**
 * f. The ML steps: GBDT training time and hold-out accuracy; score-batch against a bare
 * onnxruntime-node session on the same rows and model; readCsv against csv-parse alone.
 */
export async function mlBench(bw: BenchWorkspace, o: { trainRows: number; scoreRows: number; csvRows: number; reps: number; trainReps: number }, log: (s: string) => void): Promise<Row[]> {
  const section = "f. ML steps";
  const dir = bw.freshCacheDir("ml");
  fs.mkdirSync(dir, { recursive: true });
  const n = (x: number): string => x.toLocaleString("en-US");

  // 1. GBDT training on 80 %, accuracy on the 20 % hold-out.
  const all = classificationData(o.trainRows, 42);
  const cut = Math.round(o.trainRows * 0.8);
  const Xtrain = takeRows(all.X, 0, cut);
  const Xtest = takeRows(all.X, cut, o.trainRows);
  const yTrain = all.y.subarray(0, cut);
  const yTest = all.y.subarray(cut);
  const trainMs: number[] = [];
  let params: GbdtParams | undefined;
  let acc = 0;
  for (let rep = 0; rep < o.trainReps; rep++) {
    let model: ReturnType<typeof trainGbdt> | undefined;
    trainMs.push(await timeMs(() => (model = trainGbdt(Xtrain, yTrain, { task: "classification", seed: 0, ...GBDT }))));
    params = model!.params;
    acc = accuracy(yTest, model!.predict(Xtest));
  }
  log(`  GBDT ${n(cut)} × ${FEATURES}, ${GBDT.maxIter} iterations, maxLeafNodes ${GBDT.maxLeafNodes}: ${trainMs.map((x) => fmt(x / 1000, 2)).join(", ")} s; hold-out accuracy ${fmt(acc * 100, 2)} %`);

  // 2. score-batch vs a bare session, same model, same rows (new data from another seed).
  const bytes = modelFile(params!);
  const modelPath = path.join(dir, "gbdt.onnx");
  fs.writeFileSync(modelPath, bytes);
  const fresh = classificationData(o.scoreRows, 7).X;
  const table = featureTable(fresh);
  const input = Float32Array.from(fresh.data);
  const step1: number[] = [];
  const stepN: number[] = [];
  const bareOne: number[] = [];
  const bareChunks: number[] = [];
  let disagree = 0;
  for (let rep = 0; rep <= o.reps; rep++) {
    const b1 = await timeMs(() => bareSession(bytes, input, o.scoreRows, o.scoreRows));
    const bc = await timeMs(() => bareSession(bytes, input, o.scoreRows, CHUNK_ROWS));
    let scores: Table | undefined;
    const s1 = await timeMs(async () => (scores = await runScoreBatch(modelPath, table, 1, dir)));
    const sN = await timeMs(() => runScoreBatch(modelPath, table, 0, dir));
    if (rep === 0) {
      const pred = scores!.columns.find((c) => c.name === "prediction")!.values as string[];
      const want = predictGbdt(params!, fresh);
      want.forEach((v, i) => (disagree += String(v) === pred[i] ? 0 : 1));
      continue;
    }
    bareOne.push(b1);
    bareChunks.push(bc);
    step1.push(s1);
    stepN.push(sN);
  }
  const floorMs = Math.min(median(bareOne), median(bareChunks));
  const floorHow = median(bareOne) <= median(bareChunks) ? "one run() call" : `${n(CHUNK_ROWS)}-row chunks`;
  log(`  score ${n(o.scoreRows)} rows: score-batch parallelism 1 ${step1.map((x) => fmt(x, 0)).join(", ")} ms; parallelism 0 (one per core) ${stepN.map((x) => fmt(x, 0)).join(", ")} ms`);
  log(`  bare session: one call ${bareOne.map((x) => fmt(x, 0)).join(", ")} ms; ${n(CHUNK_ROWS)}-row chunks ${bareChunks.map((x) => fmt(x, 0)).join(", ")} ms; step predictions differing from the TS model's: ${disagree} of ${n(o.scoreRows)}`);

  // 3. readCsv vs csv-parse alone on the same file.
  const csvPath = path.join(dir, "numeric.csv");
  const bytesCsv = writeNumericCsv(csvPath, o.csvRows, 3);
  const mib = bytesCsv / 1024 ** 2;
  const ours: number[] = [];
  const floor: number[] = [];
  for (let rep = 0; rep <= o.reps; rep++) {
    const f = await timeMs(() => parse(fs.readFileSync(csvPath, "utf8")));
    const r = await timeMs(() => readCsv(csvPath));
    if (rep > 0) {
      floor.push(f);
      ours.push(r);
    }
  }
  log(`  CSV ${n(o.csvRows)} × ${CSV_COLUMNS} (${fmt(mib)} MiB): readCsv ${ours.map((x) => fmt(x, 0)).join(", ")} ms; csv-parse ${floor.map((x) => fmt(x, 0)).join(", ")} ms`);
  fs.rmSync(dir, { recursive: true, force: true });

  const t = median(trainMs);
  const s1 = median(step1);
  const sN = median(stepN);
  const mibS = (ms: number): number => mib / (ms / 1000);
  return [
    { section, name: `trainGbdt on a ${n(o.trainRows)} × ${FEATURES} binary table (${n(cut)} train rows), ${GBDT.maxIter} iterations, maxLeafNodes ${GBDT.maxLeafNodes} (no depth limit), in process`, measured: `${fmt(t / 1000, 2)} s = ${perS(cut, t)} (${fmt(acc * 100, 1)} % accuracy on the ${n(o.trainRows - cut)}-row hold-out)`, floor: "", ratio: "", target: "", met: null },
    { section, name: `score-batch step run() in process, parallelism 1, ${n(o.scoreRows)} rows, that GBDT`, measured: perS(o.scoreRows, s1), floor: `bare session ${perS(o.scoreRows, floorMs)} (${floorHow})`, ratio: `${fmt((floorMs / s1) * 100, 0)} %`, target: "≥ 80 % of bare", met: floorMs / s1 >= 0.8 },
    { section, name: `score-batch step run() in process, parallelism 0 (one worker per core), ${n(o.scoreRows)} rows`, measured: perS(o.scoreRows, sN), floor: `bare session ${perS(o.scoreRows, floorMs)}`, ratio: `${fmt((floorMs / sN) * 100, 0)} %`, target: "", met: null },
    { section, name: `readCsv, ${n(o.csvRows)} × ${CSV_COLUMNS} numeric (${fmt(mib)} MiB) → table`, measured: `${fmt(mibS(median(ours)))} MiB/s`, floor: `csv-parse/sync ${fmt(mibS(median(floor)))} MiB/s (strings)`, ratio: `${fmt(median(floor) / median(ours), 2)}× csv-parse's speed`, target: "", met: null },
  ];
}
