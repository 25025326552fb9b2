/**
 * Byte-exact Go `encoding/json` for the OCI structs (`soci-format.md` §7.1):
 * encoders that emit exactly what Go's `json.Marshal` writes for
 * `ocispec.Manifest`, `ocispec.Index`, `ocispec.Descriptor` and
 * `ocispec.Platform`, decoders that behave like Go's `json.Unmarshal` into
 * those structs (unknown members dropped, member names matched
 * case-insensitively, invalid UTF-8 replaced), and Go's `json.Indent` /
 * `json.MarshalIndent` for human and `--json` output.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Descriptor, ImageIndex, ImageManifest, Platform } from "./descriptor.ts";

// ---------------------------------------------------------------------------
// UTF-8 helpers (Go's utf8.DecodeRune rules)

const UTF8 = new TextEncoder();
/** Decoder for byte runs already known to be valid UTF-8 (keeps a BOM). */
const UTF8_DECODER = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Length of the valid UTF-8 sequence starting at `b[i]` (a byte >= 0x80),
 * or 0 when Go's `utf8.DecodeRune` would report `(RuneError, 1)`.
 */
function utf8SeqLen(b: Uint8Array, i: number): number {
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
 * Raw bytes as a string the way Go converts them to runes: every byte that
 * is not part of a valid UTF-8 sequence becomes U+FFFD.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { goString } from "./go_json.ts";
 * assert.ok(goString(new Uint8Array([0x61, 0xff, 0x62])) === "a\ufffdb");
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
    const len = utf8SeqLen(b, i);
    if (len > 0) {
      i += len;
      continue;
    }
    out += UTF8_DECODER.decode(b.subarray(seg, i)) + "\ufffd";
    seg = ++i;
  }
  return out + UTF8_DECODER.decode(b.subarray(seg));
}

// ---------------------------------------------------------------------------
// String escaping

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
 * `\u2028`/`\u2029`. Given raw bytes, each byte that is not part of a valid
 * UTF-8 sequence becomes `\ufffd`; given a JS string, a lone surrogate becomes
 * a literal U+FFFD (what Go sees after decoding it). Everything else is kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { goQuote } from "./go_json.ts";
 * assert.ok(goQuote("a<b>&\n") === '"a\\u003cb\\u003e\\u0026\\n"');
 * assert.ok(goQuote(new Uint8Array([0x61, 0xff])) === '"a\\ufffd"');
 * ```
 */
export function goQuote(s: string | Uint8Array): string {
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
      size = utf8SeqLen(b, i);
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
    out += UTF8_DECODER.decode(b.subarray(start, i)) + rep;
    i += size;
    start = i;
  }
  return out + UTF8_DECODER.decode(b.subarray(start)) + '"';
}

// ---------------------------------------------------------------------------
// base64 ([]byte members), Go's base64.StdEncoding rules

function base64Encode(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Decodes like Go's `base64.StdEncoding.Decode` (padding required, CR/LF ignored). */
function base64Decode(text: string, path: string, what: string): Uint8Array {
  const s = text.replace(/[\r\n]/g, "");
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) {
    throw new BadInputError(`${what}: ${path}: illegal base64 data`);
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Canonical base64 of a base64 text (what a Go decode + encode yields); "" when empty. */
function canonicalData(text: string, path: string, what: string): string {
  return base64Encode(base64Decode(text, path, what));
}

// ---------------------------------------------------------------------------
// Encoding

/**
 * Marks an empty array decoded from a missing or `null` member: Go keeps a
 * nil slice there and re-encodes it as `null` (`layers`, `manifests`).
 */
const GO_NIL: unique symbol = Symbol("goNil");

function markNil<T>(arr: T[]): T[] {
  Object.defineProperty(arr, GO_NIL, { value: true, enumerable: false });
  return arr;
}

function isGoNil(arr: unknown[] | null | undefined): boolean {
  return arr == null || (arr.length === 0 && (arr as { [GO_NIL]?: boolean })[GO_NIL] === true);
}

const HAS_SURROGATE = /[\ud800-\udfff]/;

/** Orders strings by their UTF-8 bytes (Go's `strings.Compare`). */
function compareUtf8(a: string, b: string): number {
  if (!HAS_SURROGATE.test(a) && !HAS_SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const x = UTF8.encode(a);
  const y = UTF8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

function encInt(n: number, name: string): string {
  if (typeof n !== "number" || !Number.isSafeInteger(n)) {
    throw new BadInputError(`cannot encode ${name}: ${String(n)} is not an integer`);
  }
  return String(n);
}

function encStringMap(m: Record<string, string>): string {
  const keys = Object.keys(m).sort(compareUtf8);
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) out += ",";
    out += goQuote(keys[i]) + ":" + goQuote(m[keys[i]] ?? "");
  }
  return out + "}";
}

function hasEntries(m: Record<string, string> | undefined | null): m is Record<string, string> {
  return m != null && Object.keys(m).length > 0;
}

function encStrings(list: string[]): string {
  return "[" + list.map((s) => goQuote(s ?? "")).join(",") + "]";
}

/**
 * Go's `json.Marshal` of an `ocispec.Platform`: `architecture`, `os`, then
 * `os.version`, `os.features`, `variant` when not empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePlatform } from "./go_json.ts";
 * assert.ok(encodePlatform({ os: "linux", architecture: "arm64", variant: "v8" }) ===
 *   '{"architecture":"arm64","os":"linux","variant":"v8"}');
 * ```
 */
export function encodePlatform(p: Platform): string {
  let out = '{"architecture":' + goQuote(p.architecture ?? "") + ',"os":' + goQuote(p.os ?? "");
  if (p["os.version"]) out += ',"os.version":' + goQuote(p["os.version"]);
  if (p["os.features"]?.length) out += ',"os.features":' + encStrings(p["os.features"]);
  if (p.variant) out += ',"variant":' + goQuote(p.variant);
  return out + "}";
}

/**
 * Go's `json.Marshal` of an `ocispec.Descriptor`: `mediaType`, `digest`,
 * `size`, then `urls`, `annotations` (keys sorted by UTF-8 bytes), `data`,
 * `platform`, `artifactType` when not empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeDescriptor } from "./go_json.ts";
 * const text = encodeDescriptor({
 *   mediaType: "application/octet-stream",
 *   digest: "sha256:" + "a".repeat(64),
 *   size: 12,
 *   annotations: { b: "2", a: "1" },
 * });
 * assert.ok(text === '{"mediaType":"application/octet-stream","digest":"sha256:' +
 *   "a".repeat(64) + '","size":12,"annotations":{"a":"1","b":"2"}}');
 * ```
 */
export function encodeDescriptor(d: Descriptor): string {
  let out = '{"mediaType":' + goQuote(d.mediaType ?? "") + ',"digest":' + goQuote(d.digest ?? "") +
    ',"size":' + encInt(d.size ?? 0, "descriptor size");
  if (d.urls?.length) out += ',"urls":' + encStrings(d.urls);
  if (hasEntries(d.annotations)) out += ',"annotations":' + encStringMap(d.annotations);
  if (d.data) {
    const data = canonicalData(d.data, "data", "cannot encode descriptor");
    if (data) out += ',"data":"' + data + '"';
  }
  if (d.platform) out += ',"platform":' + encodePlatform(d.platform);
  if (d.artifactType) out += ',"artifactType":' + goQuote(d.artifactType);
  return out + "}";
}

function encDescriptorList(list: Descriptor[] | null | undefined): string {
  if (isGoNil(list)) return "null";
  return "[" + list!.map(encodeDescriptor).join(",") + "]";
}

/**
 * Go's `json.Marshal` of an `ocispec.Manifest`, as UTF-8 bytes with no
 * trailing newline: `schemaVersion`, `mediaType`, `artifactType`, `config`,
 * `layers`, `subject`, `annotations` (empty optional members omitted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeManifest } from "./go_json.ts";
 * const bytes = encodeManifest({
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config: { mediaType: "application/vnd.amazon.soci.index.v1+json",
 *     digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 },
 *   layers: [],
 *   annotations: { "com.amazon.soci.build-tool-identifier": "AWS SOCI CLI v0.2" },
 * });
 * const text = new TextDecoder().decode(bytes);
 * assert.ok(text.startsWith('{"schemaVersion":2,"mediaType":'));
 * assert.ok(text.endsWith('"layers":[],"annotations":' +
 *   '{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"}}'));
 * ```
 */
export function encodeManifest(m: ImageManifest): Uint8Array {
  let out = '{"schemaVersion":' + encInt(m.schemaVersion ?? 0, "schemaVersion");
  if (m.mediaType) out += ',"mediaType":' + goQuote(m.mediaType);
  if (m.artifactType) out += ',"artifactType":' + goQuote(m.artifactType);
  out += ',"config":' + encodeDescriptor(m.config ?? { mediaType: "", digest: "", size: 0 });
  out += ',"layers":' + encDescriptorList(m.layers);
  if (m.subject) out += ',"subject":' + encodeDescriptor(m.subject);
  if (hasEntries(m.annotations)) out += ',"annotations":' + encStringMap(m.annotations);
  return UTF8.encode(out + "}");
}

/**
 * Go's `json.Marshal` of an `ocispec.Index`, as UTF-8 bytes with no trailing
 * newline: `schemaVersion`, `mediaType`, `artifactType`, `manifests`,
 * `subject`, `annotations`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeIndex } from "./go_json.ts";
 * const bytes = encodeIndex({
 *   schemaVersion: 2,
 *   mediaType: "application/vnd.oci.image.index.v1+json",
 *   manifests: [],
 * });
 * assert.ok(new TextDecoder().decode(bytes) ===
 *   '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
 * ```
 */
export function encodeIndex(i: ImageIndex): Uint8Array {
  let out = '{"schemaVersion":' + encInt(i.schemaVersion ?? 0, "schemaVersion");
  if (i.mediaType) out += ',"mediaType":' + goQuote(i.mediaType);
  if (i.artifactType) out += ',"artifactType":' + goQuote(i.artifactType);
  out += ',"manifests":' + encDescriptorList(i.manifests);
  if (i.subject) out += ',"subject":' + encodeDescriptor(i.subject);
  if (hasEntries(i.annotations)) out += ',"annotations":' + encStringMap(i.annotations);
  return UTF8.encode(out + "}");
}

// ---------------------------------------------------------------------------
// JSON parsing with Go's rules (syntax errors, string unquoting)

/** A JSON number, kept as its source text. */
class JsonNumber {
  constructor(readonly text: string) {}
}
/** A JSON object, members in source order (duplicates kept). */
class JsonObject {
  constructor(readonly members: Array<[string, JsonValue]>) {}
}
type JsonValue = null | boolean | string | JsonNumber | JsonObject | JsonValue[];

const MAX_DEPTH = 10000;

function describeChar(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return "'\"'";
  if (c >= 0x20 && c < 0x7f) return "'" + String.fromCharCode(c) + "'";
  if (c === 0x0a) return "'\\n'";
  if (c === 0x0d) return "'\\r'";
  if (c === 0x09) return "'\\t'";
  return "'\\x" + HEX[c >> 4] + HEX[c & 15] + "'";
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Recursive-descent JSON parser over bytes that reports Go's syntax error texts. */
class Parser {
  pos = 0;
  constructor(readonly b: Uint8Array, readonly what: string) {}

  fail(msg: string): never {
    throw new BadInputError(`${this.what}: ${msg}`);
  }

  eof(): never {
    return this.fail("unexpected end of JSON input");
  }

  ws(): void {
    const b = this.b;
    while (this.pos < b.length && isSpace(b[this.pos])) this.pos++;
  }

  /** Parses one top-level value; returns it and the offset right after it. */
  top(): { value: JsonValue; end: number } {
    this.ws();
    const value = this.value();
    const end = this.pos;
    this.ws();
    if (this.pos < this.b.length) {
      this.fail(`invalid character ${describeChar(this.b[this.pos])} after top-level value`);
    }
    return { value, end };
  }

  /**
   * Parses one value. Containers are parsed with an explicit stack (no
   * recursion), nesting limited like Go's decoder.
   */
  value(): JsonValue {
    const b = this.b;
    const stack: Array<JsonObject | JsonValue[]> = [];
    const keys: string[] = [];
    for (;;) {
      this.ws();
      if (this.pos >= b.length) this.eof();
      const c = b[this.pos];
      let v: JsonValue;
      if (c === 0x7b || c === 0x5b) {
        if (stack.length >= MAX_DEPTH) this.fail("exceeded max depth");
        this.pos++;
        this.ws();
        if (this.pos >= b.length) this.eof();
        if (c === 0x7b) {
          if (b[this.pos] === 0x7d) {
            this.pos++;
            v = new JsonObject([]);
          } else {
            stack.push(new JsonObject([]));
            keys.push(this.key());
            continue;
          }
        } else if (b[this.pos] === 0x5d) {
          this.pos++;
          v = [];
        } else {
          stack.push([]);
          continue;
        }
      } else if (c === 0x22) v = this.string();
      else if (c === 0x74) v = this.literal("true", true);
      else if (c === 0x66) v = this.literal("false", false);
      else if (c === 0x6e) v = this.literal("null", null);
      else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) v = this.number();
      else this.fail(`invalid character ${describeChar(c)} looking for beginning of value`);
      // Attach v to its parents, closing the containers that end here.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) return v;
        this.ws();
        if (this.pos >= b.length) this.eof();
        const d = b[this.pos++];
        if (top instanceof JsonObject) {
          top.members.push([keys.pop()!, v]);
          if (d === 0x2c) {
            keys.push(this.key());
            break;
          }
          if (d !== 0x7d) {
            this.fail(`invalid character ${describeChar(d)} after object key:value pair`);
          }
        } else {
          top.push(v);
          if (d === 0x2c) break;
          if (d !== 0x5d) this.fail(`invalid character ${describeChar(d)} after array element`);
        }
        v = stack.pop()!;
      }
    }
  }

  /** An object key and the colon after it. */
  key(): string {
    const b = this.b;
    this.ws();
    if (this.pos >= b.length) this.eof();
    if (b[this.pos] !== 0x22) {
      this.fail(
        `invalid character ${describeChar(b[this.pos])} looking for beginning of object key string`,
      );
    }
    const key = this.string();
    this.ws();
    if (this.pos >= b.length) this.eof();
    if (b[this.pos] !== 0x3a) {
      this.fail(`invalid character ${describeChar(b[this.pos])} after object key`);
    }
    this.pos++;
    return key;
  }

  literal<T>(word: string, value: T): T {
    const b = this.b;
    for (let i = 1; i < word.length; i++) {
      const p = this.pos + i;
      if (p >= b.length) this.eof();
      if (b[p] !== word.charCodeAt(i)) {
        this.fail(
          `invalid character ${describeChar(b[p])} in literal ${word} (expecting '${word[i]}')`,
        );
      }
    }
    this.pos += word.length;
    return value;
  }

  number(): JsonNumber {
    const b = this.b;
    const start = this.pos;
    const digit = (p: number) => p < b.length && b[p] >= 0x30 && b[p] <= 0x39;
    let p = this.pos;
    if (b[p] === 0x2d) {
      p++;
      if (p >= b.length) this.eof();
      if (!digit(p)) this.fail(`invalid character ${describeChar(b[p])} in numeric literal`);
    }
    if (b[p] === 0x30) p++;
    else while (digit(p)) p++;
    if (p < b.length && b[p] === 0x2e) {
      p++;
      if (p >= b.length) this.eof();
      if (!digit(p)) {
        this.fail(`invalid character ${describeChar(b[p])} after decimal point in numeric literal`);
      }
      while (digit(p)) p++;
    }
    if (p < b.length && (b[p] === 0x65 || b[p] === 0x45)) {
      p++;
      if (p < b.length && (b[p] === 0x2b || b[p] === 0x2d)) p++;
      if (p >= b.length) this.eof();
      if (!digit(p)) {
        this.fail(`invalid character ${describeChar(b[p])} in exponent of numeric literal`);
      }
      while (digit(p)) p++;
    }
    this.pos = p;
    let text = "";
    for (let i = start; i < p; i++) text += String.fromCharCode(b[i]);
    return new JsonNumber(text);
  }

  /** Four hex digits at `p` as a number, or -1 (no error). */
  hex4(p: number): number {
    const b = this.b;
    if (p + 4 > b.length) return -1;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = b[p + i];
      let d: number;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
      else return -1;
      v = v * 16 + d;
    }
    return v;
  }

  /** A `\uXXXX` escape at `p` (pos of the backslash): its value, checking syntax. */
  unicodeEscape(p: number): number {
    const b = this.b;
    for (let i = 0; i < 4; i++) {
      const q = p + 2 + i;
      if (q >= b.length) this.eof();
      const c = b[q];
      const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
      if (!ok) {
        this.fail(`invalid character ${describeChar(c)} in \\u hexadecimal character escape`);
      }
    }
    return this.hex4(p + 2);
  }

  string(): string {
    const b = this.b;
    let p = this.pos + 1;
    let seg = p;
    let out = "";
    for (;;) {
      if (p >= b.length) this.eof();
      const c = b[p];
      if (c === 0x22) {
        out += UTF8_DECODER.decode(b.subarray(seg, p));
        this.pos = p + 1;
        return out;
      }
      if (c === 0x5c) {
        out += UTF8_DECODER.decode(b.subarray(seg, p));
        if (p + 1 >= b.length) this.eof();
        const e = b[p + 1];
        switch (e) {
          case 0x22:
          case 0x5c:
          case 0x2f:
            out += String.fromCharCode(e);
            p += 2;
            break;
          case 0x62:
            out += "\b";
            p += 2;
            break;
          case 0x66:
            out += "\f";
            p += 2;
            break;
          case 0x6e:
            out += "\n";
            p += 2;
            break;
          case 0x72:
            out += "\r";
            p += 2;
            break;
          case 0x74:
            out += "\t";
            p += 2;
            break;
          case 0x75: {
            const r = this.unicodeEscape(p);
            p += 6;
            if (r >= 0xd800 && r <= 0xdfff) {
              // Go: a valid high+low pair is one rune; anything else is U+FFFD.
              const r2 = b[p] === 0x5c && b[p + 1] === 0x75 ? this.hex4(p + 2) : -1;
              if (r <= 0xdbff && r2 >= 0xdc00 && r2 <= 0xdfff) {
                out += String.fromCharCode(r, r2);
                p += 6;
              } else {
                out += "\ufffd";
              }
            } else {
              out += String.fromCharCode(r);
            }
            break;
          }
          default:
            this.fail(`invalid character ${describeChar(e)} in string escape code`);
        }
        seg = p;
        continue;
      }
      if (c < 0x20) this.fail(`invalid character ${describeChar(c)} in string literal`);
      if (c < 0x80) {
        p++;
        continue;
      }
      const n = utf8SeqLen(b, p);
      if (n === 0) {
        out += UTF8_DECODER.decode(b.subarray(seg, p)) + "\ufffd";
        p++;
        seg = p;
      } else {
        p += n;
      }
    }
  }
}

function toBytes(input: Uint8Array | string): Uint8Array {
  return typeof input === "string" ? UTF8.encode(input) : input;
}

// ---------------------------------------------------------------------------
// Decoding into the Go structs

/** The Go field name folding used for case-insensitive member matching. */
function foldName(key: string): string {
  let out = "";
  for (const ch of key) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x61 && c <= 0x7a) out += String.fromCharCode(c - 32);
    else if (c === 0x17f) out += "S"; // LATIN SMALL LETTER LONG S folds with s
    else if (c === 0x212a) out += "K"; // KELVIN SIGN folds with k
    else out += ch;
  }
  return out;
}

function kindOf(v: JsonValue): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "string") return "a string";
  if (v instanceof JsonNumber) return "a number";
  if (v instanceof JsonObject) return "an object";
  return "an array";
}

class Decoder {
  constructor(readonly what: string) {}

  typeError(path: string, want: string, got: JsonValue): never {
    throw new BadInputError(`${this.what}: ${path}: expected ${want}, got ${kindOf(got)}`);
  }

  /** A Go `string` member: null keeps the old value. */
  str(v: JsonValue, path: string, old: string): string {
    if (v === null) return old;
    if (typeof v !== "string") this.typeError(path, "a string", v);
    return v;
  }

  /** A Go `int`/`int64` member: null keeps the old value. */
  int(v: JsonValue, path: string, old: number): number {
    if (v === null) return old;
    if (!(v instanceof JsonNumber)) return this.typeError(path, "an integer", v);
    if (!/^-?\d+$/.test(v.text)) {
      throw new BadInputError(`${this.what}: ${path}: ${v.text} is not an integer`);
    }
    const n = Number(v.text);
    if (!Number.isSafeInteger(n)) {
      throw new BadInputError(`${this.what}: ${path}: ${v.text} is out of range`);
    }
    return n === 0 ? 0 : n;
  }

  /** A Go `[]string` member: null gives nil. */
  strings(v: JsonValue, path: string): string[] | null {
    if (v === null) return null;
    if (!Array.isArray(v)) return this.typeError(path, "an array", v);
    return v.map((x, i) => this.str(x, `${path}[${i}]`, ""));
  }

  /** A Go `map[string]string` member: null gives nil, an object merges into `old`. */
  stringMap(
    v: JsonValue,
    path: string,
    old: Map<string, string> | null,
  ): Map<string, string> | null {
    if (v === null) return null;
    if (!(v instanceof JsonObject)) return this.typeError(path, "an object", v);
    const m = old ?? new Map<string, string>();
    for (const [k, x] of v.members) m.set(k, this.str(x, `${path}[${JSON.stringify(k)}]`, ""));
    return m;
  }

  /** A Go `[]byte` member: a base64 string (or an array of bytes); null gives nil. */
  bytes(v: JsonValue, path: string): Uint8Array | null {
    if (v === null) return null;
    if (typeof v === "string") return base64Decode(v, path, this.what);
    if (Array.isArray(v)) {
      return Uint8Array.from(v, (x, i) => {
        const n = this.int(x, `${path}[${i}]`, 0);
        if (n < 0 || n > 255) {
          throw new BadInputError(`${this.what}: ${path}[${i}]: ${n} is out of range`);
        }
        return n;
      });
    }
    return this.typeError(path, "a base64 string", v);
  }

  /** Decodes a JSON object into a Go struct, field by folded member name. */
  struct(
    v: JsonValue,
    path: string,
    fields: Record<string, (x: JsonValue, p: string) => void>,
  ): void {
    if (!(v instanceof JsonObject)) return this.typeError(path, "an object", v);
    for (const [k, x] of v.members) {
      const f = fields[foldName(k)];
      if (f) f(x, path ? `${path}.${k}` : k);
    }
  }

  platform(v: JsonValue, path: string, old: GoPlatform | null): GoPlatform | null {
    if (v === null) return null;
    const p = old ?? {
      architecture: "",
      os: "",
      osVersion: "",
      osFeatures: null,
      variant: "",
    };
    this.struct(v, path, {
      ARCHITECTURE: (x, q) => p.architecture = this.str(x, q, p.architecture),
      OS: (x, q) => p.os = this.str(x, q, p.os),
      "OS.VERSION": (x, q) => p.osVersion = this.str(x, q, p.osVersion),
      "OS.FEATURES": (x, q) => p.osFeatures = this.strings(x, q),
      VARIANT: (x, q) => p.variant = this.str(x, q, p.variant),
    });
    return p;
  }

  /** Decodes into `d` (a Go struct value: null leaves it unchanged). */
  descriptorInto(v: JsonValue, path: string, d: GoDescriptor): void {
    if (v === null) return;
    this.struct(v, path, {
      MEDIATYPE: (x, q) => d.mediaType = this.str(x, q, d.mediaType),
      DIGEST: (x, q) => d.digest = this.str(x, q, d.digest),
      SIZE: (x, q) => d.size = this.int(x, q, d.size),
      URLS: (x, q) => d.urls = this.strings(x, q),
      ANNOTATIONS: (x, q) => d.annotations = this.stringMap(x, q, d.annotations),
      DATA: (x, q) => d.data = this.bytes(x, q),
      PLATFORM: (x, q) => d.platform = this.platform(x, q, d.platform),
      ARTIFACTTYPE: (x, q) => d.artifactType = this.str(x, q, d.artifactType),
    });
  }

  /** A Go `*Descriptor` member: null gives nil, an object merges into `old`. */
  descriptorPtr(v: JsonValue, path: string, old: GoDescriptor | null): GoDescriptor | null {
    if (v === null) return null;
    const d = old ?? zeroDescriptor();
    this.descriptorInto(v, path, d);
    return d;
  }

  /** A Go `[]Descriptor` member: null gives nil. */
  descriptors(v: JsonValue, path: string): GoDescriptor[] | null {
    if (v === null) return null;
    if (!Array.isArray(v)) return this.typeError(path, "an array", v);
    return v.map((x, i) => {
      const d = zeroDescriptor();
      this.descriptorInto(x, `${path}[${i}]`, d);
      return d;
    });
  }
}

interface GoPlatform {
  architecture: string;
  os: string;
  osVersion: string;
  osFeatures: string[] | null;
  variant: string;
}

interface GoDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls: string[] | null;
  annotations: Map<string, string> | null;
  data: Uint8Array | null;
  platform: GoPlatform | null;
  artifactType: string;
}

function zeroDescriptor(): GoDescriptor {
  return {
    mediaType: "",
    digest: "",
    size: 0,
    urls: null,
    annotations: null,
    data: null,
    platform: null,
    artifactType: "",
  };
}

function mapToRecord(m: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of m) {
    Object.defineProperty(out, k, {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function platformOut(p: GoPlatform): Platform {
  const out: Platform = { architecture: p.architecture, os: p.os };
  if (p.osVersion) out["os.version"] = p.osVersion;
  if (p.osFeatures?.length) out["os.features"] = p.osFeatures;
  if (p.variant) out.variant = p.variant;
  return out;
}

function descriptorOut(d: GoDescriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls?.length) out.urls = d.urls;
  if (d.annotations?.size) out.annotations = mapToRecord(d.annotations);
  if (d.data?.length) out.data = base64Encode(d.data);
  if (d.platform) out.platform = platformOut(d.platform);
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

function descriptorsOut(list: GoDescriptor[] | null): Descriptor[] {
  return list === null ? markNil([]) : list.map(descriptorOut);
}

function topObject(bytes: Uint8Array | string, what: string): JsonObject {
  const { value } = new Parser(toBytes(bytes), what).top();
  if (!(value instanceof JsonObject)) {
    throw new BadInputError(`${what}: expected a JSON object, got ${kindOf(value)}`);
  }
  return value;
}

/**
 * Decodes an image manifest the way Go's `json.Unmarshal` fills an
 * `ocispec.Manifest`: only the known members are kept (matched
 * case-insensitively, later duplicates win; objects merge), invalid UTF-8
 * and lone surrogate escapes become U+FFFD, `data` is canonical base64.
 * Empty optional members are left out of the result. A missing or `null`
 * `layers` decodes to an empty array that re-encodes as `null`, as in Go.
 * Malformed JSON or a member of the wrong type is a `BadInputError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeManifest, encodeManifest } from "./go_json.ts";
 * const m = decodeManifest(new TextEncoder().encode(
 *   '{"SchemaVersion":2,"config":{"mediaType":"a","digest":"d","size":1},"layers":[],"x":1}',
 * ));
 * assert.ok(m.schemaVersion === 2 && m.config.size === 1);
 * assert.ok(new TextDecoder().decode(encodeManifest(m)) ===
 *   '{"schemaVersion":2,"config":{"mediaType":"a","digest":"d","size":1},"layers":[]}');
 * ```
 */
export function decodeManifest(bytes: Uint8Array | string): ImageManifest {
  const what = "invalid image manifest";
  const dec = new Decoder(what);
  let schemaVersion = 0;
  let mediaType = "";
  let artifactType = "";
  const config = zeroDescriptor();
  let layers: GoDescriptor[] | null = null;
  let subject: GoDescriptor | null = null;
  let annotations: Map<string, string> | null = null;
  dec.struct(topObject(bytes, what), "", {
    SCHEMAVERSION: (x, q) => schemaVersion = dec.int(x, q, schemaVersion),
    MEDIATYPE: (x, q) => mediaType = dec.str(x, q, mediaType),
    ARTIFACTTYPE: (x, q) => artifactType = dec.str(x, q, artifactType),
    CONFIG: (x, q) => dec.descriptorInto(x, q, config),
    LAYERS: (x, q) => layers = dec.descriptors(x, q),
    SUBJECT: (x, q) => subject = dec.descriptorPtr(x, q, subject),
    ANNOTATIONS: (x, q) => annotations = dec.stringMap(x, q, annotations),
  });
  // Built in Go member order.
  const out = { schemaVersion } as ImageManifest;
  if (mediaType) out.mediaType = mediaType;
  if (artifactType) out.artifactType = artifactType;
  out.config = descriptorOut(config);
  out.layers = descriptorsOut(layers);
  const subj = subject as GoDescriptor | null;
  if (subj) out.subject = descriptorOut(subj);
  const ann = annotations as Map<string, string> | null;
  if (ann?.size) out.annotations = mapToRecord(ann);
  return out;
}

/**
 * Decodes an image index (or Docker manifest list) the way Go's
 * `json.Unmarshal` fills an `ocispec.Index` (same rules as
 * {@link decodeManifest}; a missing `manifests` re-encodes as `null`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeIndex } from "./go_json.ts";
 * const i = decodeIndex(new TextEncoder().encode(
 *   '{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":3,' +
 *   '"platform":{"os":"linux","architecture":"amd64","features":["x"]}}]}',
 * ));
 * assert.ok(i.manifests[0].platform?.architecture === "amd64");
 * ```
 */
export function decodeIndex(bytes: Uint8Array | string): ImageIndex {
  const what = "invalid image index";
  const dec = new Decoder(what);
  let schemaVersion = 0;
  let mediaType = "";
  let artifactType = "";
  let manifests: GoDescriptor[] | null = null;
  let subject: GoDescriptor | null = null;
  let annotations: Map<string, string> | null = null;
  dec.struct(topObject(bytes, what), "", {
    SCHEMAVERSION: (x, q) => schemaVersion = dec.int(x, q, schemaVersion),
    MEDIATYPE: (x, q) => mediaType = dec.str(x, q, mediaType),
    ARTIFACTTYPE: (x, q) => artifactType = dec.str(x, q, artifactType),
    MANIFESTS: (x, q) => manifests = dec.descriptors(x, q),
    SUBJECT: (x, q) => subject = dec.descriptorPtr(x, q, subject),
    ANNOTATIONS: (x, q) => annotations = dec.stringMap(x, q, annotations),
  });
  const out = { schemaVersion } as ImageIndex;
  if (mediaType) out.mediaType = mediaType;
  if (artifactType) out.artifactType = artifactType;
  out.manifests = descriptorsOut(manifests);
  const subj = subject as GoDescriptor | null;
  if (subj) out.subject = descriptorOut(subj);
  const ann = annotations as Map<string, string> | null;
  if (ann?.size) out.annotations = mapToRecord(ann);
  return out;
}

/**
 * Decodes one descriptor the way Go's `json.Unmarshal` fills an
 * `ocispec.Descriptor` (rules of {@link decodeManifest}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeDescriptor } from "./go_json.ts";
 * const d = decodeDescriptor('{"MEDIATYPE":"x","digest":"sha256:1","size":5,"data":""}');
 * assert.ok(d.mediaType === "x" && d.size === 5 && d.data === undefined);
 * ```
 */
export function decodeDescriptor(bytes: Uint8Array | string): Descriptor {
  const what = "invalid descriptor";
  const d = zeroDescriptor();
  new Decoder(what).descriptorInto(topObject(bytes, what), "", d);
  return descriptorOut(d);
}

// ---------------------------------------------------------------------------
// Indentation

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
 * import { indentGoJson } from "./go_json.ts";
 * const text = indentGoJson(new TextEncoder().encode('{"a":[1,2],"b":{},"c":"\\u003c"}'));
 * assert.ok(text === '{\n  "a": [\n    1,\n    2\n  ],\n  "b": {},\n  "c": "\\u003c"\n}\n');
 * ```
 */
export function indentGoJson(bytes: Uint8Array | string): string {
  const src = toBytes(bytes);
  const parser = new Parser(src, "invalid JSON");
  parser.ws();
  const begin = parser.pos;
  const { end } = parser.top();
  const w = new ByteWriter(src.length + (src.length >> 1) + 2);
  let depth = 0;
  let needIndent = false;
  let i = begin;
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
  return UTF8_DECODER.decode(w.buf.subarray(0, w.len));
}

// ---------------------------------------------------------------------------
// MarshalIndent for plain values

function goNumber(n: number): string {
  if (!Number.isFinite(n)) {
    throw new BadInputError(`json: unsupported value: ${n}`);
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
      return goQuote(v);
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
  if (obj instanceof Uint8Array) return '"' + base64Encode(obj) + '"';
  if (obj instanceof Date) return goQuote(goTime(obj));
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
        .sort((a, b) => compareUtf8(a[0], b[0]))
      : Object.entries(obj);
    for (const [k, x] of entries) {
      if (x === undefined) continue;
      parts.push(pad + goQuote(k) + ": " + marshalValue(x, depth + 1, seen));
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
 * import { marshalIndentGo } from "./go_json.ts";
 * assert.ok(marshalIndentGo({ digest: "sha256:1", layers: [], tags: ["a&b"] }) ===
 *   '{\n  "digest": "sha256:1",\n  "layers": [],\n  "tags": [\n    "a\\u0026b"\n  ]\n}\n');
 * ```
 */
export function marshalIndentGo(value: unknown): string {
  return marshalValue(value, 0, new Set()) + "\n";
}
