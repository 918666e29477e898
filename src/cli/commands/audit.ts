import { loadConfig } from "../../config/index.ts";
import { openServiceStore } from "../../server/index.ts";
import { intFlag, parseCommand } from "../args.ts";
import { formatTime, table } from "../format.ts";
import type { CliIo } from "../io.ts";
import { printJson } from "./shared.ts";

/** Help text of `sluice audit`. */
export const AUDIT_HELP = `Usage: sluice audit [--limit N] [--json]

The audit log of \`sluice serve\`, newest first: every state-changing request (trigger, cancel,
traffic change, token create/revoke…), allowed or not, with who (the token's name, or
anonymous), what, on what, when and the result (ok, denied, invalid, error).

Options:
      --limit N        at most N entries (default 50)
      --json           print JSON
  -w, --workspace DIR  project folder (default: current folder)
  -h, --help           show this help
`;

/** `sluice audit`. */
export async function auditCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand("audit", argv, { limit: { type: "string" } });
  if (values.help) {
    io.out(AUDIT_HELP);
    return 0;
  }
  const limit = intFlag("audit", "limit", values.limit) ?? 50;
  const config = await loadConfig({ root: values.workspace });
  const { service, close } = await openServiceStore(config);
  try {
    const entries = await service.listAudit({ limit });
    if (values.json) printJson(io, entries);
    else if (entries.length === 0) io.out("no audit entries yet\n");
    else io.out(table(["when", "actor", "action", "target", "result", "status"], entries.map((e) => [formatTime(e.ts), e.actor, e.action, e.target, e.result, String(e.details.status ?? "-")])) + "\n");
    return 0;
  } finally {
    await close();
  }
}
