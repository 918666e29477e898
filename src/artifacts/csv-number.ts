/**
 * Reads a decimal number straight from a range of the CSV text, without making a string for it.
 * Up to 15 significant digits and a decimal exponent within ±22, the value is one exact double
 * operation (Clinger's fast path), so it is correctly rounded and equals `Number(text)`; beyond
 * that the range is sliced and handed to `Number`.
 */

/** The result of the last scan: its value, and whether the text was an integer literal (no `.` or exponent). */
export interface NumberScan {
  value: number;
  int: boolean;
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const SPACE = 32;
const ZERO = 48;
const SPECIAL: ReadonlyMap<string, number> = new Map([
  ["inf", Infinity],
  ["+inf", Infinity],
  ["infinity", Infinity],
  ["+infinity", Infinity],
  ["-inf", -Infinity],
  ["-infinity", -Infinity],
  ["nan", NaN],
]);

function special(text: string, a: number, b: number, out: NumberScan): boolean {
  if (b - a > 9) return false;
  const v = SPECIAL.get(text.slice(a, b).toLowerCase());
  if (v === undefined) return false;
  out.value = v;
  out.int = false;
  return true;
}

/**
 * Scans `text[a, b)` as a decimal number (`[+-]digits[.digits][e[+-]digits]`, spaces around it
 * allowed; also inf, infinity and nan in any case). On success fills `out` and returns true.
 */
export function scanNumber(text: string, a: number, b: number, out: NumberScan): boolean {
  while (a < b && text.charCodeAt(a) === SPACE) a++;
  while (b > a && text.charCodeAt(b - 1) === SPACE) b--;
  if (a === b) return false;
  let i = a;
  let c = text.charCodeAt(i);
  const neg = c === 45;
  if (neg || c === 43) i++;
  let m = 0;
  let sig = 0;
  let exp = 0;
  let digits = 0;
  let slow = false;
  let isInt = true;
  for (; i < b; i++) {
    c = text.charCodeAt(i) - ZERO;
    if (c < 0 || c > 9) break;
    digits++;
    if (m === 0 && c === 0) continue;
    if (sig < 15) {
      m = m * 10 + c;
      sig++;
    } else {
      slow = true;
    }
  }
  if (i < b && text.charCodeAt(i) === 46) {
    isInt = false;
    for (i++; i < b; i++) {
      c = text.charCodeAt(i) - ZERO;
      if (c < 0 || c > 9) break;
      digits++;
      if (m === 0 && c === 0) {
        exp--;
      } else if (sig < 15) {
        m = m * 10 + c;
        sig++;
        exp--;
      } else {
        slow = true;
      }
    }
  }
  if (digits === 0) return special(text, a, b, out);
  if (i < b && (text.charCodeAt(i) | 0x20) === 101) {
    isInt = false;
    i++;
    c = text.charCodeAt(i);
    const expNeg = c === 45;
    if (expNeg || c === 43) i++;
    let e = 0;
    let expDigits = 0;
    for (; i < b; i++) {
      c = text.charCodeAt(i) - ZERO;
      if (c < 0 || c > 9) break;
      expDigits++;
      if (e < 100000) e = e * 10 + c;
    }
    if (expDigits === 0) return false;
    exp += expNeg ? -e : e;
  }
  if (i !== b) return false;
  out.int = isInt;
  if (slow || exp < -22 || exp > 22) {
    out.value = Number(text.slice(a, b));
  } else {
    const v = exp < 0 ? m / POW10[-exp]! : m * POW10[exp]!;
    out.value = neg ? -v : v;
  }
  return true;
}
