import { definePipeline, Type } from "sluice";
import { count, report, tokenize, topWords } from "../steps/text/index.ts";

const STOPWORDS = ["the", "and", "of", "to", "a", "in", "that", "is", "it", "we", "for", "this", "be", "not", "as", "by", "with", "are", "have", "which", "our", "on", "but", "or", "all", "so", "thy", "thee", "i"];

/** Word frequencies of the text files in data/corpus: tokenize → count → top words → report. */
export default definePipeline({
  name: "wordcount",
  description: "Word frequencies of data/corpus/*.txt",
  params: Type.Object({
    corpus: Type.String({ default: "data/corpus" }),
    top: Type.Integer({ default: 10, minimum: 1, maximum: 1000 }),
    minLength: Type.Integer({ default: 2, minimum: 1, maximum: 50 }),
    stopwords: Type.Boolean({ default: true }),
  }),
  build(p, params) {
    const corpus = p.dir("corpus", params.corpus);
    const tokens = p.step("tokenize", tokenize, { inputs: { corpus }, params: { minLength: params.minLength } });
    const counts = p.step("count", count, { inputs: { tokens: tokens.outputs.tokens }, params: { stopwords: params.stopwords ? STOPWORDS : [] } });
    const top = p.step("top-words", topWords, { inputs: { counts: counts.outputs.counts }, params: { n: params.top } });
    p.step("report", report, { inputs: { top: top.outputs.top, counts: counts.outputs.counts } });
  },
});
