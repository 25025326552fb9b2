/**
 * Go's view of bytes as text: `utf8.DecodeRune` validity rules (a byte that
 * does not start a valid sequence is one `RuneError`), `string(runes)`
 * conversion of raw bytes, and Go's byte-wise string ordering.
 *
 * @module
 */

const UTF8 = new TextEncoder();
/** Decoder for byte runs already known to be valid UTF-8 (keeps a BOM). */
const VALID_UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Length of the valid UTF-8 sequence starting at `b[i]` (a byte >= 0x80),
 * or 0 when Go's `utf8.DecodeRune` would report `(RuneError, 1)` there:
 * overlong forms, surrogates, values above U+10FFFF, stray continuation
 * bytes and sequences cut short by the end of `b`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { utf8SequenceLength } from "./utf8.ts";
 * assert.equal(utf8SequenceLength(new Uint8Array([0xc3, 0xa9]), 0), 2); // é
 * assert.equal(utf8SequenceLength(new Uint8Array([0xed, 0xa0, 0x80]), 0), 0); // surrogate
 * assert.equal(utf8SequenceLength(new Uint8Array([0xe2, 0x82]), 0), 0); // cut short
 * ```
 */
export function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  const n = b.length;
  if (c >= 0xc2 && c <= 0xdf) {
    return i + 1 < n && (b[i + 1] & 0xc0) === 0x80 ? 2 : 0;
  }
  if (c >= 0xe0 && c <= 0xef) {
    if (i + 2 >= n) return 0;
    const c1 = b[i + 1];
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    if (c1 < lo || c1 > hi) return 0;
    return (b[i + 2] & 0xc0) === 0x80 ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (i + 3 >= n) return 0;
    const c1 = b[i + 1];
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    if (c1 < lo || c1 > hi) return 0;
    return (b[i + 2] & 0xc0) === 0x80 && (b[i + 3] & 0xc0) === 0x80 ? 4 : 0;
  }
  return 0;
}

/**
 * Decodes bytes that are known to be valid UTF-8 (a leading BOM is kept,
 * as Go keeps it). Invalid input is replaced by the platform's rules, not
 * Go's: use {@link goString} for bytes of unknown validity.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeValidUtf8 } from "./utf8.ts";
 * assert.equal(decodeValidUtf8(new Uint8Array([0xef, 0xbb, 0xbf, 0x61])), "\ufeffa");
 * ```
 */
export function decodeValidUtf8(b: Uint8Array): string {
  return VALID_UTF8.decode(b);
}

/**
 * Raw bytes as a string the way Go converts them to runes: every byte that
 * is not part of a valid UTF-8 sequence becomes U+FFFD (one per byte, where
 * a WHATWG decoder would sometimes give one for several).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { goString } from "./utf8.ts";
 * assert.equal(goString(new Uint8Array([0x61, 0xff, 0x62])), "a\ufffdb");
 * assert.equal(goString(new Uint8Array([0xe2, 0x82])), "\ufffd\ufffd");
 * ```
 */
export function goString(b: Uint8Array): string {
  let out = "";
  let seg = 0;
  let i = 0;
  while (i < b.length) {
    if (b[i] < 0x80) {
      i++;
      continue;
    }
    const len = utf8SequenceLength(b, i);
    if (len > 0) {
      i += len;
      continue;
    }
    out += VALID_UTF8.decode(b.subarray(seg, i)) + "\ufffd";
    seg = ++i;
  }
  return out + VALID_UTF8.decode(b.subarray(seg));
}

const HAS_SURROGATE = /[\ud800-\udfff]/;

/**
 * Orders strings as Go's `strings.Compare` does: by their UTF-8 bytes (which
 * differs from JavaScript's UTF-16 order above U+FFFF). Go's `sort` of map
 * keys in `encoding/json` uses this order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareGoStrings } from "./utf8.ts";
 * // U+FF5E is EF BD 9E in UTF-8, U+1F600 is F0 9F 98 80: Go puts U+FF5E first.
 * assert.ok(compareGoStrings("\uff5e", "\u{1f600}") < 0);
 * assert.ok("\uff5e" > "\u{1f600}"); // JavaScript's own order is the reverse
 * assert.equal(compareGoStrings("a", "a"), 0);
 * ```
 */
export function compareGoStrings(a: string, b: string): number {
  if (!HAS_SURROGATE.test(a) && !HAS_SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const x = UTF8.encode(a);
  const y = UTF8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
