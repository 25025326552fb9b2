/**
 * The read side of the zTOC flatbuffer (`soci-format.md` §3.5): bounds-checked
 * accessors, and the readers of its parts (root fields, the TOC vector, one
 * TOC entry, the compression info) that both the whole-zTOC decoder
 * (`decodeZtoc`) and the lazy view (`ZtocView`) use, so that both read every
 * field the same way.
 *
 * @module
 */
import { BadInputError, errorMessage } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import type { CompressionAlgorithm, FileMetadata, ZtocHeader } from "./model.ts";

const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();
const TWO_32 = 4294967296;

/** A structural error of the buffer (reported as `cannot unmarshal ztoc: …`). */
export class ParseError extends Error {}

/**
 * The error a decoder reports for `e`: a {@link ParseError} or any other
 * non-BadInputError becomes `cannot unmarshal ztoc: <reason>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ParseError, unmarshalError } from "./flatbuffer_reader.ts";
 * assert.equal(unmarshalError(new ParseError("offset 9 + 4 is out of range")).message,
 *   "cannot unmarshal ztoc: offset 9 + 4 is out of range");
 * ```
 */
export function unmarshalError(e: unknown): BadInputError {
  if (e instanceof BadInputError) return e;
  const reason = errorMessage(e);
  return new BadInputError(`cannot unmarshal ztoc: ${reason}`, { cause: e });
}

/**
 * The name readers give to a `compression_algorithm` enum value (`1` →
 * `gzip`, `2` → `uncompressed`, anything else → `compressionalgorithm(<n>)`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { algorithmName } from "./flatbuffer_reader.ts";
 * assert.ok(algorithmName(1) === "gzip");
 * assert.ok(algorithmName(9) === "compressionalgorithm(9)");
 * ```
 */
export function algorithmName(value: number): CompressionAlgorithm {
  if (value === 1) return "gzip";
  if (value === 2) return "uncompressed";
  return `compressionalgorithm(${value})`;
}

/**
 * Bounds-checked flatbuffers accessors over a DataView. Position arithmetic
 * is done modulo 2^32 like the Go runtime's `UOffsetT`, and every read
 * outside the buffer raises a ParseError (Go panics there).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FbReader } from "./flatbuffer_reader.ts";
 * const r = new FbReader(new Uint8Array([4, 0, 0, 0]));
 * assert.equal(r.u32(0), 4);
 * assert.throws(() => r.u32(2), /out of range/);
 * ```
 */
export class FbReader {
  /** The buffer. */
  readonly bytes: Uint8Array;
  /** A view of the buffer. */
  readonly dv: DataView;
  /** Its length. */
  readonly len: number;
  /** How many more PAX records the buffer can plausibly hold. */
  budget: number;
  /** A reader of `bytes`. */
  constructor(bytes: Uint8Array) {
    this.budget = bytes.byteLength >>> 2;
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.len = bytes.byteLength;
  }
  /** Throws a ParseError unless `[pos, pos + size)` is inside the buffer. */
  check(pos: number, size: number): void {
    if (pos + size > this.len) {
      throw new ParseError(
        `offset ${pos} + ${size} is out of range (buffer length ${this.len})`,
      );
    }
  }
  /** An int8 at `pos`. */
  i8(pos: number): number {
    this.check(pos, 1);
    return this.dv.getInt8(pos);
  }
  /** A little-endian uint16 at `pos`. */
  u16(pos: number): number {
    this.check(pos, 2);
    return this.dv.getUint16(pos, true);
  }
  /** A little-endian uint32 at `pos`. */
  u32(pos: number): number {
    this.check(pos, 4);
    return this.dv.getUint32(pos, true);
  }
  /** A little-endian int32 at `pos`. */
  i32(pos: number): number {
    this.check(pos, 4);
    return this.dv.getInt32(pos, true);
  }
  /** A little-endian int64 at `pos`, as a number. */
  i64(pos: number): number {
    this.check(pos, 8);
    return this.dv.getInt32(pos + 4, true) * TWO_32 + this.dv.getUint32(pos, true);
  }
  /** Position of the vtable of the table at `table`. */
  vtable(table: number): number {
    return (table - this.i32(table)) >>> 0;
  }
  /** Offset of field `id` inside the table (0 when absent). */
  field(vt: number, id: number): number {
    const slot = 4 + 2 * id;
    if (slot >= this.u16(vt)) return 0;
    return this.u16(vt + slot);
  }
  /** Follows the uoffset stored at `pos`. */
  indirect(pos: number): number {
    return (pos + this.u32(pos)) >>> 0;
  }
  /** A string or byte vector at field offset `off` of `table`, as a view. */
  bytesAt(table: number, off: number): Uint8Array {
    if (off === 0) return EMPTY;
    const vec = this.indirect((table + off) >>> 0);
    const n = this.u32(vec);
    const start = vec + 4;
    this.check(start, n);
    return n === 0 ? EMPTY : this.bytes.subarray(start, start + n);
  }
  /**
   * Where the string or byte vector at field offset `off` of `table` lies:
   * `[start, length]` (checked as {@link FbReader.bytesAt} checks it).
   */
  bytesRange(table: number, off: number): [start: number, length: number] {
    if (off === 0) return [0, 0];
    const vec = this.indirect((table + off) >>> 0);
    const n = this.u32(vec);
    const start = vec + 4;
    this.check(start, n);
    return [start, n];
  }
  /** Start (first element) and length of the vector at field offset `off`. */
  vector(table: number, off: number, elemSize: number): [number, number] {
    if (off === 0) return [0, 0];
    const vec = this.indirect((table + off) >>> 0);
    const n = this.u32(vec);
    this.check(vec + 4, n * elemSize);
    return [vec + 4, n];
  }
}

/** Orders byte strings as Go's `bytes.Compare` does (negative, 0, positive). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i];
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Whether two byte strings are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

/**
 * Shares the values that repeat across TOC entries (type, mod time, owner
 * names): one string or view per distinct short value instead of one per
 * entry. Keyed by a hash of the bytes, checked byte by byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Interner } from "./flatbuffer_reader.ts";
 * const shared = new Interner();
 * const a = shared.view(new Uint8Array([114, 111, 111, 116]));
 * assert.equal(shared.view(new Uint8Array([114, 111, 111, 116])), a);
 * assert.equal(shared.text(new Uint8Array([114, 101, 103])), "reg");
 * ```
 */
export class Interner {
  readonly #texts = new Map<number, [Uint8Array, string]>();
  readonly #views = new Map<number, Uint8Array>();

  /** The text of `bytes` (the same string for the same short bytes). */
  text(bytes: Uint8Array): string {
    if (bytes.length === 0) return "";
    if (bytes.length > 48) return text(bytes);
    const h = hash(bytes);
    const hit = this.#texts.get(h);
    if (hit !== undefined && sameBytes(hit[0], bytes)) return hit[1];
    const t = text(bytes);
    if (this.#texts.size < 4096) this.#texts.set(h, [bytes, t]);
    return t;
  }

  /** `bytes`, or an earlier view of the same short bytes. */
  view(bytes: Uint8Array): Uint8Array {
    if (bytes.length === 0 || bytes.length > 48) return bytes;
    const h = hash(bytes);
    const hit = this.#views.get(h);
    if (hit !== undefined && sameBytes(hit, bytes)) return hit;
    if (this.#views.size < 4096) this.#views.set(h, bytes);
    return bytes;
  }
}

/** FNV-1a of the bytes, with the length mixed in. */
function hash(b: Uint8Array): number {
  let h = 0x811c9dc5 ^ b.length;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

/**
 * Decodes text that is almost always ASCII without a TextDecoder call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { text } from "./flatbuffer_reader.ts";
 * assert.equal(text(new Uint8Array([0x30, 0x2e, 0x39])), "0.9");
 * ```
 */
export function text(bytes: Uint8Array): string {
  const n = bytes.length;
  if (n === 0) return "";
  if (n <= 64) {
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (bytes[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  return decoder.decode(bytes);
}

/**
 * Reads the TOC entry (a `FileMetadata` table) at `t`. PAX records are
 * taken from `r.budget` (a real zTOC gives each record its own 4-byte
 * slot; shared vectors could otherwise make a small crafted buffer decode
 * to billions of records).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FbReader, Interner, readEntry, readTocVector, readRoot } from "./flatbuffer_reader.ts";
 * import { encodeZtoc } from "./codec.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const bytes = encodeZtoc({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 10,
 *   uncompressedArchiveSize: 2048, compressionAlgorithm: "gzip", maxSpanId: 0,
 *   spanDigests: [], checkpoints: new Uint8Array(0),
 *   toc: [{ name: b("a"), type: "reg", uncompressedOffset: 512, uncompressedSize: 3,
 *     linkname: b(""), mode: 0o644, uid: 1, gid: 2, uname: b(""), gname: b(""),
 *     modTime: "", devmajor: 0, devminor: 0, xattrs: [] }],
 * });
 * const r = new FbReader(bytes);
 * const [start, count] = readTocVector(r, readRoot(r));
 * assert.equal(count, 1);
 * const e = readEntry(r, r.indirect(start), new Interner());
 * assert.ok(e.uncompressedOffset === 512 && e.gid === 2);
 * ```
 */
export function readEntry(r: FbReader, t: number, shared: Interner): FileMetadata {
  const vt = r.vtable(t);
  const vtsize = r.u16(vt);
  // Field offsets, 0 when the slot is absent.
  const f = (id: number): number => {
    const slot = 4 + 2 * id;
    return slot < vtsize ? r.u16(vt + slot) : 0;
  };
  const i64 = (id: number): number => {
    const o = f(id);
    return o === 0 ? 0 : r.i64((t + o) >>> 0);
  };
  const u32 = (id: number): number => {
    const o = f(id);
    return o === 0 ? 0 : r.u32((t + o) >>> 0);
  };
  const [xs, xn] = r.vector(t, f(13), 4);
  const xattrs = new Array<[Uint8Array, Uint8Array]>(xn);
  r.budget -= xn;
  if (r.budget < 0) throw new ParseError("more PAX records than the buffer can hold");
  for (let j = 0; j < xn; j++) {
    const x = r.indirect(xs + 4 * j);
    const xvt = r.vtable(x);
    xattrs[j] = [shared.view(r.bytesAt(x, r.field(xvt, 0))), r.bytesAt(x, r.field(xvt, 1))];
  }
  return {
    name: r.bytesAt(t, f(0)),
    type: shared.text(r.bytesAt(t, f(1))),
    uncompressedOffset: i64(2),
    uncompressedSize: i64(3),
    linkname: r.bytesAt(t, f(4)),
    mode: i64(5),
    uid: u32(6),
    gid: u32(7),
    uname: shared.view(r.bytesAt(t, f(8))),
    gname: shared.view(r.bytesAt(t, f(9))),
    modTime: shared.text(r.bytesAt(t, f(10))),
    devmajor: i64(11),
    devminor: i64(12),
    xattrs,
  };
}

/** What {@link checkEntry} reads of an entry: where its name lies, its type, its data. */
export interface EntryShape {
  /** Start of the name in the buffer. */
  nameStart: number;
  /** Length of the name. */
  nameLength: number;
  /** Whether the type is `dir`. */
  dir: boolean;
  /** `uncompressed_offset`. */
  offset: number;
  /** `uncompressed_size`. */
  size: number;
}

/**
 * Makes every check {@link readEntry} makes on the entry at `t`, in the
 * same order and with the same errors (PAX records taken from `r.budget`),
 * without decoding it; returns what finding and ordering entries needs (in
 * `into` when given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkEntry, FbReader, readRoot, readTocVector } from "./flatbuffer_reader.ts";
 * import { encodeZtoc } from "./codec.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const bytes = encodeZtoc({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 10,
 *   uncompressedArchiveSize: 2048, compressionAlgorithm: "gzip", maxSpanId: 0,
 *   spanDigests: [], checkpoints: new Uint8Array(0),
 *   toc: [{ name: b("d/"), type: "dir", uncompressedOffset: 512, uncompressedSize: 0,
 *     linkname: b(""), mode: 0o755, uid: 0, gid: 0, uname: b(""), gname: b(""),
 *     modTime: "", devmajor: 0, devminor: 0, xattrs: [] }],
 * });
 * const r = new FbReader(bytes);
 * const [start] = readTocVector(r, readRoot(r));
 * const shape = checkEntry(r, r.indirect(start));
 * assert.ok(shape.dir && shape.nameLength === 2 && shape.offset === 512);
 * ```
 */
export function checkEntry(r: FbReader, t: number, into?: EntryShape): EntryShape {
  // The reads of readEntry, one by one (no closures or tuples: this runs
  // once per entry of every zTOC read).
  const vt = r.vtable(t);
  const vtsize = r.u16(vt);
  const [xs, xn] = r.vector(t, fieldAt(r, vt, vtsize, 13), 4);
  r.budget -= xn;
  if (r.budget < 0) throw new ParseError("more PAX records than the buffer can hold");
  for (let j = 0; j < xn; j++) {
    const x = r.indirect(xs + 4 * j);
    const xvt = r.vtable(x);
    stringAt(r, x, r.field(xvt, 0));
    stringAt(r, x, r.field(xvt, 1));
  }
  const out = into ?? { nameStart: 0, nameLength: 0, dir: false, offset: 0, size: 0 };
  out.nameStart = stringAt(r, t, fieldAt(r, vt, vtsize, 0));
  out.nameLength = stringLength;
  const typeStart = stringAt(r, t, fieldAt(r, vt, vtsize, 1));
  const b = r.bytes;
  // "dir"
  out.dir = stringLength === 3 && b[typeStart] === 0x64 && b[typeStart + 1] === 0x69 &&
    b[typeStart + 2] === 0x72;
  out.offset = int64At(r, t, fieldAt(r, vt, vtsize, 2));
  out.size = int64At(r, t, fieldAt(r, vt, vtsize, 3));
  stringAt(r, t, fieldAt(r, vt, vtsize, 4));
  int64At(r, t, fieldAt(r, vt, vtsize, 5));
  let o = fieldAt(r, vt, vtsize, 6);
  if (o !== 0) r.check((t + o) >>> 0, 4);
  o = fieldAt(r, vt, vtsize, 7);
  if (o !== 0) r.check((t + o) >>> 0, 4);
  stringAt(r, t, fieldAt(r, vt, vtsize, 8));
  stringAt(r, t, fieldAt(r, vt, vtsize, 9));
  stringAt(r, t, fieldAt(r, vt, vtsize, 10));
  int64At(r, t, fieldAt(r, vt, vtsize, 11));
  int64At(r, t, fieldAt(r, vt, vtsize, 12));
  return out;
}

/**
 * Whether the entry at `t` (which passed {@link checkEntry}) is exactly
 * `m`: the same bytes, the same ASCII texts, the same numbers, and no PAX
 * records on either side. Read in place, nothing decoded: a quick test
 * before {@link readEntry} (false may still be an entry equal to `m` in
 * another sense, such as one with PAX records).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entryMatches, FbReader, Interner, readEntry, readRoot, readTocVector } from "./flatbuffer_reader.ts";
 * import { encodeZtoc } from "./codec.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const m = { name: b("a"), type: "reg", uncompressedOffset: 512, uncompressedSize: 3,
 *   linkname: b(""), mode: 0o644, uid: 1, gid: 2, uname: b("u"), gname: b("g"),
 *   modTime: "1970-01-01T00:00:00Z", devmajor: 0, devminor: 0, xattrs: [] };
 * const bytes = encodeZtoc({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 10,
 *   uncompressedArchiveSize: 2048, compressionAlgorithm: "gzip", maxSpanId: 0,
 *   spanDigests: [], checkpoints: new Uint8Array(0), toc: [m],
 * });
 * const r = new FbReader(bytes);
 * const t = r.indirect(readTocVector(r, readRoot(r))[0]);
 * assert.deepEqual(readEntry(r, t, new Interner()), m);
 * assert.ok(entryMatches(r, t, m));
 * assert.ok(!entryMatches(r, t, { ...m, gid: 3 }));
 * assert.ok(!entryMatches(r, t, { ...m, modTime: "1970-01-01T00:00:01Z" }));
 * ```
 */
export function entryMatches(r: FbReader, t: number, m: FileMetadata): boolean {
  if (m.xattrs.length !== 0) return false;
  const vt = r.vtable(t);
  const vtsize = r.u16(vt);
  const xo = fieldAt(r, vt, vtsize, 13);
  if (xo !== 0 && r.u32(r.indirect((t + xo) >>> 0)) !== 0) return false;
  let o = fieldAt(r, vt, vtsize, 6);
  if ((o === 0 ? 0 : r.u32((t + o) >>> 0)) !== m.uid) return false;
  o = fieldAt(r, vt, vtsize, 7);
  if ((o === 0 ? 0 : r.u32((t + o) >>> 0)) !== m.gid) return false;
  return int64At(r, t, fieldAt(r, vt, vtsize, 2)) === m.uncompressedOffset &&
    int64At(r, t, fieldAt(r, vt, vtsize, 3)) === m.uncompressedSize &&
    int64At(r, t, fieldAt(r, vt, vtsize, 5)) === m.mode &&
    int64At(r, t, fieldAt(r, vt, vtsize, 11)) === m.devmajor &&
    int64At(r, t, fieldAt(r, vt, vtsize, 12)) === m.devminor &&
    bytesAre(r, stringAt(r, t, fieldAt(r, vt, vtsize, 0)), m.name) &&
    textIs(r, stringAt(r, t, fieldAt(r, vt, vtsize, 1)), m.type) &&
    bytesAre(r, stringAt(r, t, fieldAt(r, vt, vtsize, 4)), m.linkname) &&
    bytesAre(r, stringAt(r, t, fieldAt(r, vt, vtsize, 8)), m.uname) &&
    bytesAre(r, stringAt(r, t, fieldAt(r, vt, vtsize, 9)), m.gname) &&
    textIs(r, stringAt(r, t, fieldAt(r, vt, vtsize, 10)), m.modTime);
}

/** Whether the string {@link stringAt} found last (at `start`) holds the bytes `x`. */
function bytesAre(r: FbReader, start: number, x: Uint8Array): boolean {
  const n = stringLength;
  if (n !== x.length) return false;
  const b = r.bytes;
  for (let i = 0; i < n; i++) if (b[start + i] !== x[i]) return false;
  return true;
}

/** Whether the string {@link stringAt} found last (at `start`) is the ASCII text `s`. */
function textIs(r: FbReader, start: number, s: string): boolean {
  const n = stringLength;
  if (n !== s.length) return false;
  const b = r.bytes;
  for (let i = 0; i < n; i++) {
    const c = b[start + i];
    if (c >= 0x80 || c !== s.charCodeAt(i)) return false;
  }
  return true;
}

/** Offset of field `id` of a table whose vtable at `vt` is `vtsize` bytes (0: absent). */
function fieldAt(r: FbReader, vt: number, vtsize: number, id: number): number {
  const slot = 4 + 2 * id;
  return slot < vtsize ? r.u16(vt + slot) : 0;
}

/** The length of the string {@link stringAt} found last. */
let stringLength = 0;

/** Start of the string at field offset `off` of `table` (its length in `stringLength`). */
function stringAt(r: FbReader, table: number, off: number): number {
  if (off === 0) {
    stringLength = 0;
    return 0;
  }
  const vec = r.indirect((table + off) >>> 0);
  const n = r.u32(vec);
  r.check(vec + 4, n);
  stringLength = n;
  return vec + 4;
}

/** The int64 at field offset `off` of `table` (0 when absent). */
function int64At(r: FbReader, table: number, off: number): number {
  return off === 0 ? 0 : r.i64((table + off) >>> 0);
}

/** The root table of a zTOC and its scalar and text fields. */
export interface ZtocRoot {
  /** Position of the root table. */
  root: number;
  /** Position of its vtable. */
  vt: number;
  /** `version`. */
  version: string;
  /** `build_tool_identifier`. */
  buildToolIdentifier: string;
  /** `compressed_archive_size`. */
  compressedArchiveSize: number;
  /** `uncompressed_archive_size`. */
  uncompressedArchiveSize: number;
}

/**
 * Reads the root table's own fields (not the TOC, not the compression info).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FbReader, readRoot } from "./flatbuffer_reader.ts";
 * import { encodeZtoc } from "./codec.ts";
 * const r = new FbReader(encodeZtoc({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 10,
 *   uncompressedArchiveSize: 20, toc: [], compressionAlgorithm: "gzip",
 *   maxSpanId: 0, spanDigests: [], checkpoints: new Uint8Array(0),
 * }));
 * assert.equal(readRoot(r).uncompressedArchiveSize, 20);
 * ```
 */
export function readRoot(r: FbReader): ZtocRoot {
  const root = r.indirect(0);
  const vt = r.vtable(root);
  const i64 = (id: number): number => {
    const o = r.field(vt, id);
    return o === 0 ? 0 : r.i64((root + o) >>> 0);
  };
  return {
    root,
    vt,
    version: text(r.bytesAt(root, r.field(vt, 0))),
    buildToolIdentifier: text(r.bytesAt(root, r.field(vt, 1))),
    compressedArchiveSize: i64(2),
    uncompressedArchiveSize: i64(3),
  };
}

/**
 * The TOC's entry vector: position of its first slot and its length (each
 * entry has its own 4-byte slot, so the length is bounded by the buffer's).
 * A missing `toc` table is a ParseError, as upstream cannot load it either.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FbReader, readRoot, readTocVector } from "./flatbuffer_reader.ts";
 * import { encodeZtoc } from "./codec.ts";
 * const r = new FbReader(encodeZtoc({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 10,
 *   uncompressedArchiveSize: 20, toc: [], compressionAlgorithm: "gzip",
 *   maxSpanId: 0, spanDigests: [], checkpoints: new Uint8Array(0),
 * }));
 * assert.equal(readTocVector(r, readRoot(r))[1], 0);
 * ```
 */
export function readTocVector(r: FbReader, root: ZtocRoot): [start: number, count: number] {
  const tocOff = r.field(root.vt, 4);
  if (tocOff === 0) throw new ParseError("the toc table is missing");
  const tocTable = r.indirect((root.root + tocOff) >>> 0);
  const tocVt = r.vtable(tocTable);
  return r.vector(tocTable, r.field(tocVt, 0), 4);
}

/** What the `compression_info` table holds. */
export type CompressionInfo = Pick<
  ZtocHeader,
  "compressionAlgorithm" | "maxSpanId" | "spanDigests" | "checkpoints"
>;

/**
 * Reads the `compression_info` table: algorithm (absent means `gzip`),
 * `max_span_id`, span digests (unparsable ones become `""`) and the zinfo
 * blob (a view). A missing table is a ParseError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FbReader, readCompressionInfo, readRoot } from "./flatbuffer_reader.ts";
 * import { encodeZtoc } from "./codec.ts";
 * const r = new FbReader(encodeZtoc({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 10,
 *   uncompressedArchiveSize: 20, toc: [], compressionAlgorithm: "uncompressed",
 *   maxSpanId: 1, spanDigests: ["nope", "sha256:" + "a".repeat(64)],
 *   checkpoints: new Uint8Array([7]),
 * }));
 * const ci = readCompressionInfo(r, readRoot(r));
 * assert.equal(ci.compressionAlgorithm, "uncompressed");
 * assert.deepEqual(ci.spanDigests, ["", "sha256:" + "a".repeat(64)]);
 * ```
 */
export function readCompressionInfo(r: FbReader, root: ZtocRoot): CompressionInfo {
  const ciOff = r.field(root.vt, 5);
  if (ciOff === 0) throw new ParseError("the compression_info table is missing");
  const ci = r.indirect((root.root + ciOff) >>> 0);
  const civt = r.vtable(ci);
  const algoOff = r.field(civt, 0);
  const compressionAlgorithm = algorithmName(algoOff === 0 ? 1 : r.i8((ci + algoOff) >>> 0));
  const maxOff = r.field(civt, 1);
  const maxSpanId = maxOff === 0 ? 0 : r.i32((ci + maxOff) >>> 0);
  const [ds, dn] = r.vector(ci, r.field(civt, 2), 4);
  const spanDigests = new Array<string>(dn);
  for (let i = 0; i < dn; i++) {
    const s = r.indirect(ds + 4 * i);
    const n = r.u32(s);
    r.check(s + 4, n);
    spanDigests[i] = validDigestOrEmpty(text(r.bytes.subarray(s + 4, s + 4 + n)));
  }
  const checkpoints = r.bytesAt(ci, r.field(civt, 3));
  return { compressionAlgorithm, maxSpanId, spanDigests, checkpoints };
}

function validDigestOrEmpty(text: string): string {
  try {
    return parseDigest(text);
  } catch {
    return "";
  }
}
