/**
 * PAX extended header records (`"<len> <key>=<value>\n"`) and the number
 * and time syntax Go's `archive/tar` accepts in them (`soci-format.md` §4.2).
 *
 * @module
 */

/**
 * PAX records of one extended header, keyed by the key as a Latin-1 string
 * (one char per byte), holding the raw key and value bytes. Iteration order
 * is first appearance; a later duplicate replaces the value in place.
 */
export type PaxRecords = Map<string, [key: Uint8Array, value: Uint8Array]>;

const SPARSE_OFFSET = "GNU.sparse.offset";
const SPARSE_NUMBYTES = "GNU.sparse.numbytes";
const SPARSE_MAP = "GNU.sparse.map";
const ENC = new TextEncoder();

/**
 * Bytes to a string with one char per byte (no decoding), for comparing keys
 * and parsing ASCII numbers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latin1 } from "./pax.ts";
 * assert.ok(latin1(new Uint8Array([0x70, 0xff])) === "p\u00ff");
 * ```
 */
export function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode(...b.subarray(i, i + 8192));
  }
  return s;
}

const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT64 = -(1n << 63n);
const DEC_INT = /^[+-]?[0-9]+$/;

/**
 * Parses a decimal integer like Go's `strconv.ParseInt(s, 10, 64)`: optional
 * sign, at least one digit, nothing else, within int64. Returns undefined
 * when Go would fail.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDecimal } from "./pax.ts";
 * assert.ok(parseDecimal("+0042") === 42n);
 * assert.ok(parseDecimal(" 1") === undefined && parseDecimal("9223372036854775808") === undefined);
 * ```
 */
export function parseDecimal(s: string): bigint | undefined {
  if (!DEC_INT.test(s)) return undefined;
  const v = BigInt(s);
  return v > MAX_INT64 || v < MIN_INT64 ? undefined : v;
}

/**
 * Parses a PAX time (`mtime`, `atime`, `ctime`) like Go's `parsePAXTime`:
 * `[-]seconds[.fraction]`, fraction digits beyond 9 truncated, a negative
 * value's fraction counted towards minus infinity as Go's `time.Unix` does.
 * Returns undefined when Go would fail.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePaxTime } from "./pax.ts";
 * assert.ok(JSON.stringify(parsePaxTime("1700000000.5")) === '{"seconds":1700000000,"nanos":500000000}');
 * assert.ok(JSON.stringify(parsePaxTime("-1.25")) === '{"seconds":-2,"nanos":750000000}');
 * ```
 */
export function parsePaxTime(s: string): { seconds: number; nanos: number } | undefined {
  const dot = s.indexOf(".");
  const ss = dot < 0 ? s : s.slice(0, dot);
  const sn = dot < 0 ? "" : s.slice(dot + 1);
  const secs = parseDecimal(ss);
  if (secs === undefined) return undefined;
  if (sn.length === 0) return { seconds: Number(secs), nanos: 0 };
  if (!/^[0-9]*$/.test(sn)) return undefined;
  const nanos = Number(sn.length < 9 ? sn.padEnd(9, "0") : sn.slice(0, 9));
  if (ss.charCodeAt(0) === 0x2d /* - */ && nanos > 0) {
    return { seconds: Number(secs - 1n), nanos: 1e9 - nanos };
  }
  return { seconds: Number(secs), nanos };
}

/** Why a PAX header could not be parsed, with the byte position in its data. */
export class PaxSyntaxError extends Error {
  /** `at`: byte position of the bad record in the header data; `why`: the problem. */
  constructor(readonly at: number, readonly why: string) {
    super(`malformed PAX record at byte ${at} of the extended header: ${why}`);
  }
}

function hasNul(b: Uint8Array): boolean {
  return b.indexOf(0) >= 0;
}

function concatWithCommas(parts: Uint8Array[]): Uint8Array {
  let n = parts.length - 1;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  parts.forEach((p, i) => {
    if (i > 0) out[at++] = 0x2c;
    out.set(p, at);
    at += p.length;
  });
  return out;
}

/**
 * Parses the data of a PAX `x`/`g` header like Go's `parsePAX`: every record
 * must be well formed (length prefix matching, newline-terminated, `=`
 * present, non-empty key, no NUL in keys nor in path/linkpath/uname/gname
 * values); later duplicates win; GNU sparse 0.0 `GNU.sparse.offset` /
 * `GNU.sparse.numbytes` pairs are folded into one `GNU.sparse.map` record.
 * Keys and values are views into `data` (except a folded sparse map).
 * Throws PaxSyntaxError on the first malformed record.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePaxRecords } from "./pax.ts";
 * const recs = parsePaxRecords(new TextEncoder().encode("11 path=ab\n14 mtime=1.25\n"));
 * assert.ok([...recs.keys()].join() === "path,mtime");
 * assert.ok(new TextDecoder().decode(recs.get("path")![1]) === "ab");
 * ```
 */
export function parsePaxRecords(data: Uint8Array): PaxRecords {
  const recs: PaxRecords = new Map();
  const sparse: Uint8Array[] = [];
  let p = 0;
  while (p < data.length) {
    const remaining = data.length - p;
    const sp = data.indexOf(0x20, p);
    if (sp < 0) throw new PaxSyntaxError(p, "no space after the length");
    const n0 = parseDecimal(latin1(data.subarray(p, sp)));
    if (n0 === undefined || n0 < 5n || n0 > BigInt(remaining)) {
      throw new PaxSyntaxError(p, "bad record length");
    }
    const n = Number(n0) - (sp - p + 1);
    if (n <= 0) throw new PaxSyntaxError(p, "bad record length");
    const recStart = sp + 1;
    const nl = recStart + n - 1;
    if (data[nl] !== 0x0a) throw new PaxSyntaxError(p, "record does not end with a newline");
    let eq = -1;
    for (let i = recStart; i < nl; i++) {
      if (data[i] === 0x3d) {
        eq = i;
        break;
      }
    }
    if (eq < 0) throw new PaxSyntaxError(p, "no '=' in record");
    const key = data.subarray(recStart, eq);
    const value = data.subarray(eq + 1, nl);
    const k = latin1(key);
    if (key.length === 0) throw new PaxSyntaxError(p, "empty key");
    if (k === "path" || k === "linkpath" || k === "uname" || k === "gname") {
      if (hasNul(value)) throw new PaxSyntaxError(p, `NUL byte in ${k} value`);
    } else if (hasNul(key)) {
      throw new PaxSyntaxError(p, "NUL byte in key");
    }
    if (k === SPARSE_OFFSET || k === SPARSE_NUMBYTES) {
      const wantOffset = sparse.length % 2 === 0;
      if ((wantOffset && k !== SPARSE_OFFSET) || (!wantOffset && k !== SPARSE_NUMBYTES)) {
        throw new PaxSyntaxError(p, "GNU sparse offset/numbytes records out of order");
      }
      if (value.indexOf(0x2c) >= 0) throw new PaxSyntaxError(p, `',' in ${k} value`);
      sparse.push(value);
    } else {
      const prev = recs.get(k);
      if (prev) prev[1] = value;
      else recs.set(k, [key, value]);
    }
    p = nl + 1;
  }
  if (sparse.length > 0) {
    const value = concatWithCommas(sparse);
    const prev = recs.get(SPARSE_MAP);
    if (prev) prev[1] = value;
    else recs.set(SPARSE_MAP, [ENC.encode(SPARSE_MAP), value]);
  }
  return recs;
}

/**
 * Value of record `key` as a Latin-1 string; `""` when absent (as a Go map
 * lookup gives).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paxString, parsePaxRecords } from "./pax.ts";
 * const recs = parsePaxRecords(new TextEncoder().encode("8 uid=7\n"));
 * assert.ok(paxString(recs, "uid") === "7" && paxString(recs, "gid") === "");
 * ```
 */
export function paxString(recs: PaxRecords, key: string): string {
  const r = recs.get(key);
  return r ? latin1(r[1]) : "";
}
