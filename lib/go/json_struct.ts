/**
 * Go's `json.Unmarshal` into structs, maps and slices, over the value tree
 * of `json_parse.ts`, driven by field tables:
 *
 * - member names match fields case-insensitively (Go's folding, where `ſ`
 *   matches `s` and the Kelvin sign `k`); unknown members are ignored;
 * - members are applied in order, so a later duplicate wins; `null` leaves
 *   a string, number or struct as it was and sets a slice, map or pointer
 *   to nil; a struct or pointer met again merges into what is there; a map
 *   met again gets the new entries added;
 * - an array decoded into a slice reuses the slice's elements up to its
 *   length (so `null` elements keep the old value), the rest start from
 *   zero. (Go also reuses stale elements between a slice's length and
 *   capacity, which takes the same member three times, the middle one
 *   shorter; here they start from zero.)
 * - a value of the wrong type is a `BadInputError` naming the member path
 *   (`layers[0].size: expected an integer, got a string`), as is a number
 *   that does not fit (integers are limited to JavaScript's safe range).
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { decodeStdBase64 } from "./base64.ts";
import { JsonNumber, JsonObject, type JsonValue } from "./json_parse.ts";

/**
 * Go's field-name folding (`encoding/json` `foldName`) for ASCII field
 * names: ASCII letters upper-cased, `ſ` (U+017F) to `S`, the Kelvin sign
 * (U+212A) to `K`; every other character kept (no other one folds to ASCII).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { foldName } from "./json_struct.ts";
 * assert.equal(foldName("mediaType"), "MEDIATYPE");
 * assert.equal(foldName("\u017fize"), foldName("SIZE"));
 * assert.notEqual(foldName("\u0131d"), foldName("id")); // dotless i does not fold to i
 * ```
 */
export function foldName(key: string): string {
  let out = "";
  for (const ch of key) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x61 && c <= 0x7a) out += String.fromCharCode(c - 32);
    else if (c === 0x17f) out += "S";
    else if (c === 0x212a) out += "K";
    else out += ch;
  }
  return out;
}

/**
 * The kind of a JSON value for messages: `null`, `a boolean`, `a string`,
 * `a number`, `an object` or `an array`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeJsonKind } from "./json_struct.ts";
 * import { parseJson } from "./json_parse.ts";
 * assert.equal(describeJsonKind(parseJson("[1]")), "an array");
 * assert.equal(describeJsonKind(parseJson("2")), "a number");
 * ```
 */
export function describeJsonKind(v: JsonValue): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "string") return "a string";
  if (v instanceof JsonNumber) return "a number";
  if (v instanceof JsonObject) return "an object";
  return "an array";
}

/** Decodes one member's value into `target`; `path` names the member in errors. */
export type FieldReader<T> = (
  reader: JsonStructReader,
  target: T,
  value: JsonValue,
  path: string,
) => void;

/** A struct's fields by folded JSON name; build it with {@link structFields}. */
export type StructFields<T> = ReadonlyMap<string, FieldReader<T>>;

/**
 * A field table: JSON member names (as in Go's `json:"…"` tags) to the
 * readers that store them. Names are folded once here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonStructReader, structFields } from "./json_struct.ts";
 * import { parseJson } from "./json_parse.ts";
 * const FIELDS = structFields<{ name: string }>({
 *   name: (r, t, v, p) => t.name = r.string(v, p, t.name),
 * });
 * const t = { name: "" };
 * new JsonStructReader("bad thing").struct(parseJson('{"NAME":"a","Name":"b"}'), "", t, FIELDS);
 * assert.equal(t.name, "b");
 * ```
 */
export function structFields<T>(fields: Record<string, FieldReader<T>>): StructFields<T> {
  const m = new Map<string, FieldReader<T>>();
  for (const [name, reader] of Object.entries(fields)) m.set(foldName(name), reader);
  return m;
}

/** Options of a {@link JsonStructReader}. */
export interface JsonStructReaderOptions {
  /**
   * Leave map keys out of error paths (`auths[…].auth` instead of
   * `auths["host"].auth`), for documents whose keys may be private.
   */
  hideMapKeys?: boolean;
}

/**
 * Typed readers with Go's unmarshal rules. Each takes the JSON value, the
 * member path for messages and (where Go keeps it) the old value, and
 * returns the new value. Errors are `BadInputError`s `<what>: <path>: …`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BadInputError } from "../errors.ts";
 * import { JsonStructReader } from "./json_struct.ts";
 * import { parseJson } from "./json_parse.ts";
 * const r = new JsonStructReader("invalid thing");
 * assert.equal(r.int(parseJson("-0"), "n", 7), 0);
 * assert.equal(r.int(null, "n", 7), 7); // null keeps the old value
 * assert.deepEqual(r.stringSlice(parseJson('[null,"b"]'), "l", ["a"]), ["a", "b"]);
 * assert.throws(() => r.int(parseJson("1.5"), "n", 0), BadInputError);
 * ```
 */
export class JsonStructReader {
  /** A reader whose errors start with `what`. */
  constructor(readonly what: string, readonly options: JsonStructReaderOptions = {}) {}

  /** Throws `<what>: <path>: <message>` as a `BadInputError`. */
  fail(path: string, message: string): never {
    throw new BadInputError(`${this.what}: ${path}: ${message}`);
  }

  /** Throws `<what>: <path>: expected <want>, got <kind of got>`. */
  typeError(path: string, want: string, got: JsonValue): never {
    return this.fail(path, `expected ${want}, got ${describeJsonKind(got)}`);
  }

  /** A Go `string`: null keeps the old value. */
  string(v: JsonValue, path: string, old: string): string {
    if (v === null) return old;
    if (typeof v !== "string") this.typeError(path, "a string", v);
    return v;
  }

  /** A Go `int`/`int64` (safe integers only): null keeps the old value. */
  int(v: JsonValue, path: string, old: number): number {
    if (v === null) return old;
    if (!(v instanceof JsonNumber)) return this.typeError(path, "an integer", v);
    if (!/^-?\d+$/.test(v.text)) this.fail(path, `${v.text} is not an integer`);
    const n = Number(v.text);
    if (!Number.isSafeInteger(n)) this.fail(path, `${v.text} is out of range`);
    return n === 0 ? 0 : n;
  }

  /** A Go `uint8` (no sign allowed, as `strconv.ParseUint`): null keeps the old value. */
  uint8(v: JsonValue, path: string, old: number): number {
    if (v === null) return old;
    if (!(v instanceof JsonNumber)) return this.typeError(path, "an integer", v);
    if (!/^-?\d+$/.test(v.text)) this.fail(path, `${v.text} is not an integer`);
    const n = Number(v.text);
    if (v.text[0] === "-" || n > 255) this.fail(path, `${v.text} is out of range`);
    return n;
  }

  /**
   * A Go slice: null gives nil; an array reuses `old`'s elements up to its
   * length (`elem` gets the old element, or `undefined` to start from zero).
   */
  slice<T>(
    v: JsonValue,
    path: string,
    old: T[] | null,
    elem: (x: JsonValue, path: string, old: T | undefined) => T,
  ): T[] | null {
    if (v === null) return null;
    if (!Array.isArray(v)) return this.typeError(path, "an array", v);
    const out = new Array<T>(v.length);
    for (let i = 0; i < v.length; i++) {
      out[i] = elem(v[i], `${path}[${i}]`, old !== null && i < old.length ? old[i] : undefined);
    }
    return out;
  }

  /** A Go `[]string` (see {@link JsonStructReader.slice}). */
  stringSlice(v: JsonValue, path: string, old: string[] | null): string[] | null {
    return this.slice(v, path, old, (x, p, o) => this.string(x, p, o ?? ""));
  }

  /**
   * A Go `[]byte`: a base64 string (a new slice) or an array of bytes (a
   * slice, reusing `old`); null gives nil.
   */
  bytes(v: JsonValue, path: string, old: Uint8Array | null): Uint8Array | null {
    if (v === null) return null;
    if (typeof v === "string") {
      return decodeStdBase64(v) ?? this.fail(path, "illegal base64 data");
    }
    if (!Array.isArray(v)) return this.typeError(path, "a base64 string", v);
    const prev = old === null ? null : Array.from(old);
    return Uint8Array.from(this.slice(v, path, prev, (x, p, o) => this.uint8(x, p, o ?? 0))!);
  }

  /**
   * A Go `map[string]T`: null gives nil; an object adds its entries to
   * `old` (or a new map), each decoded by `elem` from a zero value.
   */
  map<T>(
    v: JsonValue,
    path: string,
    old: Map<string, T> | null,
    elem: (x: JsonValue, path: string) => T,
  ): Map<string, T> | null {
    if (v === null) return null;
    if (!(v instanceof JsonObject)) return this.typeError(path, "an object", v);
    const m = old ?? new Map<string, T>();
    for (const [k, x] of v.members) {
      m.set(k, elem(x, `${path}[${this.options.hideMapKeys ? "…" : JSON.stringify(k)}]`));
    }
    return m;
  }

  /** A Go `map[string]string` (see {@link JsonStructReader.map}). */
  stringMap(
    v: JsonValue,
    path: string,
    old: Map<string, string> | null,
  ): Map<string, string> | null {
    return this.map(v, path, old, (x, p) => this.string(x, p, ""));
  }

  /**
   * A Go struct: each member whose folded name is in `fields` is decoded
   * into `target`, in order; null leaves `target` as it is.
   */
  struct<T>(v: JsonValue, path: string, target: T, fields: StructFields<T>): void {
    if (v === null) return;
    if (!(v instanceof JsonObject)) return this.typeError(path, "an object", v);
    for (const [k, x] of v.members) {
      const f = fields.get(foldName(k));
      if (f) f(this, target, x, path ? `${path}.${k}` : k);
    }
  }

  /**
   * A Go `*T` struct pointer: null gives nil; an object merges into `old`
   * (or into `zero()` when nil).
   */
  pointer<T>(
    v: JsonValue,
    path: string,
    old: T | null,
    zero: () => T,
    fields: StructFields<T>,
  ): T | null {
    if (v === null) return null;
    const t = old ?? zero();
    this.struct(v, path, t, fields);
    return t;
  }
}
