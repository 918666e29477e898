import { defineStep, port, Type } from "sluice";

/** A word and how often it occurs. */
export interface WordCount {
  word: string;
  count: number;
}

/** The N most frequent words, ties broken alphabetically. */
export const topWords = defineStep({
  name: "top-words",
  inputs: { counts: port.json<Record<string, number>>() },
  outputs: { top: port.json<WordCount[]>() },
  params: Type.Object({ n: Type.Integer({ default: 10, minimum: 1, maximum: 1000 }) }),
  run({ inputs, params }) {
    const top = Object.entries(inputs.counts)
      .map(([word, count]) => ({ word, count }))
      .sort((a, b) => b.count - a.count || (a.word < b.word ? -1 : 1))
      .slice(0, params.n);
    return { top };
  },
});
