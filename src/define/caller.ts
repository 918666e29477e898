import { pathToFileURL } from "node:url";

const THIS_DIR = new URL(".", import.meta.url).href;

/**
 * The file URL of the module that called into `define/`, read from the call stack. Steps and
 * pipelines are module-level constants, so this names the file that declared them; workers load
 * that file again by URL and code fingerprints start from it.
 */
export function callerModuleUrl(): string | undefined {
  const stack = new Error().stack ?? "";
  for (const line of stack.split("\n").slice(1)) {
    const m = /\(?((?:file:\/\/)?\/[^():]+?\.[cm]?[jt]sx?)(?:\?[^:)]*)?:\d+:\d+\)?\s*$/.exec(line.trim());
    if (!m?.[1]) continue;
    const url = m[1].startsWith("file://") ? m[1] : pathToFileURL(m[1]).href;
    if (url.startsWith(THIS_DIR)) continue;
    return url;
  }
  return undefined;
}
