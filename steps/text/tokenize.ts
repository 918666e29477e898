import fs from "node:fs";
import path from "node:path";
import { defineStep, port, Type } from "sluice";

/** Splits every `.txt` file of a folder into words. Runs on the thread pool. */
export const tokenize = defineStep({
  name: "tokenize",
  description: "Split each .txt document of a folder into words",
  executor: "thread",
  inputs: { corpus: port.dir() },
  outputs: { tokens: port.json<Record<string, string[]>>() },
  params: Type.Object({
    lowercase: Type.Boolean({ default: true }),
    minLength: Type.Integer({ default: 1, minimum: 1, maximum: 50 }),
  }),
  run({ inputs, params, log }) {
    const tokens: Record<string, string[]> = {};
    const files = fs.readdirSync(inputs.corpus).filter((f) => f.endsWith(".txt")).sort();
    for (const f of files) {
      const text = fs.readFileSync(path.join(inputs.corpus, f), "utf8");
      const words = (params.lowercase ? text.toLowerCase() : text).match(/[\p{L}\p{N}']+/gu) ?? [];
      tokens[f] = words.map((w) => w.replace(/^'+|'+$/g, "")).filter((w) => w.length >= params.minLength);
    }
    log("info", "tokenized", { documents: files.length });
    return { tokens };
  },
});
