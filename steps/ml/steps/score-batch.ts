import fs from "node:fs";
import os from "node:os";
import { createTable, defineStep, port, Type, type Column } from "sluice";
import { createSession } from "../onnx/model.ts";
import { dataInvalid, requireColumns } from "./features.ts";
import { plainFeeds, readModelMeta, readScores, runPlain, sliceFeeds, type PlainTensor } from "./onnx-io.ts";
import { scoreOnThreads } from "./session-workers.ts";

/**
 * Scores a table with a trained ONNX model (preprocessing included). Rows are cut into chunks;
 * with `parallelism` > 1 they are scored by that many worker threads at once, each with its own
 * onnxruntime-node session (one intra-op thread). Output: the input columns (unless
 * `keepColumns` is false), `prediction` (class name or value) and, for classifiers,
 * `proba_<class>` per class. A column the model needs that the table lacks is an error naming it.
 */
export const scoreBatch = defineStep({
  name: "score-batch",
  description: "Batch scoring of a table with an ONNX model, in parallel chunks",
  executor: "thread",
  inputs: { model: port.file(), table: port.table() },
  outputs: { scores: port.table() },
  params: Type.Object({
    chunkRows: Type.Integer({ minimum: 1, default: 8192 }),
    /** Threads scoring at once; 0 = one per core. */
    parallelism: Type.Integer({ minimum: 0, default: 0 }),
    keepColumns: Type.Boolean({ default: true }),
  }),
  async run({ inputs, params, log }) {
    const where = `score-batch › input "table"`;
    const bytes = fs.readFileSync(inputs.model);
    const meta = readModelMeta(bytes, `score-batch › input "model"`);
    const t = inputs.table;
    requireColumns(t, [...meta.numeric, ...meta.categorical], where, `model "${meta.trainer}"`);
    const outNames = meta.task === "regression" ? ["prediction"] : ["prediction", ...meta.classes.map((c) => `proba_${c}`)];
    const clash = params.keepColumns ? outNames.find((n) => t.columns.some((c) => c.name === n)) : undefined;
    if (clash) throw dataInvalid(`${where}, column "${clash}"`, "has the name of an output column", "Rename or drop it, or score with keepColumns: false.", { column: clash });
    const feeds = plainFeeds(t, meta, where);
    const chunks: Record<string, PlainTensor>[] = [];
    const starts: number[] = [];
    for (let s = 0; s < t.numRows; s += params.chunkRows) {
      starts.push(s);
      chunks.push(sliceFeeds(feeds, s, Math.min(t.numRows, s + params.chunkRows)));
    }
    const threads = Math.max(1, Math.min(chunks.length, params.parallelism || os.availableParallelism()));
    let outputs: Record<string, PlainTensor>[];
    if (threads > 1) {
      outputs = await scoreOnThreads(bytes, chunks, threads);
    } else {
      const session = await createSession(bytes);
      try {
        outputs = [];
        for (const c of chunks) outputs.push(await runPlain(session, c));
      } finally {
        await session.release();
      }
    }
    const C = meta.classes.length;
    const labels = new Int32Array(t.numRows);
    const values = new Float64Array(meta.task === "regression" ? t.numRows : t.numRows * C);
    outputs.forEach((out, k) => {
      const r = readScores(out, meta);
      if (r.values) values.set(r.values, starts[k]!);
      else {
        labels.set(r.labels!, starts[k]!);
        values.set(r.probabilities!, starts[k]! * C);
      }
    });
    const added: Column[] = meta.task === "regression"
      ? [{ name: "prediction", type: "float64", values }]
      : [
          { name: "prediction", type: "string", values: Array.from(labels, (k) => meta.classes[k]!) },
          ...meta.classes.map((c, k): Column => ({ name: `proba_${c}`, type: "float64", values: Float64Array.from({ length: t.numRows }, (_, i) => values[i * C + k]!) })),
        ];
    log("info", "scored", { rows: t.numRows, chunks: chunks.length, threads });
    return { scores: createTable([...(params.keepColumns ? t.columns : []), ...added]) };
  },
});
