import { randomInt } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SluiceError } from "../errors.ts";
import { removeDeadTmp } from "../store/object-files.ts";

/**
 * How command steps are kept apart from the cache and from each other.
 * - `uid`: each attempt runs under a fresh unprivileged user id that owns nothing but its own
 *   working folder, so it cannot write into the cache, the workspace or another step's folder.
 *   Needs root (the only way to switch user ids); inputs are hard-linked into the folder.
 * - `none`: commands run as the invoking user; writes into cached inputs are detected afterwards
 *   (the step fails and the object is quarantined), writes elsewhere are not prevented.
 */
export type CommandIsolation = "uid" | "none";

/** First user id handed to sandboxed commands. Far above any real account; ids are not reused between attempts. */
export const SANDBOX_UID_BASE = 1_900_000_000;
const SANDBOX_UID_SPAN = 1 << 24;

/** The user and group id of one sandboxed attempt. */
export interface SandboxIds {
  readonly uid: number;
  readonly gid: number;
}

function sandboxBase(): string {
  return path.join(os.tmpdir(), "sluice-sandbox");
}

/** Removes the sandbox folders left by dead sluice processes of this machine (kill -9); returns how many. */
export function cleanDeadSandboxes(): number {
  return fs.existsSync(sandboxBase()) ? removeDeadTmp(sandboxBase()) : 0;
}

/**
 * A fresh folder for one sandboxed attempt under `<tmpdir>/sluice-sandbox` (0711: enterable, not
 * listable). Not under the cache: the sandbox user must be able to reach its folder by absolute
 * path (interpreters resolve their script's path), and the workspace above the cache may be
 * closed to others. On another filesystem than the cache, inputs and outputs are copied, not linked.
 */
export function makeSandboxDir(prefix: string): string {
  const base = sandboxBase();
  fs.mkdirSync(base, { recursive: true, mode: 0o711 });
  // Another local user could have made it first (or as a symlink) to steer folders elsewhere.
  const st = fs.lstatSync(base);
  if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? 0)) {
    throw new SluiceError("SLUICE_STORE_FAILED", `${base} is not a folder owned by this user (someone else made it, or it is a symlink), so command steps cannot be isolated there. Remove it, or set SLUICE_COMMAND_ISOLATION=none.`, { path: base });
  }
  fs.chmodSync(base, 0o711);
  return fs.mkdtempSync(path.join(base, `${process.pid}-${prefix.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 48)}-`));
}

/** The isolation this process can give: `uid` only as root. */
export function defaultIsolation(): CommandIsolation {
  return process.getuid?.() === 0 ? "uid" : "none";
}

/** Fresh ids for one attempt: random in a range of 16M, so two attempts (even of two sluice processes) practically never share one. */
export function sandboxIds(): SandboxIds {
  const id = SANDBOX_UID_BASE + randomInt(SANDBOX_UID_SPAN);
  return { uid: id, gid: id };
}

/**
 * Hands the attempt's folder to the sandbox user: the folder itself, `out/` (with the folders
 * made there for folder outputs) and `tmp/` become its own, the first 0700 so no other attempt can
 * enter; `in/` (made only for a step with inputs) stays the invoker's and read-only to it.
 */
export function handOver(workdir: string, ids: SandboxIds): void {
  if (fs.existsSync(path.join(workdir, "in"))) fs.chmodSync(path.join(workdir, "in"), 0o755);
  const out = path.join(workdir, "out");
  const owned = [workdir, out, path.join(workdir, "tmp"), ...fs.readdirSync(out).map((n) => path.join(out, n))];
  for (const d of owned) fs.chownSync(d, ids.uid, ids.gid);
  fs.chmodSync(workdir, 0o700);
}

/**
 * Makes `src` (a file or a folder) readable at `dest` without letting the sandbox user change it:
 * hard links share the original's owner and mode, so a root-owned read-only file stays so.
 * Falls back to a read-only copy across filesystems. Symlinks are not followed out of `src`.
 */
export function linkReadOnly(src: string, dest: string): void {
  const st = fs.lstatSync(src);
  if (st.isDirectory()) {
    fs.mkdirSync(dest, { mode: 0o755 });
    for (const name of fs.readdirSync(src)) linkReadOnly(path.join(src, name), path.join(dest, name));
    return;
  }
  if (!st.isFile()) return;
  // A link to a file the sandbox user could write through (group/other-writable) would let it change the workspace.
  if ((st.mode & 0o022) === 0) {
    try {
      fs.linkSync(src, dest);
      return;
    } catch {
      // another filesystem or a link limit: copy
    }
  }
  fs.copyFileSync(src, dest);
  fs.chmodSync(dest, st.mode & 0o111 ? 0o555 : 0o444);
}

/**
 * Takes the outputs back before they are stored: every entry under `dir` is owned by the invoker
 * again, so the sandbox user keeps no handle on objects that enter the cache. Returns the
 * symbolic links found (left untouched): an output must be real bytes, not a pointer elsewhere.
 */
export function reclaim(dir: string): string[] {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const links: string[] = [];
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) {
      links.push(p);
      return;
    }
    fs.lchownSync(p, uid, gid);
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(p, name));
  };
  walk(dir);
  return links;
}

/** Ends whatever the command left running in its process group (daemons, stray children). */
export function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // the group is already gone
  }
}
