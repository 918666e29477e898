import { readFile } from "node:fs/promises";
import { SluiceError } from "../errors.ts";

/**
 * The bytes of an input file. A missing file throws `SLUICE_INPUT_MISSING`; a folder or an
 * unreadable file throws `SLUICE_INPUT_UNSUPPORTED`; both name the path and the kind of file.
 */
export async function readInputFile(path: string, kind: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new SluiceError("SLUICE_INPUT_MISSING", `${kind} file ${path} does not exist. Create it, or fix the path that names it.`, { path }, { cause: err });
    }
    throw new SluiceError("SLUICE_INPUT_UNSUPPORTED", `${kind} file ${path} could not be read (${code ?? String(err)}). Check that the path names a readable file, not a folder.`, { path }, { cause: err });
  }
}
