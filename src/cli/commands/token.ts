import { loadConfig } from "../../config/index.ts";
import { SluiceError } from "../../errors.ts";
import { hashToken, isRole, newToken, openServiceStore, ROLES } from "../../server/index.ts";
import type { ServiceStore } from "../../store/run-store/index.ts";
import { parseCommand } from "../args.ts";
import { formatTime, table } from "../format.ts";
import type { CliIo } from "../io.ts";
import { printJson } from "./shared.ts";

/** Help text of `sluice token`. */
export const TOKEN_HELP = `Usage: sluice token create --role ROLE --name NAME [--json]
       sluice token list [--json]
       sluice token revoke NAME [--json]

Bearer tokens for \`sluice serve\`. The token is printed once, by create; only its sha256 is
stored (in the run database, beside the runs). Roles, each allowing what the previous allows:
  viewer    reads runs, pipelines, models, endpoints, schedules, logs and metrics
  operator  also triggers and cancels runs and scores endpoints
  admin     also deploys (changes endpoint traffic) and manages tokens and reads the audit log

Options:
      --role ROLE      viewer | operator | admin (create)
      --name NAME      the token's name, as the audit log and run records show it (create)
      --json           print JSON
  -w, --workspace DIR  project folder (default: current folder)
  -h, --help           show this help
`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

async function withService<T>(workspace: string | undefined, fn: (s: ServiceStore) => Promise<T>): Promise<T> {
  const config = await loadConfig({ root: workspace });
  const { service, close } = await openServiceStore(config);
  try {
    return await fn(service);
  } finally {
    await close();
  }
}

/** `sluice token`. */
export async function tokenCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand("token", argv, { role: { type: "string" }, name: { type: "string" } });
  const [sub, ...rest] = positionals;
  if (values.help || !sub) {
    (values.help ? io.out : io.err)(TOKEN_HELP);
    return values.help ? 0 : 2;
  }
  if (sub === "create") {
    const { role, name } = values;
    if (role === undefined || !isRole(role)) throw new SluiceError("SLUICE_USAGE", `sluice token create: --role ${role === undefined ? "is required" : JSON.stringify(role) + " is not a role"}. Use one of ${ROLES.join(", ")}.`, { field: "role" });
    if (name === undefined || !NAME.test(name)) throw new SluiceError("SLUICE_USAGE", `sluice token create: --name ${name === undefined ? "is required" : JSON.stringify(name) + " is not allowed"}. Use letters, digits, _ . : - (e.g. --name ci).`, { field: "name" });
    const token = newToken();
    const rec = await withService(values.workspace, (s) => s.createToken({ name, role, hash: hashToken(token), createdAt: io.now() }));
    if (values.json) printJson(io, { ...rec, token });
    else {
      io.out(`${token}\n`);
      io.err(`token "${name}" (${role}) created. It is shown only now: store it as a secret. Send it as "Authorization: Bearer <token>".\n`);
    }
    return 0;
  }
  if (sub === "list") {
    const tokens = await withService(values.workspace, (s) => s.listTokens());
    if (values.json) printJson(io, tokens);
    else if (tokens.length === 0) io.out("no tokens yet; create one with `sluice token create --role operator --name ci`\n");
    else io.out(table(["name", "role", "created", "revoked"], tokens.map((t) => [t.name, t.role, formatTime(t.createdAt), t.revokedAt === null ? "-" : formatTime(t.revokedAt)])) + "\n");
    return 0;
  }
  if (sub === "revoke") {
    const name = rest[0];
    if (!name || rest.length > 1) throw new SluiceError("SLUICE_USAGE", "sluice token revoke: expected one token name (see `sluice token list`).", { field: "name" });
    const rec = await withService(values.workspace, (s) => s.revokeToken(name, io.now()));
    if (values.json) printJson(io, rec);
    else io.out(`token "${name}" revoked\n`);
    return 0;
  }
  throw new SluiceError("SLUICE_USAGE", `sluice token: unknown subcommand "${sub}". Use create, list or revoke (see \`sluice token --help\`).`, { field: "subcommand" });
}
