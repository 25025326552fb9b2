/**
 * Go's `strconv.Quote` (the `%q` verb), used to reproduce Go error texts
 * such as `invalid value "x" for flag -n: …` byte for byte. Not to be
 * confused with `encoding/json`'s string quoting (`json_quote.ts`).
 *
 * @module
 */
import { utf8SequenceLength } from "./utf8.ts";

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

/** Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and U+0020. */
const NOT_PRINTABLE = /[^\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;

/**
 * A table cell as it can be shown on a terminal: the text itself when every
 * character is printable (Go's `unicode.IsPrint`: no control characters, no
 * tabs or newlines, no escape sequences, no invisible format characters such
 * as bidi overrides) and it does not start with `"`; otherwise the text
 * quoted like Go's `strconv.Quote` (`"a\nb"`, `"\x1b[31m"`, `"\u202e"`),
 * so that a quoted cell is never mistaken for a plain one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeCell } from "./quote.ts";
 * assert.equal(escapeCell("usr/bin/café"), "usr/bin/café");
 * assert.equal(escapeCell("evil\n\x1b[2Jname"), '"evil\\n\\x1b[2Jname"');
 * assert.equal(escapeCell('"quoted"'), '"\\"quoted\\""');
 * ```
 */
export function escapeCell(text: string): string {
  if (!NOT_PRINTABLE.test(text) && text.charCodeAt(0) !== 0x22) return text;
  return strconvQuote(text);
}

const NOT_PRINTABLE_ALL = new RegExp(NOT_PRINTABLE.source, "gu");

/**
 * `text` with every character Go's `unicode.IsPrint` rejects (control
 * characters, newlines and tabs, escape sequences, bidi overrides and other
 * invisible ones) written as `strconv.Quote` writes it, without quotes
 * around the whole: a message that carries names from an image or the
 * command line stays one line and drives no terminal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeUnprintable } from "./quote.ts";
 * assert.equal(escapeUnprintable("a\nb\x1b[2Jc\u202e"), "a\\nb\\x1b[2Jc\\u202e");
 * assert.equal(escapeUnprintable("usr/bin/café x"), "usr/bin/café x");
 * ```
 */
export function escapeUnprintable(text: string): string {
  if (!NOT_PRINTABLE.test(text)) return text;
  return text.replace(NOT_PRINTABLE_ALL, (c) => strconvQuote(c).slice(1, -1));
}

/**
 * A name made of raw bytes (tar names need not be UTF-8), as a table shows
 * it: like {@link escapeCell}, and when the bytes are not valid UTF-8, quoted
 * with every invalid byte as `\xHH` (what Go's `strconv.Quote` writes), so
 * that different names never look the same.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { displayName } from "./quote.ts";
 * assert.equal(displayName(new TextEncoder().encode("etc/hosts")), "etc/hosts");
 * assert.equal(displayName(new Uint8Array([0x61, 0xff, 0x0a])), '"a\\xff\\n"');
 * ```
 */
export function displayName(bytes: Uint8Array): string {
  if (validUtf8(bytes)) return escapeCell(UTF8.decode(bytes));
  // Valid runs quoted as text, each invalid byte as \xHH.
  let out = "";
  let run = 0;
  let i = 0;
  while (i < bytes.length) {
    const n = bytes[i] < 0x80 ? 1 : utf8SequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += strconvQuote(UTF8.decode(bytes.subarray(run, i))).slice(1, -1);
    out += "\\x" + bytes[i].toString(16).padStart(2, "0");
    run = ++i;
  }
  out += strconvQuote(UTF8.decode(bytes.subarray(run))).slice(1, -1);
  return '"' + out + '"';
}

const UTF8 = new TextDecoder();

function validUtf8(b: Uint8Array): boolean {
  for (let i = 0; i < b.length;) {
    if (b[i] < 0x80) {
      i++;
      continue;
    }
    const n = utf8SequenceLength(b, i);
    if (n === 0) return false;
    i += n;
  }
  return true;
}
