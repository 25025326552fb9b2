/**
 * Go `time.Duration` text: `String()` (`1m0s`, `1.5s`, `100ms`), `ParseDuration`
 * (`30s`, `1m30s`, `-1.5h`) and `Round`. Durations are `bigint` nanoseconds so
 * that the whole signed 64-bit range is exact.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";

/** One nanosecond. */
export const NANOSECOND = 1n;
/** One microsecond in nanoseconds. */
export const MICROSECOND = 1_000n;
/** One millisecond in nanoseconds. */
export const MILLISECOND = 1_000_000n;
/** One second in nanoseconds. */
export const SECOND = 1_000_000_000n;
/** One minute in nanoseconds. */
export const MINUTE = 60n * SECOND;
/** One hour in nanoseconds. */
export const HOUR = 60n * MINUTE;

const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT64 = -(1n << 63n);
const U63 = 1n << 63n;

function toInt64(d: bigint | number): bigint {
  const v = typeof d === "bigint" ? d : BigInt(Math.trunc(d));
  return BigInt.asIntN(64, v);
}

/** Appends the fraction digits of v/10**prec (trailing zeros and a bare dot omitted). */
function fmtFrac(v: bigint, prec: number): [string, bigint] {
  let digits = "";
  let print = false;
  for (let i = 0; i < prec; i++) {
    const digit = v % 10n;
    print = print || digit !== 0n;
    if (print) digits = digit.toString() + digits;
    v /= 10n;
  }
  return [print ? "." + digits : "", v];
}

/**
 * Go's `time.Duration.String()`: `0s`, `1ns`, `1.5µs`, `100ms`, `1.5s`,
 * `1m0s`, `2h3m4s`, `-5s`; hours are the largest unit. Accepts nanoseconds
 * (a `number` is truncated; both wrap to signed 64 bits like Go).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDuration, MINUTE, SECOND } from "./duration.ts";
 * assert.ok(formatDuration(MINUTE) === "1m0s");
 * assert.ok(formatDuration(3n * SECOND / 2n) === "1.5s");
 * assert.ok(formatDuration(0n) === "0s");
 * ```
 */
export function formatDuration(d: bigint | number): string {
  const v = toInt64(d);
  const neg = v < 0n;
  let u = neg ? -v : v; // -MIN_INT64 = 2^63 is fine as a bigint (Go's uint64)
  let out: string;
  if (u < SECOND) {
    let prec: number;
    let unit: string;
    if (u === 0n) return "0s";
    if (u < MICROSECOND) {
      prec = 0;
      unit = "ns";
    } else if (u < MILLISECOND) {
      prec = 3;
      unit = "µs";
    } else {
      prec = 6;
      unit = "ms";
    }
    const [frac, rest] = fmtFrac(u, prec);
    out = rest.toString() + frac + unit;
  } else {
    const [frac, secs] = fmtFrac(u, 9);
    u = secs;
    out = (u % 60n).toString() + frac + "s";
    u /= 60n;
    if (u > 0n) {
      out = (u % 60n).toString() + "m" + out;
      u /= 60n;
      if (u > 0n) out = u.toString() + "h" + out;
    }
  }
  return neg ? "-" + out : out;
}

const UNITS: Record<string, bigint> = {
  ns: NANOSECOND,
  us: MICROSECOND,
  "µs": MICROSECOND, // U+00B5 micro sign
  "μs": MICROSECOND, // U+03BC Greek mu
  ms: MILLISECOND,
  s: SECOND,
  m: MINUTE,
  h: HOUR,
};

/** Go `time` package's private quote: only ASCII printable kept, the rest as `\x` bytes. */
function timeQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x80 || c < 0x20) {
      for (const b of new TextEncoder().encode(ch)) out += "\\x" + b.toString(16).padStart(2, "0");
    } else {
      if (ch === '"' || ch === "\\") out += "\\";
      out += ch;
    }
  }
  return out + '"';
}

function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

/**
 * Go's `time.ParseDuration`: a possibly signed sequence of decimal numbers,
 * each with an optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`,
 * `h`), e.g. `300ms`, `-1.5h`, `2h45m`; a bare `0` is zero. Returns
 * nanoseconds. Errors are Go's texts (`time: invalid duration "x"`,
 * `time: missing unit in duration "1"`, `time: unknown unit "d" in duration "1d"`)
 * as {@link BadInputError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration, SECOND } from "./duration.ts";
 * assert.ok(parseDuration("1m30s") === 90n * SECOND);
 * assert.ok(parseDuration("500ms") === SECOND / 2n);
 * ```
 */
export function parseDuration(text: string): bigint {
  const orig = text;
  let s = text;
  let d = 0n;
  let neg = false;
  const invalid = () => new BadInputError("time: invalid duration " + timeQuote(orig));
  if (s !== "" && (s[0] === "-" || s[0] === "+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") throw invalid();
  while (s !== "") {
    let v = 0n;
    let f = 0n;
    let scale = 1;
    if (!(s[0] === "." || isDigit(s[0]))) throw invalid();
    // leading integer
    let i = 0;
    for (; i < s.length && isDigit(s[i]); i++) {
      if (v > U63 / 10n) throw invalid();
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > U63) throw invalid();
    }
    const pre = i > 0;
    s = s.slice(i);
    let post = false;
    if (s !== "" && s[0] === ".") {
      s = s.slice(1);
      let j = 0;
      let overflow = false;
      for (; j < s.length && isDigit(s[j]); j++) {
        if (overflow) continue;
        if (f > MAX_INT64 / 10n) {
          overflow = true;
          continue;
        }
        const y = f * 10n + BigInt(s.charCodeAt(j) - 48);
        if (y > U63) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) throw invalid();
    let k = 0;
    for (; k < s.length; k++) {
      if (s[k] === "." || isDigit(s[k])) break;
    }
    if (k === 0) throw new BadInputError("time: missing unit in duration " + timeQuote(orig));
    const u = s.slice(0, k);
    s = s.slice(k);
    const unit = UNITS[u];
    if (unit === undefined) {
      throw new BadInputError(
        "time: unknown unit " + timeQuote(u) + " in duration " + timeQuote(orig),
      );
    }
    if (v > U63 / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      // Go computes this in float64 to stay nanosecond-accurate for fractions of hours.
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > U63) throw invalid();
    }
    d += v;
    if (d > U63) throw invalid();
  }
  if (neg) return BigInt.asIntN(64, -d);
  if (d > MAX_INT64) throw invalid();
  return d;
}

/**
 * Go's `Duration.Round(m)`: rounds to the nearest multiple of `m`, halfway
 * values away from zero, saturating at the int64 limits; `m <= 0` returns `d`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { roundDuration, SECOND } from "./duration.ts";
 * assert.ok(roundDuration(1_500_000_000n, SECOND) === 2n * SECOND);
 * assert.ok(roundDuration(1_499_999_999n, SECOND) === SECOND);
 * ```
 */
export function roundDuration(d: bigint, m: bigint): bigint {
  if (m <= 0n) return d;
  let r = d % m;
  if (d < 0n) {
    r = -r;
    if (r + r < m) return d + r;
    const d1 = d - m + r;
    return d1 < MIN_INT64 ? MIN_INT64 : d1;
  }
  if (r + r < m) return d - r;
  const d1 = d + m - r;
  return d1 > MAX_INT64 ? MAX_INT64 : d1;
}
