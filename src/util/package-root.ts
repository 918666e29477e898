import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

/** The sluice package's own folder, whether running from src/ or the dist/ bundle. */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, "package.json");
    if (fs.existsSync(pj) && (JSON.parse(fs.readFileSync(pj, "utf8")) as { name?: string }).name === "sluice") return (cached = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`sluice: cannot find its package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The sluice package's version. */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
}
