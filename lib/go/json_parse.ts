/**
 * The one JSON parser: bytes to a value tree with Go `encoding/json`'s
 * syntax rules and error texts (`invalid character 'x' after object
 * key:value pair`, `unexpected end of JSON input`, …). The tree keeps what
 * Go's decoder needs and `JSON.parse` loses: number text, member order and
 * duplicate members. Strings are unquoted as Go does (invalid UTF-8 and lone
 * surrogate escapes become U+FFFD). Nesting is handled with an explicit stack
 * and limited to Go's 10 000 levels, so hostile input cannot overflow the
 * call stack.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { strconvQuote } from "./quote.ts";
import { decodeValidUtf8, utf8SequenceLength } from "./utf8.ts";

/** A JSON number, kept as its source text (e.g. `-2.50e+3`). */
export class JsonNumber {
  /** A number whose source text is `text`. */
  constructor(readonly text: string) {}
}

/** A JSON object: its members in source order, duplicates kept. */
export class JsonObject {
  /** An object with these `[key, value]` members. */
  constructor(readonly members: Array<[string, JsonValue]>) {}
}

/** A parsed JSON value. Arrays are plain arrays; objects and numbers are classes. */
export type JsonValue = null | boolean | string | JsonNumber | JsonObject | JsonValue[];

/** Go's nesting limit (`encoding/json` `maxNestingDepth`). */
export const JSON_MAX_DEPTH = 10000;

/**
 * Malformed JSON. The message is `<what>: <Go's syntax error text>`;
 * `offset` is the byte index of the offending byte, or the input length when
 * the input ended too early.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonSyntaxError, parseJson } from "./json_parse.ts";
 * try {
 *   parseJson('{"a" 1}', "bad config");
 *   assert.fail("no error");
 * } catch (e) {
 *   assert.ok(e instanceof JsonSyntaxError);
 *   assert.equal(e.message, "bad config: invalid character '1' after object key");
 *   assert.equal(e.offset, 5);
 * }
 * ```
 */
export class JsonSyntaxError extends BadInputError {
  /** Byte index of the error (the input length for a premature end). */
  readonly offset: number;
  /** A syntax error at byte `offset`. */
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

const UTF8 = new TextEncoder();

/**
 * Go's `quoteChar`: how a byte is shown in a syntax error. Go quotes the
 * byte as the rune of the same value (so 0xff shows as 'ÿ').
 */
function describeChar(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return "'\"'";
  return "'" + strconvQuote(String.fromCharCode(c)).slice(1, -1) + "'";
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** A parser over one input; `pos` moves forward, errors throw {@link JsonSyntaxError}. */
class Parser {
  pos = 0;
  constructor(readonly b: Uint8Array, readonly what: string) {}

  fail(msg: string, at: number): never {
    throw new JsonSyntaxError(`${this.what}: ${msg}`, at);
  }

  invalid(at: number, context: string): never {
    return this.fail(`invalid character ${describeChar(this.b[at])} ${context}`, at);
  }

  eof(): never {
    return this.fail("unexpected end of JSON input", this.b.length);
  }

  /**
   * The input ended inside a token. Go's scanner then feeds it one space,
   * so its error names a ' ' in that token.
   */
  eofIn(context: string): never {
    return this.fail(`invalid character ' ' ${context}`, this.b.length);
  }

  ws(): void {
    const b = this.b;
    while (this.pos < b.length && isSpace(b[this.pos])) this.pos++;
  }

  /** Parses the whole input: one value, surrounded by optional whitespace. */
  document(): { value: JsonValue; start: number; end: number } {
    this.ws();
    const start = this.pos;
    const value = this.value();
    const end = this.pos;
    this.ws();
    if (this.pos < this.b.length) this.invalid(this.pos, "after top-level value");
    return { value, start, end };
  }

  /** Parses one value; containers use an explicit stack (no recursion). */
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
        if (stack.length >= JSON_MAX_DEPTH) this.invalid(this.pos, "exceeded max depth");
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
      else this.invalid(this.pos, "looking for beginning of value");
      // Attach v to its parents, closing the containers that end here.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) return v;
        this.ws();
        if (this.pos >= b.length) this.eof();
        const at = this.pos++;
        const d = b[at];
        if (top instanceof JsonObject) {
          top.members.push([keys.pop()!, v]);
          if (d === 0x2c) {
            keys.push(this.key());
            break;
          }
          if (d !== 0x7d) this.invalid(at, "after object key:value pair");
        } else {
          top.push(v);
          if (d === 0x2c) break;
          if (d !== 0x5d) this.invalid(at, "after array element");
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
    if (b[this.pos] !== 0x22) this.invalid(this.pos, "looking for beginning of object key string");
    const key = this.string();
    this.ws();
    if (this.pos >= b.length) this.eof();
    if (b[this.pos] !== 0x3a) this.invalid(this.pos, "after object key");
    this.pos++;
    return key;
  }

  literal<T>(word: string, value: T): T {
    const b = this.b;
    for (let i = 1; i < word.length; i++) {
      const p = this.pos + i;
      const context = `in literal ${word} (expecting '${word[i]}')`;
      if (p >= b.length) this.eofIn(context);
      if (b[p] !== word.charCodeAt(i)) this.invalid(p, context);
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
      if (p >= b.length) this.eofIn("in numeric literal");
      if (!digit(p)) this.invalid(p, "in numeric literal");
    }
    if (b[p] === 0x30) p++;
    else while (digit(p)) p++;
    if (p < b.length && b[p] === 0x2e) {
      p++;
      if (p >= b.length) this.eofIn("after decimal point in numeric literal");
      if (!digit(p)) this.invalid(p, "after decimal point in numeric literal");
      while (digit(p)) p++;
    }
    if (p < b.length && (b[p] === 0x65 || b[p] === 0x45)) {
      p++;
      if (p < b.length && (b[p] === 0x2b || b[p] === 0x2d)) p++;
      if (p >= b.length) this.eofIn("in exponent of numeric literal");
      if (!digit(p)) this.invalid(p, "in exponent of numeric literal");
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
      const d = hexDigit(b[p + i]);
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }

  /** The `\uXXXX` escape whose backslash is at `p`: its value, checking syntax. */
  unicodeEscape(p: number): number {
    const b = this.b;
    for (let i = 0; i < 4; i++) {
      const q = p + 2 + i;
      if (q >= b.length) this.eofIn("in \\u hexadecimal character escape");
      if (hexDigit(b[q]) < 0) this.invalid(q, "in \\u hexadecimal character escape");
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
        out += decodeValidUtf8(b.subarray(seg, p));
        this.pos = p + 1;
        return out;
      }
      if (c === 0x5c) {
        out += decodeValidUtf8(b.subarray(seg, p));
        if (p + 1 >= b.length) this.eofIn("in string escape code");
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
            this.invalid(p + 1, "in string escape code");
        }
        seg = p;
        continue;
      }
      if (c < 0x20) this.invalid(p, "in string literal");
      if (c < 0x80) {
        p++;
        continue;
      }
      const n = utf8SequenceLength(b, p);
      if (n === 0) {
        out += decodeValidUtf8(b.subarray(seg, p)) + "\ufffd";
        p++;
        seg = p;
      } else {
        p += n;
      }
    }
  }
}

/** The parsed value of a whole document, and where the value's text lies. */
export interface ParsedJson {
  /** The value tree. */
  value: JsonValue;
  /** Byte index of the value's first byte (leading whitespace skipped). */
  start: number;
  /** Byte index just past the value (trailing whitespace not included). */
  end: number;
}

/**
 * Parses a whole JSON document (one value, optional whitespace around it)
 * like Go's `json.Valid` + decoder. `what` starts every error message;
 * malformed input throws {@link JsonSyntaxError}, with the byte offset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonNumber, JsonObject, parseJsonSpan } from "./json_parse.ts";
 * const { value, start, end } = parseJsonSpan(new TextEncoder().encode(' {"n":1.50,"n":2} '));
 * assert.ok(value instanceof JsonObject);
 * assert.deepEqual(value.members.map(([k]) => k), ["n", "n"]); // duplicates kept
 * assert.ok(value.members[0][1] instanceof JsonNumber && value.members[0][1].text === "1.50");
 * assert.deepEqual([start, end], [1, 17]);
 * ```
 */
export function parseJsonSpan(bytes: Uint8Array, what = "invalid JSON"): ParsedJson {
  return new Parser(bytes, what).document();
}

/**
 * Parses a whole JSON document (bytes, or a string taken as its UTF-8
 * bytes) and returns its value tree; see {@link parseJsonSpan}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonSyntaxError, parseJson } from "./json_parse.ts";
 * assert.deepEqual(parseJson('[true,null,"\\u00e9"]'), [true, null, "é"]);
 * assert.throws(() => parseJson("[".repeat(100_000)), JsonSyntaxError); // max depth, no stack overflow
 * ```
 */
export function parseJson(input: Uint8Array | string, what = "invalid JSON"): JsonValue {
  const bytes = typeof input === "string" ? UTF8.encode(input) : input;
  return new Parser(bytes, what).document().value;
}
