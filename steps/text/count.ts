import { defineStep, port, Type } from "sluice";

/** Counts words across documents, leaving out stop words. */
export const count = defineStep({
  name: "count",
  description: "Count words across all documents",
  inputs: { tokens: port.json<Record<string, string[]>>() },
  outputs: { counts: port.json<Record<string, number>>() },
  params: Type.Object({ stopwords: Type.Array(Type.String(), { default: [] }) }),
  run({ inputs, params, metric }) {
    const stop = new Set(params.stopwords);
    const counts: Record<string, number> = {};
    let total = 0;
    for (const words of Object.values(inputs.tokens)) {
      for (const w of words) {
        if (stop.has(w)) continue;
        counts[w] = (counts[w] ?? 0) + 1;
        total++;
      }
    }
    metric("words", total);
    metric("distinct", Object.keys(counts).length);
    return { counts };
  },
});
