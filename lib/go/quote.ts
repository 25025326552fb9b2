/**
 * Go's `strconv.Quote` (the `%q` verb), used to reproduce Go error texts
 * such as `invalid value "x" for flag -n: …` byte for byte. Not to be
 * confused with `encoding/json`'s string quoting (`json_quote.ts`).
 *
 * @module
 */

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

const NAMED_ESCAPES: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
};

function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, "0");
}

/**
 * Quotes a string the way Go's `strconv.Quote` does: double quotes, `\"` and
 * `\\`, the C escapes `\a \b \f \n \r \t \v`, `\xHH` for other control
 * characters and DEL, `\uHHHH`/`\UHHHHHHHH` for non-printable runes; printable
 * Unicode is kept as is. A lone UTF-16 surrogate (which Go strings cannot hold)
 * is written as `\ufffd`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { strconvQuote } from "./quote.ts";
 * assert.equal(strconvQuote('a"b\n'), '"a\\"b\\n"');
 * assert.equal(strconvQuote("µs\x7f"), '"µs\\x7f"');
 * ```
 */
export function strconvQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const r = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") {
      out += "\\" + ch;
    } else if (r >= 0xd800 && r <= 0xdfff) {
      out += "\\ufffd";
    } else if (PRINTABLE.test(ch)) {
      out += ch;
    } else if (NAMED_ESCAPES[ch] !== undefined) {
      out += NAMED_ESCAPES[ch];
    } else if (r < 0x20 || r === 0x7f) {
      out += "\\x" + hex(r, 2);
    } else if (r < 0x10000) {
      out += "\\u" + hex(r, 4);
    } else {
      out += "\\U" + hex(r, 8);
    }
  }
  return out + '"';
}
