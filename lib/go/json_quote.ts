/**
 * String quoting of Go's `encoding/json` (`json.Marshal` with its default
 * HTML escaping). Not to be confused with Go's `strconv.Quote` (the `%q`
 * verb), which is `strconvQuote` in `quote.ts`.
 *
 * @module
 */
import { decodeValidUtf8, utf8SequenceLength } from "./utf8.ts";

const HEX = "0123456789abcdef";
/** Escape text for each ASCII byte, or "" when the byte is written as is. */
const ASCII_ESCAPES: string[] = (() => {
  const t: string[] = new Array(128).fill("");
  for (let c = 0; c < 0x20; c++) t[c] = "\\u00" + HEX[c >> 4] + HEX[c & 15];
  t[0x08] = "\\b";
  t[0x0c] = "\\f";
  t[0x0a] = "\\n";
  t[0x0d] = "\\r";
  t[0x09] = "\\t";
  t[0x22] = '\\"';
  t[0x5c] = "\\\\";
  t[0x3c] = "\\u003c";
  t[0x3e] = "\\u003e";
  t[0x26] = "\\u0026";
  return t;
})();
// deno-lint-ignore no-control-regex
const NEEDS_ESCAPE = /["\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]/;

/**
 * Quotes a string exactly as Go's `encoding/json` does (HTML escaping on):
 * `"` and `\` escaped; `\b \f \n \r \t`; other control characters as
 * `\u00xx`; `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`; U+2028/U+2029 as
 * `\u2028`/`\u2029`; DEL and all other characters literal. Given raw bytes,
 * each byte that is not part of a valid UTF-8 sequence becomes `\ufffd`;
 * given a JS string, a lone surrogate becomes a literal U+FFFD (what Go sees
 * after decoding it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quoteJsonString } from "./json_quote.ts";
 * assert.equal(quoteJsonString("a<b>&\n"), '"a\\u003cb\\u003e\\u0026\\n"');
 * assert.equal(quoteJsonString(new Uint8Array([0x61, 0xff])), '"a\\ufffd"');
 * ```
 */
export function quoteJsonString(s: string | Uint8Array): string {
  if (typeof s !== "string") return quoteBytes(s);
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string;
    if (c < 0x80) {
      rep = ASCII_ESCAPES[c];
      if (rep === "") continue;
    } else if (c === 0x2028 || c === 0x2029) {
      rep = c === 0x2028 ? "\\u2028" : "\\u2029";
    } else if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          i++;
          continue;
        }
      }
      rep = "\ufffd";
    } else {
      continue;
    }
    out += s.slice(start, i) + rep;
    start = i + 1;
  }
  return out + s.slice(start) + '"';
}

function quoteBytes(b: Uint8Array): string {
  let out = '"';
  let start = 0;
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    let rep: string;
    let size = 1;
    if (c < 0x80) {
      rep = ASCII_ESCAPES[c];
      if (rep === "") {
        i++;
        continue;
      }
    } else {
      size = utf8SequenceLength(b, i);
      if (size === 0) {
        size = 1;
        rep = "\\ufffd";
      } else if (size === 3 && c === 0xe2 && b[i + 1] === 0x80 && (b[i + 2] & 0xfe) === 0xa8) {
        rep = b[i + 2] === 0xa8 ? "\\u2028" : "\\u2029";
      } else {
        i += size;
        continue;
      }
    }
    out += decodeValidUtf8(b.subarray(start, i)) + rep;
    i += size;
    start = i;
  }
  return out + decodeValidUtf8(b.subarray(start)) + '"';
}
