/**
 * RFC 4180 CSV text → header + the position of every field in the text. No string is made per
 * cell here: `csv-columns.ts` reads numbers straight from the text and slices only text columns,
 * which keeps a 1M-row numeric file from allocating millions of long-lived strings.
 *
 * Lines without a quote take a fast path (`indexOf`); a line holding a quote is parsed character
 * by character and may span lines. A field is quoted only when its first character is `"`; a
 * quote elsewhere is literal text. Blank lines are skipped (in a one-column file they are nulls);
 * `\r\n` and a leading BOM are accepted.
 */
import { dataError } from "./data-error.ts";

/** The parsed CSV before type conversion. Cell `k = row * ncols + col`. */
export interface RawCsv {
  readonly text: string;
  readonly header: string[];
  readonly numRows: number;
  /** Text of cell `k` is `text.slice(starts[k], ends[k])`, unless `unescaped` has it. */
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** Quoted cells whose text had `""` escapes, already unescaped. */
  readonly unescaped: ReadonlyMap<number, string>;
  /** Quoted cells whose text equals a null token: they stay text. */
  readonly quotedNulls: ReadonlySet<number>;
  /** The 1-based line where each record starts (header = 1 unless blank lines precede it). */
  readonly lines: Int32Array;
}

const QUOTE = 34;
const LF = 10;
const CR = 13;

/** Growable int32 buffer. */
interface Ints {
  a: Int32Array;
  n: number;
}

function push(b: Ints, v: number): void {
  if (b.n === b.a.length) {
    const bigger = new Int32Array(b.a.length * 2);
    bigger.set(b.a);
    b.a = bigger;
  }
  b.a[b.n++] = v;
}

function raggedError(source: string, line: number, found: number, header: string[]): never {
  const fields = (k: number): string => `${k} field${k === 1 ? "" : "s"}`;
  if (found > header.length) {
    throw dataError({ source, row: line }, `${fields(found)} but the header has ${header.length}`, "Remove the extra fields, or quote a value that contains the delimiter.", { expected: header.length, found });
  }
  throw dataError(
    { source, row: line, column: header[found] },
    `${fields(found)} but the header has ${header.length}; the row ends before this column`,
    "Add the missing fields (leave a field empty for a null), or fix a quote that swallows a delimiter.",
    { expected: header.length, found },
  );
}

/** Parse state shared by the fast and slow paths. */
interface State {
  readonly text: string;
  readonly source: string;
  readonly delim: number;
  pos: number;
  line: number;
}

/**
 * Parses one record at `st.pos` character by character (the slow path), leaving `st` after its
 * line break. Returns each field's text range and, for a quoted field, its unescaped text.
 */
function parseRecordSlow(st: State, header: string[] | undefined): Array<{ start: number; end: number; text?: string; quoted: boolean }> {
  const { text, delim, source } = st;
  const len = text.length;
  const fields: Array<{ start: number; end: number; text?: string; quoted: boolean }> = [];
  const startLine = st.line;
  let p = st.pos;
  for (;;) {
    if (text.charCodeAt(p) === QUOTE) {
      const start = p + 1;
      let escaped: string | undefined;
      let from = start;
      let end: number;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q < 0) {
          throw dataError({ source, row: startLine, column: header?.[fields.length] }, "a quoted field has no closing quote", 'Close the quote, and write a quote inside a quoted field as "".');
        }
        for (let k = text.indexOf("\n", from); k >= 0 && k < q; k = text.indexOf("\n", k + 1)) st.line++;
        if (text.charCodeAt(q + 1) === QUOTE) {
          escaped = (escaped ?? "") + text.slice(from, q + 1);
          from = q + 2;
          continue;
        }
        end = q;
        if (escaped !== undefined) escaped += text.slice(from, q);
        p = q + 1;
        break;
      }
      const c = p < len ? text.charCodeAt(p) : LF;
      if (c !== delim && c !== LF && !(c === CR && (p + 1 >= len || text.charCodeAt(p + 1) === LF))) {
        throw dataError({ source, row: startLine, column: header?.[fields.length] }, `text follows the closing quote of field ${fields.length + 1}`, 'Quote the whole field and write each inner quote as "".');
      }
      fields.push({ start, end, text: escaped, quoted: true });
    } else {
      let end = p;
      while (end < len) {
        const c = text.charCodeAt(end);
        if (c === delim || c === LF || (c === CR && (end + 1 >= len || text.charCodeAt(end + 1) === LF))) break;
        end++;
      }
      fields.push({ start: p, end, quoted: false });
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
  st.pos = p;
  st.line++;
  return fields;
}

function checkHeader(header: string[], source: string): void {
  header.forEach((name, c) => {
    if (name === "") {
      throw dataError({ source, row: 1 }, `header field ${c + 1} is empty`, "Name every column in the header row (a trailing delimiter also makes an empty name).");
    }
    const dup = header.indexOf(name);
    if (dup !== c) {
      throw dataError({ source, row: 1, column: name }, `the header names this column twice (fields ${dup + 1} and ${c + 1})`, "Give every column a unique name.");
    }
  });
}

/** Header and field positions of CSV text; `source` names the text in errors. */
export function parseRawCsv(text: string, source: string, delimiter: string, nullTokens: ReadonlySet<string>): RawCsv {
  const st: State = { text, source, delim: delimiter.charCodeAt(0), pos: text.charCodeAt(0) === 0xfeff ? 1 : 0, line: 1 };
  const len = text.length;
  let contentEnd = len;
  while (contentEnd > 0 && (text.charCodeAt(contentEnd - 1) === LF || text.charCodeAt(contentEnd - 1) === CR)) contentEnd--;
  // Guess one field per 8 characters; the buffers double when that is too few.
  const cap = Math.max(16, len >> 3);
  const starts: Ints = { a: new Int32Array(cap), n: 0 };
  const ends: Ints = { a: new Int32Array(cap), n: 0 };
  const lines: Ints = { a: new Int32Array(Math.max(16, len >> 5)), n: 0 };
  const unescaped = new Map<number, string>();
  const quotedNulls = new Set<number>();
  let header: string[] | undefined;
  let ncols = 0;
  let nextQuote = text.indexOf('"', st.pos);
  while (st.pos < len) {
    const start = st.pos;
    let eol = text.indexOf("\n", start);
    if (eol < 0) eol = len;
    const end = eol > start && text.charCodeAt(eol - 1) === CR ? eol - 1 : eol;
    if (end === start) {
      // A blank line is nothing, except in a one-column file, where it is an empty field (a
      // null) unless only blank lines follow it.
      if (ncols === 1 && start < contentEnd) {
        push(starts, start);
        push(ends, start);
        push(lines, st.line);
      }
      st.pos = eol + 1;
      st.line++;
      continue;
    }
    if (nextQuote >= 0 && nextQuote < start) nextQuote = text.indexOf('"', start);
    const recordLine = st.line;
    if (nextQuote >= 0 && nextQuote < end) {
      const fields = parseRecordSlow(st, header);
      if (header === undefined) {
        header = fields.map((f) => f.text ?? text.slice(f.start, f.end));
        ncols = header.length;
        checkHeader(header, source);
        continue;
      }
      if (fields.length !== ncols) raggedError(source, recordLine, fields.length, header);
      for (const f of fields) {
        const k = starts.n;
        if (f.text !== undefined) unescaped.set(k, f.text);
        if (f.quoted && nullTokens.has(f.text ?? text.slice(f.start, f.end))) quotedNulls.add(k);
        push(starts, f.start);
        push(ends, f.end);
      }
      push(lines, recordLine);
      continue;
    }
    st.pos = eol + 1;
    st.line++;
    if (header === undefined) {
      header = text.slice(start, end).split(delimiter);
      ncols = header.length;
      checkHeader(header, source);
      continue;
    }
    let p = start;
    for (let c = 0; c < ncols - 1; c++) {
      const q = text.indexOf(delimiter, p);
      if (q < 0 || q >= end) raggedError(source, recordLine, c + 1, header);
      push(starts, p);
      push(ends, q);
      p = q + 1;
    }
    const q = text.indexOf(delimiter, p);
    if (q >= 0 && q < end) raggedError(source, recordLine, text.slice(start, end).split(delimiter).length, header);
    push(starts, p);
    push(ends, end);
    push(lines, recordLine);
  }
  if (header === undefined) {
    throw dataError({ source, row: 1 }, "the file is empty: no header row", "Start the file with a header row naming each column, e.g. `x,y,label`.");
  }
  return { text, header, numRows: lines.n, starts: starts.a.subarray(0, starts.n), ends: ends.a.subarray(0, ends.n), unescaped, quotedNulls, lines: lines.a.subarray(0, lines.n) };
}
