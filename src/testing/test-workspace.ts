import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { packageRoot } from "../util/package-root.ts";


/** A throwaway workspace on disk, laid out from an object literal. */
export interface TestWorkspace {
  readonly root: string;
  /** Absolute path of a workspace-relative path. */
  path(rel: string): string;
  /** Writes (or overwrites) a file, creating folders. */
  write(rel: string, content: string | Uint8Array): void;
  read(rel: string): string;
  exists(rel: string): boolean;
  /** Deletes the whole workspace. */
  remove(): void;
}

/**
 * Creates a temp workspace: `package.json` (ESM), `node_modules/sluice` linked to this package
 * (so `import … from "sluice"` works as for a user), and the given files.
 */
export function createTestWorkspace(files: Readonly<Record<string, string>> = {}): TestWorkspace {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "sluice-ws-")));
  const ws: TestWorkspace = {
    root,
    path: (rel) => path.join(root, rel),
    write(rel, content) {
      const p = path.join(root, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
    },
    read: (rel) => fs.readFileSync(path.join(root, rel), "utf8"),
    exists: (rel) => fs.existsSync(path.join(root, rel)),
    remove: () => fs.rmSync(root, { recursive: true, force: true }),
  };
  ws.write("package.json", JSON.stringify({ name: "test-workspace", private: true, type: "module" }, null, 2));
  fs.mkdirSync(path.join(root, "node_modules"), { recursive: true });
  fs.symlinkSync(packageRoot(), path.join(root, "node_modules", "sluice"), "dir");
  for (const [rel, content] of Object.entries(files)) ws.write(rel, content);
  return ws;
}

/** The sluice package folder (for spawning `bin/sluice.js`). */
export function sluicePackageRoot(): string {
  return packageRoot();
}
