/**
 * Feature binning for the histogram gradient-boosted trees of `gbdt.ts`.
 *
 * Every value is rounded to float32 first, because an exported ONNX model compares float32 inputs
 * with float32 thresholds. Thresholds are float32 numbers that lie strictly below the next distinct
 * training value, so `code <= k` holds exactly when `Math.fround(x) <= thresholds[k]`: the split
 * the trainer picks on bin codes is the split TypeScript and onnxruntime apply to raw values.
 */

/** The largest finite float32: the threshold of a split that sends every non-missing value left. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** The fitted bins of every feature. */
export interface FeatureBins {
  /** Per feature: ascending float32 upper edges; bin k holds `fround(x) <= edges[k]`, the last bin the rest. */
  readonly edges: readonly Float64Array[];
  /** Per feature: the number of non-missing bins (`edges.length + 1`); the missing code is this number. */
  readonly nBins: Int32Array;
}

/** A float32 number in [a, b) between two adjacent distinct float32 values a < b, near their midpoint. */
function midpoint(a: number, b: number): number {
  const t = Math.fround(a / 2 + b / 2);
  return t >= b ? a : t < a ? a : t;
}

/** Index of the first element of sorted `values` that is ≥ `v`. */
function lowerBound(values: Float64Array, v: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Upper edges for one feature from its sorted non-missing float32 values (quantiles when there are too many distinct ones). */
export function featureEdges(sorted: Float64Array, maxBins: number): Float64Array {
  const distinct: number[] = [];
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) distinct.push(sorted[i]!);
  if (distinct.length <= maxBins) {
    const edges = new Float64Array(Math.max(0, distinct.length - 1));
    for (let i = 0; i < edges.length; i++) edges[i] = midpoint(distinct[i]!, distinct[i + 1]!);
    return edges;
  }
  const unique = Float64Array.from(distinct);
  const edges: number[] = [];
  for (let q = 1; q < maxBins; q++) {
    const v = sorted[Math.min(sorted.length - 1, Math.floor((q * sorted.length) / maxBins))]!;
    const j = lowerBound(unique, v);
    if (j + 1 >= unique.length) continue;
    const edge = midpoint(unique[j]!, unique[j + 1]!);
    if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
  }
  return Float64Array.from(edges);
}

/**
 * Fits bins on the given rows of a row-major `rows × cols` matrix (NaN = missing). At most
 * `maxSamples` values per feature feed the quantiles; `pick` chooses which when there are more.
 */
export function fitBins(data: Float64Array, cols: number, rowIds: Int32Array, maxBins: number, maxSamples: number, pick: (n: number, k: number) => Int32Array): FeatureBins {
  const sampleRows = rowIds.length > maxSamples ? pick(rowIds.length, maxSamples).map((i) => rowIds[i]!) : rowIds;
  const edges: Float64Array[] = [];
  const nBins = new Int32Array(cols);
  const buffer = new Float64Array(sampleRows.length);
  for (let f = 0; f < cols; f++) {
    let n = 0;
    for (let i = 0; i < sampleRows.length; i++) {
      const v = data[sampleRows[i]! * cols + f]!;
      if (v === v) buffer[n++] = Math.fround(v);
    }
    const sorted = buffer.slice(0, n).sort();
    const e = featureEdges(sorted, maxBins);
    edges.push(e);
    nBins[f] = e.length + 1;
  }
  return { edges, nBins };
}

/** The bin code of one value: the first k with `fround(v) <= edges[k]`, the last bin above all, `edges.length + 1` for NaN. */
export function binOf(edges: Float64Array, v: number): number {
  if (v !== v) return edges.length + 1;
  return lowerBound(edges, Math.fround(v));
}

/** Bin codes of the given rows, row-major (`codes[i * cols + f]` for row `rowIds[i]`): one cache line serves a row's features. */
export function binRows(data: Float64Array, cols: number, rowIds: Int32Array, bins: FeatureBins): Uint8Array {
  const codes = new Uint8Array(rowIds.length * cols);
  for (let f = 0; f < cols; f++) {
    const edges = bins.edges[f]!;
    for (let i = 0; i < rowIds.length; i++) codes[i * cols + f] = binOf(edges, data[rowIds[i]! * cols + f]!);
  }
  return codes;
}
