import { createRequire } from "node:module";
import { extname } from "node:path";
import type * as TS from "typescript";
import { sha256, type Digest } from "../util/canonical-json.ts";

/**
 * Source normalisation for code fingerprints: a module's digest ignores comments, whitespace,
 * line breaks, quote style, trailing commas and number spelling, but changes with anything that
 * can change what the module does.
 *
 * How: parse with the TypeScript compiler, detach every node from its source positions (so the
 * printer cannot copy the author's layout), and print without comments. The printer renders the
 * syntax tree itself, so ASI (`return\nx` is `return; x;`), regex and template literal text and
 * array holes (`[1,,]`) survive. A file with syntax errors is hashed byte for byte instead, since
 * a tree with holes could print the same as a different broken file.
 */

/** Bump when a rule change would alter the digest of an unchanged file. */
const RULES_VERSION = 1;

/** A module's normalised digest and the specifiers it loads at run time. */
export interface NormalizedSource {
  /** sha256 of the normalised source (code), compact JSON (`.json`) or raw bytes (anything else). */
  digest: Digest;
  /** Runtime import specifiers in source order, deduplicated; `import type`/`export type` excluded. */
  imports: string[];
}

type ScriptKindName = "TS" | "TSX" | "JS" | "JSX";

const SCRIPT_KINDS: Readonly<Record<string, ScriptKindName>> = {
  ".ts": "TS", ".mts": "TS", ".cts": "TS", ".tsx": "TSX",
  ".js": "JS", ".mjs": "JS", ".cjs": "JS", ".jsx": "JSX",
};

let ts: typeof TS | undefined;
let printer: TS.Printer | undefined;
let id: string | undefined;

/**
 * The TypeScript compiler, loaded on first use: importing it costs ~200 ms, which a run whose
 * every file hits the fingerprint memo must never pay.
 */
function typescript(): typeof TS {
  ts ??= createRequire(import.meta.url)("typescript") as typeof TS;
  return ts;
}

/** True once this module has loaded the TypeScript compiler (it never does while every file hits the memo). */
export function typescriptLoaded(): boolean {
  return ts !== undefined;
}

/**
 * Identity of the normalisation rules, including the TypeScript version whose printer they use.
 * A persistent memo keys entries by it, so upgrading TypeScript cannot mix digests from two printers.
 * Reads `typescript/package.json` only; the compiler stays unloaded.
 */
export function normalizerId(): string {
  if (id === undefined) {
    const pkg = createRequire(import.meta.url)("typescript/package.json") as { version: string };
    id = `sluice-normalize/${RULES_VERSION} typescript@${pkg.version}`;
  }
  return id;
}

/** Normalise one module's bytes; `fileName`'s extension picks the parser (TS, TSX, JS, JSX, JSON, opaque). */
export function normalizeSource(fileName: string, bytes: Uint8Array): NormalizedSource {
  const ext = extname(fileName).toLowerCase();
  const kind = SCRIPT_KINDS[ext];
  if (kind !== undefined) return normalizeScript(fileName, Buffer.from(bytes).toString("utf8"), kind);
  if (ext === ".json") return { digest: sha256(compactJson(bytes)), imports: [] };
  return { digest: sha256(bytes), imports: [] };
}

/** Whitespace-free JSON with member order kept (order is observable); unparsable JSON hashes raw. */
function compactJson(bytes: Uint8Array): string | Uint8Array {
  try {
    return JSON.stringify(JSON.parse(Buffer.from(bytes).toString("utf8")));
  } catch {
    return bytes;
  }
}

function normalizeScript(fileName: string, text: string, kind: ScriptKindName): NormalizedSource {
  const t = typescript();
  const sf = t.createSourceFile(
    fileName,
    text,
    { languageVersion: t.ScriptTarget.Latest, jsDocParsingMode: t.JSDocParsingMode.ParseNone },
    false,
    t.ScriptKind[kind],
  );
  // `parseDiagnostics` is not in the public typings; if a TypeScript release drops it we fall
  // back to raw bytes, which is safe (only less forgiving of reformatting).
  const diagnostics = (sf as unknown as { parseDiagnostics?: readonly unknown[] }).parseDiagnostics;
  const imports = detachAndCollectImports(t, sf);
  if (diagnostics === undefined || diagnostics.length > 0) return { digest: sha256(text), imports };
  printer ??= t.createPrinter({ removeComments: true, newLine: t.NewLineKind.LineFeed });
  return { digest: sha256(printer.printFile(sf)), imports };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Walk the tree (iteratively: generated code can nest deeper than the JS stack), collecting
 * runtime import specifiers and erasing layout: positions, `multiLine` flags and trailing commas.
 * The parsed tree is private to this call, so mutating it is safe.
 */
function detachAndCollectImports(t: typeof TS, sf: TS.SourceFile): string[] {
  const imports = new Set<string>();
  const stack: TS.Node[] = [sf];
  const children: TS.Node[] = [];
  const onArray = (list: TS.NodeArray<TS.Node>): undefined => {
    const arr = list as Mutable<TS.NodeArray<TS.Node>>;
    arr.pos = -1;
    arr.end = -1;
    // `[a,,]` has two elements: a trailing comma after a hole is the hole's, so it stays.
    if (arr.hasTrailingComma && arr[arr.length - 1]?.kind !== t.SyntaxKind.OmittedExpression) arr.hasTrailingComma = false;
    for (const child of arr) children.push(child);
    return undefined;
  };
  const onNode = (child: TS.Node): undefined => {
    children.push(child);
    return undefined;
  };
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const specifier = runtimeSpecifier(t, node);
    if (specifier !== undefined) imports.add(specifier);
    const n = node as Mutable<TS.Node> & { multiLine?: boolean };
    n.pos = -1;
    n.end = -1;
    if (n.multiLine === true) n.multiLine = false;
    children.length = 0;
    t.forEachChild(node, onNode, onArray);
    // Reversed so that imports come out in source order.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return [...imports];
}

/** The specifier a node loads at run time, if it is an import/export-from/require/import() of a literal. */
function runtimeSpecifier(t: typeof TS, node: TS.Node): string | undefined {
  if (t.isImportDeclaration(node)) {
    // `import { type A } from "x"` still loads "x" under verbatimModuleSyntax; only `import type` is erased.
    return node.importClause?.phaseModifier === t.SyntaxKind.TypeKeyword ? undefined : literalText(t, node.moduleSpecifier);
  }
  if (t.isExportDeclaration(node)) {
    return node.isTypeOnly || node.moduleSpecifier === undefined ? undefined : literalText(t, node.moduleSpecifier);
  }
  if (t.isImportEqualsDeclaration(node)) {
    return !node.isTypeOnly && t.isExternalModuleReference(node.moduleReference) ? literalText(t, node.moduleReference.expression) : undefined;
  }
  if (t.isCallExpression(node) && node.arguments.length > 0) {
    const callee = node.expression;
    const isImport = callee.kind === t.SyntaxKind.ImportKeyword;
    const isRequire = t.isIdentifier(callee) && callee.text === "require" && node.arguments.length === 1;
    if (isImport || isRequire) return literalText(t, node.arguments[0]!);
  }
  return undefined;
}

function literalText(t: typeof TS, node: TS.Node): string | undefined {
  return t.isStringLiteral(node) || t.isNoSubstitutionTemplateLiteral(node) ? node.text : undefined;
}
