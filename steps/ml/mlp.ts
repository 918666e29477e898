import { checkTargets, type EpochCallback } from "./linear.ts";
import { argmaxRows, checkLabels, toProbabilities } from "./logistic.ts";
import { createMatrix, type Matrix } from "./matrix.ts";
import { createRng } from "./rng.ts";
import { trainTestSplit } from "./split.ts";

/** Options of {@link trainMlp}. */
export interface MlpOptions {
  readonly task: "classification" | "regression";
  /** Classes (classification only). @default max(y) + 1 */
  readonly nClasses?: number;
  /** Sizes of the one or two ReLU hidden layers. @default [64] */
  readonly hidden?: readonly number[];
  /** Adam step size. @default 0.001 */
  readonly learningRate?: number;
  /** @default 32 */
  readonly batchSize?: number;
  /** @default 200 */
  readonly maxEpochs?: number;
  /** L2 penalty on weights (not biases), added to the mean loss as l2/2 · ‖W‖². @default 0.0001 */
  readonly l2?: number;
  /** Share of training rows held out (stratified for classification) for early stopping; 0 turns it off. @default 0.1 */
  readonly validationFraction?: number;
  /** Stop after this many epochs without the validation loss improving by `tol`; the best weights are kept. @default 10 */
  readonly patience?: number;
  /** @default 0.0001 */
  readonly tol?: number;
  /** Seed of the initial weights, the validation split and the mini-batch order. @default 0 */
  readonly seed?: number;
  /** Per epoch: mean training loss over its mini-batches and the validation loss (log loss, or MSE in target units). */
  readonly onEpoch?: EpochCallback;
}

/** A dense layer: `out = in · weights + bias`, `weights` is `[inputs × outputs]` row-major. */
export interface DenseLayer {
  readonly inputs: number;
  readonly outputs: number;
  readonly weights: number[];
  readonly bias: number[];
}

/** Fitted MLP: ReLU after every layer but the last, then `output`. Plain JSON. */
export interface MlpParams {
  readonly kind: "mlp";
  readonly task: "classification" | "regression";
  /** Classes, or 0 for regression. */
  readonly nClasses: number;
  readonly output: "sigmoid" | "softmax" | "identity";
  readonly layers: DenseLayer[];
}

/** A fitted MLP. `predict` gives class indices (classification) or values (regression). */
export interface MlpModel {
  readonly params: MlpParams;
  predictProba(X: Matrix): Matrix;
  predict(X: Matrix): Int32Array | Float64Array;
}

interface Layer {
  readonly inputs: number;
  readonly outputs: number;
  readonly w: Float64Array;
  readonly b: Float64Array;
}

/** Activations of every layer for `rows` inputs: [input, hidden..., output logits]. */
function forward(layers: readonly Layer[], input: Float64Array, rows: number): Float64Array[] {
  const acts = [input];
  layers.forEach((layer, l) => {
    const prev = acts[l]!;
    const out = new Float64Array(rows * layer.outputs);
    for (let i = 0; i < rows; i++) {
      const o = i * layer.outputs;
      out.set(layer.b, o);
      for (let j = 0; j < layer.inputs; j++) {
        const x = prev[i * layer.inputs + j]!;
        if (x === 0) continue;
        for (let k = 0; k < layer.outputs; k++) out[o + k]! += x * layer.w[j * layer.outputs + k]!;
      }
    }
    if (l < layers.length - 1) for (let i = 0; i < out.length; i++) if (out[i]! < 0) out[i] = 0;
    acts.push(out);
  });
  return acts;
}

/** Mean loss and output-layer error (∂loss/∂logits · rows) for logits `z` against targets. */
function lossAndDelta(z: Float64Array, y: ArrayLike<number>, rows: number, outputs: number, output: MlpParams["output"]): { loss: number; delta: Float64Array } {
  const delta = new Float64Array(z.length);
  let loss = 0;
  for (let i = 0; i < rows; i++) {
    const t = y[i]!;
    if (output === "identity") {
      delta[i] = z[i]! - t;
      loss += delta[i]! ** 2;
    } else if (output === "sigmoid") {
      const zi = z[i]!;
      loss += Math.max(zi, 0) + Math.log1p(Math.exp(-Math.abs(zi))) - t * zi;
      delta[i] = 1 / (1 + Math.exp(-zi)) - t;
    } else {
      const row = z.subarray(i * outputs, (i + 1) * outputs);
      const max = Math.max(...row);
      let sum = 0;
      for (let k = 0; k < outputs; k++) sum += Math.exp(row[k]! - max);
      loss += max + Math.log(sum) - row[t]!;
      for (let k = 0; k < outputs; k++) delta[i * outputs + k] = Math.exp(row[k]! - max) / sum - (k === t ? 1 : 0);
    }
  }
  return { loss: loss / rows, delta };
}

function toParams(task: MlpParams["task"], nClasses: number, output: MlpParams["output"], layers: readonly Layer[]): MlpParams {
  return { kind: "mlp", task, nClasses, output, layers: layers.map((l) => ({ inputs: l.inputs, outputs: l.outputs, weights: Array.from(l.w), bias: Array.from(l.b) })) };
}

/** Output-layer values (logits, or regression values) of a fitted MLP. */
function outputs(params: MlpParams, X: Matrix): Float64Array {
  const first = params.layers[0]!;
  if (X.cols !== first.inputs) throw new Error(`predictMlp: X has ${X.cols} columns, the model was fitted on ${first.inputs}.`);
  const layers = params.layers.map((l) => ({ inputs: l.inputs, outputs: l.outputs, w: Float64Array.from(l.weights), b: Float64Array.from(l.bias) }));
  return forward(layers, X.data, X.rows).at(-1)!;
}

/** Class probabilities `[N × C]` (classification) or values `[N × 1]` (regression) of an MLP. */
export function predictMlpProba(params: MlpParams, X: Matrix): Matrix {
  const z = outputs(params, X);
  return params.output === "identity" ? createMatrix(X.rows, 1, z) : toProbabilities(z, X.rows, params.output === "sigmoid" ? 1 : params.nClasses);
}

/** Class indices (classification) or predicted values (regression) of an MLP. */
export function predictMlp(params: MlpParams, X: Matrix): Int32Array | Float64Array {
  const p = predictMlpProba(params, X);
  return params.output === "identity" ? p.data : argmaxRows(p);
}

/**
 * A multi-layer perceptron (one or two ReLU hidden layers) trained with Adam on seeded
 * mini-batches, with early stopping on a held-out validation share. Regression targets are
 * standardised while training and the scaling is folded back into the last layer.
 */
export function trainMlp(X: Matrix, y: ArrayLike<number>, options: MlpOptions): MlpModel {
  checkTargets("trainMlp", X, y);
  const { task } = options;
  const hidden = options.hidden ?? [64];
  if (hidden.length < 1 || hidden.length > 2 || !hidden.every((h) => Number.isInteger(h) && h > 0)) throw new Error(`trainMlp: hidden must list one or two positive layer sizes, got [${hidden.join(", ")}].`);
  const nClasses = task === "classification" ? checkLabels("trainMlp", y, options.nClasses) : 0;
  const output: MlpParams["output"] = task === "regression" ? "identity" : nClasses === 2 ? "sigmoid" : "softmax";
  const nOut = output === "softmax" ? nClasses : 1;
  const { learningRate = 1e-3, batchSize = 32, maxEpochs = 200, l2 = 1e-4, validationFraction = 0.1, patience = 10, tol = 1e-4, seed = 0 } = options;
  const rng = createRng(seed);

  let yMean = 0;
  let yScale = 1;
  if (task === "regression") {
    for (let i = 0; i < y.length; i++) yMean += y[i]! / y.length;
    let v = 0;
    for (let i = 0; i < y.length; i++) v += (y[i]! - yMean) ** 2 / y.length;
    yScale = v > 0 ? Math.sqrt(v) : 1;
  }
  const target = Float64Array.from({ length: y.length }, (_, i) => (y[i]! - yMean) / yScale);
  const split = validationFraction > 0 ? trainTestSplit(X.rows, { testFraction: validationFraction, seed, stratify: task === "classification" ? y : undefined }) : { train: Array.from({ length: X.rows }, (_, i) => i), test: [] };
  const pick = (rows: readonly number[]): { x: Float64Array; t: Float64Array } => {
    const x = new Float64Array(rows.length * X.cols);
    rows.forEach((r, i) => x.set(X.data.subarray(r * X.cols, (r + 1) * X.cols), i * X.cols));
    return { x, t: Float64Array.from(rows, (r) => target[r]!) };
  };
  const valid = pick(split.test);

  const sizes = [X.cols, ...hidden, nOut];
  const layers: Layer[] = sizes.slice(1).map((outs, l) => {
    const ins = sizes[l]!;
    // He-uniform for ReLU layers, Glorot-uniform for the output layer.
    const limit = l < hidden.length ? Math.sqrt(6 / ins) : Math.sqrt(6 / (ins + outs));
    return { inputs: ins, outputs: outs, w: Float64Array.from({ length: ins * outs }, () => (2 * rng.next() - 1) * limit), b: new Float64Array(outs) };
  });
  const moments = layers.map((l) => ({ mw: new Float64Array(l.w.length), vw: new Float64Array(l.w.length), mb: new Float64Array(l.b.length), vb: new Float64Array(l.b.length) }));
  const unit = task === "regression" ? yScale * yScale : 1;
  let best = { loss: Infinity, layers: layers.map((l) => ({ ...l, w: Float64Array.from(l.w), b: Float64Array.from(l.b) })) };
  let stale = 0;
  let step = 0;

  for (let epoch = 0; epoch < maxEpochs; epoch++) {
    const order = rng.shuffle([...split.train]);
    let epochLoss = 0;
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = pick(order.slice(start, start + batchSize));
      const rows = batch.t.length;
      const acts = forward(layers, batch.x, rows);
      const { loss, delta: outDelta } = lossAndDelta(acts.at(-1)!, batch.t, rows, nOut, output);
      epochLoss += loss * rows;
      step++;
      let delta = outDelta;
      for (let l = layers.length - 1; l >= 0; l--) {
        const layer = layers[l]!;
        const input = acts[l]!;
        const gw = new Float64Array(layer.w.length);
        const gb = new Float64Array(layer.b.length);
        for (let i = 0; i < rows; i++) {
          for (let k = 0; k < layer.outputs; k++) {
            const d = delta[i * layer.outputs + k]! / rows;
            if (d === 0) continue;
            gb[k]! += d;
            for (let j = 0; j < layer.inputs; j++) gw[j * layer.outputs + k]! += input[i * layer.inputs + j]! * d;
          }
        }
        if (l > 0) {
          const back = new Float64Array(rows * layer.inputs);
          for (let i = 0; i < rows; i++) {
            for (let j = 0; j < layer.inputs; j++) {
              if (input[i * layer.inputs + j]! <= 0) continue;
              let s = 0;
              for (let k = 0; k < layer.outputs; k++) s += delta[i * layer.outputs + k]! * layer.w[j * layer.outputs + k]!;
              back[i * layer.inputs + j] = s;
            }
          }
          delta = back;
        }
        for (let j = 0; j < gw.length; j++) gw[j]! += l2 * layer.w[j]!;
        const m = moments[l]!;
        adam(layer.w, gw, m.mw, m.vw, learningRate, step);
        adam(layer.b, gb, m.mb, m.vb, learningRate, step);
      }
    }
    const trainLoss = (epochLoss / order.length) * unit;
    const check = valid.t.length > 0 ? valid : null;
    const validLoss = check ? lossAndDelta(forward(layers, check.x, check.t.length).at(-1)!, check.t, check.t.length, nOut, output).loss * unit : undefined;
    options.onEpoch?.(epoch, trainLoss, validLoss);
    const monitored = validLoss ?? trainLoss;
    if (monitored < best.loss - tol * unit) {
      best = { loss: monitored, layers: layers.map((l) => ({ ...l, w: Float64Array.from(l.w), b: Float64Array.from(l.b) })) };
      stale = 0;
    } else if (++stale >= patience) {
      break;
    }
  }

  const last = best.layers.at(-1)!;
  for (let i = 0; i < last.w.length; i++) last.w[i]! *= yScale;
  for (let k = 0; k < last.b.length; k++) last.b[k] = last.b[k]! * yScale + yMean;
  const params = toParams(task, nClasses, output, best.layers);
  return { params, predictProba: (m) => predictMlpProba(params, m), predict: (m) => predictMlp(params, m) };
}

function adam(theta: Float64Array, grad: Float64Array, m: Float64Array, v: Float64Array, lr: number, t: number): void {
  const b1 = 0.9;
  const b2 = 0.999;
  const c1 = 1 - b1 ** t;
  const c2 = 1 - b2 ** t;
  for (let i = 0; i < theta.length; i++) {
    m[i] = b1 * m[i]! + (1 - b1) * grad[i]!;
    v[i] = b2 * v[i]! + (1 - b2) * grad[i]! ** 2;
    theta[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-8);
  }
}
