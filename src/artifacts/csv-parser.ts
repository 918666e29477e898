/**
 * RFC 4180 CSV text → header + one string array per column. Lines without a quote take a fast
 * path (`indexOf` + `slice`, no per-row array); a line holding a quote is parsed character by
 * character and may span lines. Blank lines are skipped (in a one-column file they are nulls); `\r\n` and a leading BOM are accepted.
 * A field is quoted only when its first character is `"`; a quote elsewhere is literal text.
 */
import { dataError } from "./data-error.ts";

/** The parsed CSV before type conversion. */
export interface RawCsv {
  readonly header: string[];
  /** `cells[c][r]`: the text of column `c` in record `r`. */
  readonly cells: string[][];
  /** The 1-based line where each record starts (header = 1 unless blank lines precede it). */
  readonly lines: number[];
  /** Per column, the records whose field was quoted and reads as a null token: these stay text. */
  readonly quotedNulls: Array<Set<number> | undefined>;
}

const QUOTE = 34;
const LF = 10;
const CR = 13;

interface Cursor {
  pos: number;
  line: number;
}

/**
 * Parses one record at `cur.pos` character by character (the slow path), leaving `cur` after its
 * line break. Returns the fields and which of them were quoted.
 */
function parseQuotedRecord(text: string, cur: Cursor, delim: number, source: string, header: string[] | undefined): { fields: string[]; quoted: boolean[] } {
  const fields: string[] = [];
  const quoted: boolean[] = [];
  const startLine = cur.line;
  const len = text.length;
  let p = cur.pos;
  for (;;) {
    if (text.charCodeAt(p) === QUOTE) {
      let value = "";
      let from = p + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q < 0) {
          const column = header?.[fields.length];
          throw dataError({ source, row: startLine, column }, "a quoted field has no closing quote", 'Close the quote, and write a quote inside a quoted field as "".');
        }
        for (let k = text.indexOf("\n", from); k >= 0 && k < q; k = text.indexOf("\n", k + 1)) cur.line++;
        value += text.slice(from, q);
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += '"';
          from = q + 2;
          continue;
        }
        p = q + 1;
        break;
      }
      const c = p < len ? text.charCodeAt(p) : LF;
      if (c !== delim && c !== LF && !(c === CR && (p + 1 >= len || text.charCodeAt(p + 1) === LF))) {
        const column = header?.[fields.length];
        throw dataError({ source, row: startLine, column }, `text follows the closing quote of field ${fields.length + 1}`, 'Quote the whole field and write each inner quote as "".');
      }
      fields.push(value);
      quoted.push(true);
    } else {
      let end = p;
      while (end < len) {
        const c = text.charCodeAt(end);
        if (c === delim || c === LF || (c === CR && (end + 1 >= len || text.charCodeAt(end + 1) === LF))) break;
        end++;
      }
      fields.push(text.slice(p, end));
      quoted.push(false);
      p = end;
    }
    if (p >= len) break;
    const c = text.charCodeAt(p);
    if (c === delim) {
      p++;
      continue;
    }
    p += c === CR ? 2 : 1;
    break;
  }
  cur.pos = p;
  cur.line++;
  return { fields, quoted };
}

function raggedError(source: string, line: number, found: number, header: string[]): never {
  if (found > header.length) {
    throw dataError({ source, row: line }, `${found} fields but the header has ${header.length}`, "Remove the extra fields, or quote a value that contains the delimiter.", { expected: header.length, found });
  }
  throw dataError(
    { source, row: line, column: header[found] },
    `${found} fields but the header has ${header.length}; the row ends before this column`,
    "Add the missing fields (leave a field empty for a null), or fix a quote that swallows a delimiter.",
    { expected: header.length, found },
  );
}

/** Header and string columns of CSV text; `source` names the text in errors. */
export function parseRawCsv(text: string, source: string, delimiter: string, nullTokens: ReadonlySet<string>): RawCsv {
  const delim = delimiter.charCodeAt(0);
  const len = text.length;
  const cur: Cursor = { pos: text.charCodeAt(0) === 0xfeff ? 1 : 0, line: 1 };
  let nextQuote = text.indexOf('"', cur.pos);
  let header: string[] | undefined;
  let cells: string[][] = [];
  const lines: number[] = [];
  const quotedNulls: Array<Set<number> | undefined> = [];
  let ncols = 0;
  let contentEnd = len;
  while (contentEnd > 0 && (text.charCodeAt(contentEnd - 1) === LF || text.charCodeAt(contentEnd - 1) === CR)) contentEnd--;
  while (cur.pos < len) {
    const start = cur.pos;
    let eol = text.indexOf("\n", start);
    if (eol < 0) eol = len;
    const end = eol > start && text.charCodeAt(eol - 1) === CR ? eol - 1 : eol;
    if (end === start) {
      // A blank line is nothing, except in a one-column file, where it is an empty field (a null)
      // unless only blank lines follow it.
      if (ncols === 1 && start < contentEnd) {
        cells[0]!.push("");
        lines.push(cur.line);
      }
      cur.pos = eol + 1;
      cur.line++;
      continue;
    }
    if (nextQuote >= 0 && nextQuote < start) nextQuote = text.indexOf('"', start);
    const recordLine = cur.line;
    if (nextQuote >= 0 && nextQuote < end) {
      const { fields, quoted } = parseQuotedRecord(text, cur, delim, source, header);
      if (header === undefined) {
        header = fields;
        ncols = fields.length;
        cells = fields.map(() => []);
        continue;
      }
      if (fields.length !== ncols) raggedError(source, recordLine, fields.length, header);
      const r = lines.length;
      for (let c = 0; c < ncols; c++) {
        cells[c]!.push(fields[c]!);
        if (quoted[c] && nullTokens.has(fields[c]!)) (quotedNulls[c] ??= new Set()).add(r);
      }
      lines.push(recordLine);
      continue;
    }
    cur.pos = eol + 1;
    cur.line++;
    if (header === undefined) {
      header = text.slice(start, end).split(delimiter);
      ncols = header.length;
      cells = header.map(() => []);
      continue;
    }
    let p = start;
    for (let c = 0; c < ncols - 1; c++) {
      const q = text.indexOf(delimiter, p);
      if (q < 0 || q >= end) raggedError(source, recordLine, c + 1, header);
      cells[c]!.push(text.slice(p, q));
      p = q + 1;
    }
    const q = text.indexOf(delimiter, p);
    if (q >= 0 && q < end) raggedError(source, recordLine, text.slice(start, end).split(delimiter).length, header);
    cells[ncols - 1]!.push(text.slice(p, end));
    lines.push(recordLine);
  }
  if (header === undefined) {
    throw dataError({ source, row: 1 }, "the file is empty: no header row", "Start the file with a header row naming each column, e.g. `x,y,label`.");
  }
  header.forEach((name, c) => {
    if (name === "") {
      throw dataError({ source, row: 1 }, `header field ${c + 1} is empty`, "Name every column in the header row (a trailing delimiter also makes an empty name).");
    }
    const dup = header!.indexOf(name);
    if (dup !== c) {
      throw dataError({ source, row: 1, column: name }, `the header names this column twice (fields ${dup + 1} and ${c + 1})`, "Give every column a unique name.");
    }
  });
  return { header, cells, lines, quotedNulls };
}
