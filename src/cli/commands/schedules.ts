import { SluiceError } from "../../errors.ts";
import { describeSchedules, localTime, type ScheduleInfo } from "../../triggers/index.ts";
import { intFlag, parseCommand } from "../args.ts";
import type { CliIo } from "../io.ts";
import { printJson, withWorkspace } from "./shared.ts";

/** Help text of `sluice schedules`. */
export const SCHEDULES_HELP = `Usage: sluice schedules [--pipeline NAME] [--count N] [--json]

Lists every pipeline's cron schedules with their next fire times (in the schedule's time zone and
in UTC) and the last fire recorded in the fire ledger. \`sluice serve\` runs them.

Options:
      --pipeline NAME  only this pipeline's schedules
      --count N        next fire times per schedule (default 3, at most 100)
      --json           print JSON
  -w, --workspace DIR  project folder (default: current folder)
  -h, --help           show this help
`;

/** One schedule for people: header, next fires, last fire. */
function formatSchedule(s: ScheduleInfo): string {
  const lines = [`${s.pipeline} › ${s.id}  "${s.cron}" ${s.timezone} · overlap ${s.overlap} · misfire ${s.misfire}${Object.keys(s.params).length > 0 ? ` · params ${JSON.stringify(s.params)}` : ""}`];
  s.next.forEach((f, i) => lines.push(`  ${i === 0 ? "next" : "    "}  ${f.local}  (${f.utc})`));
  const last = s.lastFire;
  if (last === null) lines.push("  last  never fired");
  else {
    const detail = [last.status, last.reason === "misfire" ? `catch-up for ${last.instants} missed` : "", last.runId ? `run ${last.runId}` : "", last.note ?? ""].filter((x) => x !== "").join(" · ");
    lines.push(`  last  ${localTime(last.fireTime, s.timezone)}  (${new Date(last.fireTime).toISOString()})  ${detail}`);
  }
  return lines.join("\n");
}

/** `sluice schedules`. */
export async function schedulesCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand("schedules", argv, { pipeline: { type: "string" }, count: { type: "string" } });
  if (values.help) {
    io.out(SCHEDULES_HELP);
    return 0;
  }
  const count = intFlag("schedules", "count", values.count) ?? 3;
  if (count > 100) throw new SluiceError("SLUICE_USAGE", `sluice schedules: --count ${count} is too many. Ask for at most 100 fire times.`, { field: "count", value: count });
  return withWorkspace(values.workspace, {}, async (ws) => {
    let pipelines = await ws.pipelines();
    if (values.pipeline !== undefined) {
      const name = values.pipeline;
      if (!pipelines.some((p) => p.name === name)) {
        throw new SluiceError("SLUICE_PIPELINE_NOT_FOUND", `no pipeline "${name}" in ${ws.config.root}/pipelines. Pipelines: ${pipelines.map((p) => p.name).join(", ") || "none"}.`, { pipeline: name });
      }
      pipelines = pipelines.filter((p) => p.name === name);
    }
    const schedules = await describeSchedules(pipelines, ws.fires, Date.now(), count);
    if (values.json) printJson(io, schedules);
    else if (schedules.length === 0) io.out("no schedules: add schedules: [{ cron, timezone, overlap, misfire }] to a pipeline\n");
    else io.out(`${schedules.map(formatSchedule).join("\n\n")}\n`);
    return 0;
  });
}
