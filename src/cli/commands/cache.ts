import { durationFlag, intFlag, parseCommand, sizeFlag } from "../args.ts";
import { formatBytes } from "../format.ts";
import type { CliIo } from "../io.ts";
import { pruneCache } from "../../workspace/index.ts";
import { printJson, withWorkspace } from "./shared.ts";

/** Help text of `sluice cache`. */
export const CACHE_HELP = `Usage: sluice cache stats|verify|prune [options]

  stats    objects, bytes and action-cache entries in the store
  verify   re-hash every object; corrupt ones are quarantined (the steps rerun next time). Exit 1 if any.
  prune    remove entries and objects no recent run uses. A dry run unless --apply.

Prune options:
      --older-than AGE  entries unused for longer than AGE may go (default 7d; e.g. 30d, 12h)
      --max-size SIZE   then remove oldest entries until objects fit in SIZE (e.g. 5GiB)
      --keep-runs N     keep everything the newest N runs of each pipeline used (default 5)
      --apply           really delete (default: report only)

Options:
      --json            print JSON
  -w, --workspace DIR   project folder (default: current folder)
  -h, --help            show this help
`;

/** `sluice cache`. */
export async function cacheCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand("cache", argv, {
    "older-than": { type: "string" },
    "max-size": { type: "string" },
    "keep-runs": { type: "string" },
    apply: { type: "boolean" },
  });
  const sub = positionals[0];
  if (values.help || !sub) {
    (values.help ? io.out : io.err)(CACHE_HELP);
    return values.help ? 0 : 2;
  }
  if (!["stats", "verify", "prune"].includes(sub)) {
    io.err(`sluice cache: unknown subcommand "${sub}".\n\n${CACHE_HELP}`);
    return 2;
  }
  const olderThanMs = durationFlag("cache", "older-than", values["older-than"]) ?? 7 * 86_400_000;
  const maxBytes = sizeFlag("cache", "max-size", values["max-size"]);
  const keepRunsFlag = intFlag("cache", "keep-runs", values["keep-runs"], 0);
  return withWorkspace(values.workspace, {}, async (ws) => {
    if (sub === "stats") {
      const s = { ...ws.cas.stats(), entries: ws.actionCache.count(), cacheDir: ws.config.cacheDir };
      if (values.json) printJson(io, s);
      else io.out(`${ws.config.cacheDir}\n${s.objects} objects, ${formatBytes(s.bytes)} (${s.inlineObjects} small ones inline, ${formatBytes(s.inlineBytes)})\n${s.entries} action-cache entries\n`);
      return 0;
    }
    if (sub === "verify") {
      let last = 0;
      const r = await ws.cas.verifyAll((done, total) => {
        if (!values.json && io.isTTY && (done === total || io.now() - last > 200)) {
          last = io.now();
          io.err(`\rverifying ${done}/${total}`);
        }
      });
      if (!values.json && io.isTTY) io.err("\n");
      if (values.json) printJson(io, r);
      else io.out(r.corrupt.length === 0 ? `${r.checked} objects verified, none corrupt\n` : `${r.checked} objects verified, ${r.corrupt.length} corrupt (quarantined; the steps that made them rerun next time):\n${r.corrupt.map((d) => `  ${d}`).join("\n")}\n`);
      return r.corrupt.length === 0 ? 0 : 1;
    }
    const report = await pruneCache(ws, { olderThanMs, maxBytes, keepRuns: keepRunsFlag ?? ws.config.keepRuns, apply: Boolean(values.apply) });
    if (values.json) printJson(io, report);
    else {
      const verb = report.applied ? "removed" : "would remove";
      io.out(`${verb} ${report.entries.removed} of ${report.entries.total} entries and ${report.objects.removed} of ${report.objects.total} objects (${formatBytes(report.objects.removedBytes)}); keeping ${formatBytes(report.objects.keptBytes)} and everything the newest runs (${report.keptRuns}) used\n`);
      if (!report.applied) io.out("dry run: pass --apply to delete\n");
    }
    return 0;
  });
}
