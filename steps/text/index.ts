export { tokenize } from "./tokenize.ts";
export { count } from "./count.ts";
export { topWords, type WordCount } from "./top-words.ts";
export { report } from "./report.ts";
