/**
 * Growing one regression tree on binned features from gradients and hessians (second-order
 * boosting, as LightGBM and scikit-learn's HistGradientBoosting do): best-first growth over
 * per-node histograms of (gradient, hessian, count) sums, the larger child's histogram obtained
 * by subtracting the smaller child's from the parent's.
 */

/** Growth limits and regularisation for one tree. */
export interface TreeLimits {
  readonly maxLeafNodes: number;
  readonly maxDepth: number;
  readonly minSamplesLeaf: number;
  readonly l2Regularization: number;
  readonly learningRate: number;
}

/** The binned training data the trees are grown on. */
export interface BinnedData {
  /** Bin codes, row-major (`codes[row * cols + f]`); code `nBins[f]` means missing. */
  readonly codes: Uint8Array;
  readonly cols: number;
  readonly nBins: Int32Array;
}

/** A node of a tree grown on bins: a split on `bin` (left when code ≤ bin) or a leaf (`feature` −1). */
export interface BinnedNode {
  feature: number;
  bin: number;
  missingLeft: boolean;
  left: number;
  right: number;
  value: number;
}

/** Hessians below this are treated as too little evidence for a leaf (as in scikit-learn). */
const MIN_HESSIAN = 1e-3;

interface Split {
  gain: number;
  feature: number;
  bin: number;
  missingLeft: boolean;
}

interface Leaf {
  node: number;
  start: number;
  end: number;
  depth: number;
  g: number;
  h: number;
  hist: Float64Array | null;
  split: Split | null;
}

/**
 * Reusable buffers for growing many trees on the same data. A histogram is one Float64Array:
 * (gradient, hessian) pairs for every bin of every feature, then the bins' row counts; bin k of
 * feature f is slot `offsets[f] + k`, its missing bin slot `offsets[f] + nBins[f]`.
 */
export class TreeGrower {
  private readonly offsets: Int32Array;
  private readonly slots: number;
  private readonly pool: Float64Array[] = [];
  private readonly scratch: Int32Array;

  constructor(
    private readonly data: BinnedData,
    private readonly limits: TreeLimits,
    rows: number,
  ) {
    this.offsets = new Int32Array(data.cols);
    let slots = 0;
    for (let f = 0; f < data.cols; f++) {
      this.offsets[f] = slots;
      slots += data.nBins[f]! + 1;
    }
    this.slots = slots;
    this.scratch = new Int32Array(rows);
  }

  /** Grows a tree on the rows listed in `order` (ascending; reordered in place). Leaf values include the learning rate. */
  grow(g: Float64Array, h: Float64Array, order: Int32Array): BinnedNode[] {
    const { limits } = this;
    const nodes: BinnedNode[] = [{ feature: -1, bin: 0, missingLeft: false, left: -1, right: -1, value: 0 }];
    const root: Leaf = { node: 0, start: 0, end: order.length, depth: 0, g: 0, h: 0, hist: null, split: null };
    for (let i = 0; i < order.length; i++) {
      root.g += g[order[i]!]!;
      root.h += h[order[i]!]!;
    }
    const leaves: Leaf[] = [root];
    if (this.splittable(root)) {
      root.hist = this.build(g, h, order, 0, order.length);
      root.split = this.findSplit(root);
    }
    while (leaves.length < limits.maxLeafNodes) {
      let best = -1;
      for (let i = 0; i < leaves.length; i++) {
        const s = leaves[i]!.split;
        if (s && (best < 0 || s.gain > leaves[best]!.split!.gain)) best = i;
      }
      if (best < 0) break;
      const parent = leaves[best]!;
      const split = parent.split!;
      const mid = this.partition(order, parent.start, parent.end, split);
      const left: Leaf = { node: nodes.length, start: parent.start, end: mid, depth: parent.depth + 1, g: 0, h: 0, hist: null, split: null };
      const right: Leaf = { node: nodes.length + 1, start: mid, end: parent.end, depth: parent.depth + 1, g: 0, h: 0, hist: null, split: null };
      const parentNode = nodes[parent.node]!;
      Object.assign(parentNode, { feature: split.feature, bin: split.bin, missingLeft: split.missingLeft, left: left.node, right: right.node });
      nodes.push({ feature: -1, bin: 0, missingLeft: false, left: -1, right: -1, value: 0 });
      nodes.push({ feature: -1, bin: 0, missingLeft: false, left: -1, right: -1, value: 0 });
      const [small, large] = mid - parent.start <= parent.end - mid ? [left, right] : [right, left];
      for (let i = small.start; i < small.end; i++) {
        small.g += g[order[i]!]!;
        small.h += h[order[i]!]!;
      }
      large.g = parent.g - small.g;
      large.h = parent.h - small.h;
      if (this.splittable(small) || this.splittable(large)) {
        small.hist = this.build(g, h, order, small.start, small.end);
        const parentHist = parent.hist!;
        for (let k = 0; k < parentHist.length; k++) parentHist[k]! -= small.hist[k]!;
        large.hist = parentHist;
      } else if (parent.hist) this.pool.push(parent.hist);
      parent.hist = null;
      leaves.splice(best, 1, left, right);
      for (const child of [left, right]) {
        if (child.hist && this.splittable(child)) child.split = this.findSplit(child);
        if (child.hist && !child.split) {
          this.pool.push(child.hist);
          child.hist = null;
        }
      }
    }
    for (const leaf of leaves) {
      // A root whose rows are all fitted perfectly can have a zero hessian sum (and gradient sum).
      const denominator = leaf.h + limits.l2Regularization;
      nodes[leaf.node]!.value = denominator > 0 ? (-limits.learningRate * leaf.g) / denominator : 0;
      if (leaf.hist) this.pool.push(leaf.hist);
    }
    return nodes;
  }

  private splittable(leaf: Leaf): boolean {
    return leaf.depth < this.limits.maxDepth && leaf.end - leaf.start >= 2 * this.limits.minSamplesLeaf;
  }

  private build(g: Float64Array, h: Float64Array, order: Int32Array, start: number, end: number): Float64Array {
    const hist = this.pool.pop() ?? new Float64Array(3 * this.slots);
    hist.fill(0);
    const { codes, cols } = this.data;
    const { offsets } = this;
    const counts = 2 * this.slots;
    // Row-major: each row's gradient pair is read once and its codes are adjacent bytes.
    for (let i = start; i < end; i++) {
      const r = order[i]!;
      const gi = g[r]!;
      const hi = h[r]!;
      const base = r * cols;
      for (let f = 0; f < cols; f++) {
        const slot = offsets[f]! + codes[base + f]!;
        hist[2 * slot]! += gi;
        hist[2 * slot + 1]! += hi;
        hist[counts + slot]! += 1;
      }
    }
    return hist;
  }

  private findSplit(leaf: Leaf): Split | null {
    const { l2Regularization: l2, minSamplesLeaf } = this.limits;
    const hist = leaf.hist!;
    const G = leaf.g;
    const H = leaf.h;
    const C = leaf.end - leaf.start;
    const parentScore = (G * G) / (H + l2);
    // Gains smaller than rounding noise of the parent score are not splits.
    let best: Split | null = null;
    let bestGain = 1e-12 * Math.abs(parentScore) + 1e-300;
    const consider = (gl: number, hl: number, cl: number, feature: number, bin: number, missingLeft: boolean): void => {
      const cr = C - cl;
      const hr = H - hl;
      if (cl < minSamplesLeaf || cr < minSamplesLeaf || hl < MIN_HESSIAN || hr < MIN_HESSIAN) return;
      const gr = G - gl;
      const gain = (gl * gl) / (hl + l2) + (gr * gr) / (hr + l2) - parentScore;
      if (gain > bestGain) {
        bestGain = gain;
        best = { gain, feature, bin, missingLeft };
      }
    };
    const counts = 2 * this.slots;
    for (let f = 0; f < this.offsets.length; f++) {
      const nb = this.data.nBins[f]!;
      const off = this.offsets[f]!;
      const miss = off + nb;
      const gm = hist[2 * miss]!;
      const hm = hist[2 * miss + 1]!;
      const cm = hist[counts + miss]!;
      let gl = 0;
      let hl = 0;
      let cl = 0;
      for (let k = 0; k < nb - 1; k++) {
        const b = off + k;
        gl += hist[2 * b]!;
        hl += hist[2 * b + 1]!;
        cl += hist[counts + b]!;
        if (cm > 0) {
          consider(gl, hl, cl, f, k, false);
          consider(gl + gm, hl + hm, cl + cm, f, k, true);
        } else {
          // No missing values reached this node: send them, at prediction time, to the larger child.
          consider(gl, hl, cl, f, k, cl >= C - cl);
        }
      }
      if (cm > 0 && cm < C) consider(G - gm, H - hm, C - cm, f, nb - 1, false);
    }
    return best;
  }

  /** Stable partition of `order[start, end)`: rows going left first. Returns the first right position. */
  private partition(order: Int32Array, start: number, end: number, split: Split): number {
    const { codes, cols } = this.data;
    const f = split.feature;
    const missing = this.data.nBins[f]!;
    const { bin, missingLeft } = split;
    const right = this.scratch;
    let l = start;
    let r = 0;
    for (let i = start; i < end; i++) {
      const row = order[i]!;
      const c = codes[row * cols + f]!;
      if (c <= bin || (c === missing && missingLeft)) order[l++] = row;
      else right[r++] = row;
    }
    order.set(right.subarray(0, r), l);
    return l;
  }
}

/** Raw outputs of a binned tree for every row of binned data, added to `out`. */
export function addBinnedTree(nodes: readonly BinnedNode[], data: BinnedData, rows: number, out: Float64Array): void {
  const { codes, cols, nBins } = data;
  for (let i = 0; i < rows; i++) {
    let n = nodes[0]!;
    while (n.feature >= 0) {
      const c = codes[i * cols + n.feature]!;
      n = nodes[c <= n.bin || (c === nBins[n.feature] && n.missingLeft) ? n.left : n.right]!;
    }
    out[i]! += n.value;
  }
}
