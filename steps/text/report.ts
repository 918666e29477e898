import fs from "node:fs";
import path from "node:path";
import { defineStep, port, Type } from "sluice";
import type { WordCount } from "./top-words.ts";

/** Writes a Markdown report of the most frequent words. */
export const report = defineStep({
  name: "report",
  inputs: { top: port.json<WordCount[]>(), counts: port.json<Record<string, number>>() },
  outputs: { report: port.file() },
  params: Type.Object({ title: Type.String({ default: "Word frequencies" }) }),
  run({ inputs, params, outDir }) {
    const total = Object.values(inputs.counts).reduce((a, b) => a + b, 0);
    const lines = [
      `# ${params.title}`,
      "",
      `${total} words, ${Object.keys(inputs.counts).length} distinct.`,
      "",
      "| rank | word | count | share |",
      "| ---: | --- | ---: | ---: |",
      ...inputs.top.map((t, i) => `| ${i + 1} | ${t.word} | ${t.count} | ${((100 * t.count) / Math.max(1, total)).toFixed(2)}% |`),
      "",
    ];
    const file = path.join(outDir, "report.md");
    fs.writeFileSync(file, lines.join("\n"));
    return { report: { path: file } };
  },
});
