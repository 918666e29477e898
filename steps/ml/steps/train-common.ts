/**
 * What every trainer step shares: the training matrix from a table and a fitted feature spec,
 * learning curves as step metrics, and the ONNX file with the column metadata.
 */
import type { Table } from "sluice";
import type { Matrix } from "../matrix.ts";
import { Pipeline, type PipelineParams } from "../preprocess.ts";
import { checkSpec, classIndices, dataInvalid, modelInputs, targets, type FeatureSpec } from "./features.ts";
import { metaOf, withModelMeta } from "./onnx-io.ts";

/** A training set: the raw inputs, the preprocessed matrix and the labels (class indices) or targets. */
export interface TrainingSet {
  readonly spec: FeatureSpec;
  readonly raw: { numeric: Matrix; categorical?: string[][] };
  /** The preprocessing applied to get `X` (and to put in the ONNX graph). */
  readonly pipeline: PipelineParams;
  readonly X: Matrix;
  readonly y: Int32Array | Float64Array;
}

/** Builds the training set; `unscaled` leaves the fitted scaler out (trees do not need it). */
export function trainingSet(train: Table, specInput: unknown, where: string, opts: { unscaled?: boolean } = {}): TrainingSet {
  const spec = checkSpec(specInput, where);
  if (train.numRows === 0) throw dataInvalid(where, 'input "train" has no rows', "Check the split and filters upstream.");
  const raw = modelInputs(train, spec, where);
  const y = spec.task === "classification" ? classIndices(train, spec.label, spec.classes, where) : targets(train, spec.label, where);
  if (spec.task === "classification") {
    const seen = new Set(y);
    if (seen.size < 2) {
      throw dataInvalid(`${where}, column "${spec.label}"`, `the training rows hold a single class (${JSON.stringify(spec.classes[y[0]!])}); a classifier needs at least 2`, "Check the label column and the filters upstream, or train a regression model.", { column: spec.label });
    }
  }
  const pipeline = opts.unscaled ? { ...spec.pipeline, scaler: null } : spec.pipeline;
  return { spec, raw, pipeline, X: Pipeline.transform(pipeline, raw), y };
}

/** The ONNX bytes with the column metadata scoring steps read. */
export function finishOnnx(bytes: Uint8Array, spec: FeatureSpec, trainer: string): Uint8Array {
  return withModelMeta(bytes, metaOf(spec, trainer));
}

/** A learning-curve callback that records `train_loss` (and `valid_loss`) per epoch as step metrics. */
export function curve(metric: (name: string, value: number, step?: number) => void): (epoch: number, loss: number, valid?: number | null) => void {
  return (epoch, loss, valid) => {
    if (Number.isFinite(loss)) metric("train_loss", loss, epoch);
    if (valid !== undefined && valid !== null && Number.isFinite(valid)) metric("valid_loss", valid, epoch);
  };
}
