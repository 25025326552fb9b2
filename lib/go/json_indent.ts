/**
 * Go's indented JSON for human and `--json` output: `json.Indent` of
 * existing JSON bytes (tokens kept byte for byte) and `json.MarshalIndent`
 * of plain values, both with an empty prefix and two-space indentation and
 * followed by a newline, as upstream prints them.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { encodeStdBase64 } from "./base64.ts";
import { parseJsonSpan } from "./json_parse.ts";
import { quoteJsonString } from "./json_quote.ts";
import { compareGoStrings, decodeValidUtf8 } from "./utf8.ts";

const UTF8 = new TextEncoder();

/** A growable byte buffer. */
class ByteWriter {
  buf: Uint8Array;
  len = 0;
  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(64, capacity));
  }
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(c: number): void {
    this.ensure(1);
    this.buf[this.len++] = c;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  newline(depth: number): void {
    this.ensure(1 + 2 * depth);
    this.buf[this.len++] = 0x0a;
    this.buf.fill(0x20, this.len, this.len + 2 * depth);
    this.len += 2 * depth;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * Go's `json.Indent(dst, src, "", "  ")` followed by `"\n"`: the source's
 * tokens (member order, string escapes, number text) are kept byte for
 * byte, whitespace between tokens is replaced by newlines and two-space
 * indentation, `: ` follows each key, empty `{}`/`[]` stay on one line, and
 * whitespace after the top-level value is kept (as Go does). Malformed JSON
 * is a `BadInputError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indentGoJson } from "./json_indent.ts";
 * const text = indentGoJson(new TextEncoder().encode('{"a":[1,2],"b":{},"c":"\\u003c"}'));
 * assert.equal(text, '{\n  "a": [\n    1,\n    2\n  ],\n  "b": {},\n  "c": "\\u003c"\n}\n');
 * ```
 */
export function indentGoJson(bytes: Uint8Array | string): string {
  const src = typeof bytes === "string" ? UTF8.encode(bytes) : bytes;
  const { start, end } = parseJsonSpan(src, "invalid JSON");
  const w = new ByteWriter(src.length + (src.length >> 1) + 2);
  let depth = 0;
  let needIndent = false;
  let i = start;
  while (i < end) {
    const c = src[i];
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (needIndent && c !== 0x7d && c !== 0x5d) {
      needIndent = false;
      depth++;
      w.newline(depth);
    }
    if (c === 0x22) {
      let j = i + 1;
      while (src[j] !== 0x22) j += src[j] === 0x5c ? 2 : 1;
      w.bytes(src.subarray(i, j + 1));
      i = j + 1;
      continue;
    }
    switch (c) {
      case 0x7b:
      case 0x5b:
        needIndent = true;
        w.byte(c);
        break;
      case 0x2c:
        w.byte(c);
        w.newline(depth);
        break;
      case 0x3a:
        w.byte(c);
        w.byte(0x20);
        break;
      case 0x7d:
      case 0x5d:
        if (needIndent) {
          needIndent = false;
        } else {
          depth--;
          w.newline(depth);
        }
        w.byte(c);
        break;
      default:
        w.byte(c);
    }
    i++;
  }
  w.bytes(src.subarray(end));
  w.byte(0x0a);
  return decodeValidUtf8(w.buf.subarray(0, w.len));
}

function goNumber(n: number): string {
  if (!Number.isFinite(n)) {
    // Go's wording: strconv's "NaN", "+Inf", "-Inf".
    const text = Number.isNaN(n) ? "NaN" : n > 0 ? "+Inf" : "-Inf";
    throw new BadInputError(`json: unsupported value: ${text}`);
  }
  return Object.is(n, -0) ? "-0" : String(n);
}

/** RFC 3339 with up to nanosecond digits, trailing zeros removed (Go `time.RFC3339Nano`, UTC). */
function goTime(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new TypeError("marshalIndentGo: invalid Date");
  const [main, frac] = d.toISOString().slice(0, -1).split(".");
  const digits = (frac ?? "").replace(/0+$/, "");
  return main + (digits ? "." + digits : "") + "Z";
}

function marshalValue(v: unknown, depth: number, seen: Set<object>): string {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "string":
      return quoteJsonString(v);
    case "number":
      return goNumber(v);
    case "bigint":
      return v.toString();
    case "boolean":
      return v ? "true" : "false";
    case "object":
      break;
    default:
      throw new TypeError(`marshalIndentGo: unsupported value of type ${typeof v}`);
  }
  const obj = v as object;
  if (obj instanceof Uint8Array) return '"' + encodeStdBase64(obj) + '"';
  if (obj instanceof Date) return quoteJsonString(goTime(obj));
  if (seen.has(obj)) throw new TypeError("marshalIndentGo: cyclic value");
  seen.add(obj);
  const pad = "\n" + "  ".repeat(depth + 1);
  let out: string;
  if (Array.isArray(obj)) {
    if (obj.length === 0) out = "[]";
    else {
      out = "[" + obj.map((x) => pad + marshalValue(x, depth + 1, seen)).join(",") + "\n" +
        "  ".repeat(depth) + "]";
    }
  } else {
    const parts: string[] = [];
    // Go sorts map keys; objects keep their (struct-like) insertion order.
    const entries = obj instanceof Map
      ? [...obj.entries()].map(([k, x]) => [String(k), x] as [string, unknown])
        .sort((a, b) => compareGoStrings(a[0], b[0]))
      : Object.entries(obj);
    for (const [k, x] of entries) {
      if (x === undefined) continue;
      parts.push(pad + quoteJsonString(k) + ": " + marshalValue(x, depth + 1, seen));
    }
    out = parts.length === 0 ? "{}" : "{" + parts.join(",") + "\n" + "  ".repeat(depth) + "}";
  }
  seen.delete(obj);
  return out;
}

/**
 * Go's `json.MarshalIndent(v, "", "  ")` plus a trailing `"\n"`, for plain
 * values: objects keep insertion order (members whose value is `undefined`
 * are left out) and `Map` keys are sorted (Go maps), strings get Go's
 * escaping, numbers Go's float formatting, `Uint8Array` becomes base64,
 * `Date` RFC 3339 with nanoseconds (Go `time.Time` in UTC),
 * `null`/`undefined` become `null`, empty arrays and objects stay `[]`/`{}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { marshalIndentGo } from "./json_indent.ts";
 * assert.equal(marshalIndentGo({ digest: "sha256:1", layers: [], tags: ["a&b"] }),
 *   '{\n  "digest": "sha256:1",\n  "layers": [],\n  "tags": [\n    "a\\u0026b"\n  ]\n}\n');
 * ```
 */
export function marshalIndentGo(value: unknown): string {
  return marshalValue(value, 0, new Set()) + "\n";
}
