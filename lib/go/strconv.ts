/**
 * Go's `strconv` number and boolean parsing (`ParseInt`/`ParseUint` with
 * base 0, `ParseBool`), with Go's error texts (`strconv.ParseInt: parsing
 * "x": invalid syntax`), so that flag errors read as upstream's do.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { strconvQuote } from "./quote.ts";

/** Go's `*strconv.NumError` text: `strconv.<fn>: parsing "<num>": <reason>`. */
function numError(fn: string, num: string, reason: string): BadInputError {
  return new BadInputError(`strconv.${fn}: parsing ${strconvQuote(num)}: ${reason}`);
}

const MAX_UINT64 = (1n << 64n) - 1n;

function lower(c: string): string {
  return c.toLowerCase();
}

/** Go's `underscoreOK`: underscores only between digits or after a base prefix. */
function underscoreOK(s: string): boolean {
  let saw = "^";
  let i = 0;
  if (s.length >= 1 && (s[0] === "-" || s[0] === "+")) s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === "0" && "box".includes(lower(s[1]))) {
    i = 2;
    saw = "0";
    hex = lower(s[1]) === "x";
  }
  for (; i < s.length; i++) {
    const c = s[i];
    if ((c >= "0" && c <= "9") || (hex && lower(c) >= "a" && lower(c) <= "f")) {
      saw = "0";
      continue;
    }
    if (c === "_") {
      if (saw !== "0") return false;
      saw = "_";
      continue;
    }
    if (saw === "_") return false;
    saw = "!";
  }
  return saw !== "_";
}

/** Go's ParseUint(s, 0, 64) core: returns the value or the failure kind. */
function parseUintBase0(s: string): bigint | "syntax" | "range" {
  if (s === "") return "syntax";
  const s0 = s;
  let base = 10;
  if (s[0] === "0") {
    if (s.length >= 3 && lower(s[1]) === "b") {
      base = 2;
      s = s.slice(2);
    } else if (s.length >= 3 && lower(s[1]) === "o") {
      base = 8;
      s = s.slice(2);
    } else if (s.length >= 3 && lower(s[1]) === "x") {
      base = 16;
      s = s.slice(2);
    } else {
      base = 8;
      s = s.slice(1);
    }
  }
  const b = BigInt(base);
  const cutoff = MAX_UINT64 / b + 1n;
  let underscores = false;
  let n = 0n;
  // Go iterates bytes; every non-ASCII byte is a syntax error, as is every
  // non-ASCII UTF-16 unit here.
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    let d: number;
    if (c === "_") {
      underscores = true;
      continue;
    } else if (c >= "0" && c <= "9") {
      d = c.charCodeAt(0) - 48;
    } else if (lower(c) >= "a" && lower(c) <= "z" && c.charCodeAt(0) < 0x80) {
      d = lower(c).charCodeAt(0) - 97 + 10;
    } else {
      return "syntax";
    }
    if (d >= base) return "syntax";
    if (n >= cutoff) return "range";
    n *= b;
    const n1 = n + BigInt(d);
    if (n1 > MAX_UINT64) return "range";
    n = n1;
  }
  if (underscores && !underscoreOK(s0)) return "syntax";
  return n;
}

/**
 * Go's `strconv.ParseUint(s, 0, 64)`: decimal, `0x`/`0o`/`0b` prefixes, a
 * leading `0` for octal, `_` separators. Errors carry Go's text
 * (`strconv.ParseUint: parsing "x": invalid syntax` / `value out of range`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGoUint } from "./strconv.ts";
 * assert.ok(parseGoUint("0x10") === 16n);
 * assert.ok(parseGoUint("18446744073709551615") === 18446744073709551615n);
 * ```
 */
export function parseGoUint(s: string): bigint {
  const r = parseUintBase0(s);
  if (r === "syntax") throw numError("ParseUint", s, "invalid syntax");
  if (r === "range") throw numError("ParseUint", s, "value out of range");
  return r;
}

/**
 * Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then as
 * {@link parseGoUint}; values outside the signed 64-bit range give
 * `strconv.ParseInt: parsing "<s>": value out of range`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGoInt } from "./strconv.ts";
 * assert.ok(parseGoInt("-9223372036854775808") === -(2n ** 63n));
 * try {
 *   parseGoInt("9223372036854775808");
 * } catch (e) {
 *   assert.ok((e as Error).message ===
 *     'strconv.ParseInt: parsing "9223372036854775808": value out of range');
 * }
 * ```
 */
export function parseGoInt(s: string): bigint {
  if (s === "") throw numError("ParseInt", s, "invalid syntax");
  const s0 = s;
  let neg = false;
  if (s[0] === "+") s = s.slice(1);
  else if (s[0] === "-") {
    neg = true;
    s = s.slice(1);
  }
  let un = parseUintBase0(s);
  if (un === "syntax") throw numError("ParseInt", s0, "invalid syntax");
  if (un === "range") un = MAX_UINT64;
  const cutoff = 1n << 63n;
  if (!neg && un >= cutoff) throw numError("ParseInt", s0, "value out of range");
  if (neg && un > cutoff) throw numError("ParseInt", s0, "value out of range");
  return neg ? -un : un;
}

/**
 * Go's `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGoBool } from "./strconv.ts";
 * assert.ok(parseGoBool("T") === true && parseGoBool("False") === false);
 * ```
 */
export function parseGoBool(s: string): boolean {
  switch (s) {
    case "1":
    case "t":
    case "T":
    case "TRUE":
    case "true":
    case "True":
      return true;
    case "0":
    case "f":
    case "F":
    case "FALSE":
    case "false":
    case "False":
      return false;
  }
  throw numError("ParseBool", s, "invalid syntax");
}
