/**
 * The zTOC in upstream's build order (`soci-format.md` §3.4), written with
 * {@link FlatBufferWriter}: one procedure measures the zTOC (exact size,
 * nothing allocated but small tables) and then writes it into a buffer of
 * that size, or, given a size bound ({@link ztocSizeBound}), only writes
 * it, from the end of a buffer of the bound's size (the zTOC is then a view
 * of that buffer's last bytes). TOC entries, the bulk of a zTOC, skip the
 * generic table calls:
 * their table layout depends only on which of their seven scalars are
 * non-zero and on the start offset modulo 8, so each of the few layouts a
 * zTOC uses is computed once and then only placed and filled. They are
 * measured by `measureEntry` (lengths only) and written by `writeEntry`, so
 * that the writing run does not run code compiled for measuring; the
 * differential tests (`tests/ztoc_writer_test.ts`) and the writer's check
 * that the second run fills its buffer exactly keep the two in step.
 *
 * @module
 */
import { type FlatBufferWriter, type TableLayout, tableLayout } from "../go/flatbuffer_writer.ts";
import { BadInputError } from "../errors.ts";
import { compareBytes, sameBytes } from "./flatbuffer_reader.ts";
import type { CompressionAlgorithm, FileMetadata, Ztoc } from "./model.ts";

/**
 * The flatbuffers enum value of a compression algorithm name, or `null`
 * when the field is not written at all (empty name, as upstream does).
 * Any other name than `gzip`, `uncompressed` and `""` is a BadInputError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { algorithmToEnum } from "./ztoc_writer.ts";
 * assert.equal(algorithmToEnum("uncompressed"), 2);
 * assert.equal(algorithmToEnum(""), null);
 * assert.throws(() => algorithmToEnum("zstd"), /not defined in flatbuf: zstd/);
 * ```
 */
export function algorithmToEnum(name: CompressionAlgorithm): number | null {
  if (name === "") return null;
  if (name === "gzip") return 1;
  if (name === "uncompressed") return 2;
  throw new BadInputError(`compression algorithm not defined in flatbuf: ${name}`);
}

/**
 * PAX records in the order they are serialized: sorted by key bytes, and
 * with duplicate keys collapsed to the last one (upstream keeps them in a
 * Go map, so a key occurs once).
 */
function sortedXattrs(
  xattrs: Array<[Uint8Array, Uint8Array]>,
): Array<[Uint8Array, Uint8Array]> {
  if (xattrs.length <= 1) return xattrs;
  const sorted = xattrs.slice().sort((a, b) => compareBytes(a[0], b[0]));
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for (const rec of sorted) {
    const last = out.length - 1;
    if (last >= 0 && sameBytes(out[last][0], rec[0])) out[last] = rec;
    else out.push(rec);
  }
  return out;
}

/** `value`, checked to be an integer unless it is 0 (then it is left out). */
function int64(value: number): number {
  if (value !== 0 && !Number.isInteger(value)) {
    throw new BadInputError(`ztoc field value ${value} is not an integer`);
  }
  return value;
}

const encoder = new TextEncoder();

/**
 * Encodes short text once; tar entries share few types and mod times (one
 * cache per field, whose last text is checked first: neighbours share it).
 */
class TextCache {
  #map = new Map<string, Uint8Array>();
  #last = "";
  #lastBytes: Uint8Array = new Uint8Array(0);
  get(text: string): Uint8Array {
    if (text === this.#last) return this.#lastBytes;
    let bytes = this.#map.get(text);
    if (bytes === undefined) {
      bytes = encoder.encode(text);
      if (this.#map.size > 4096) this.#map.clear();
      this.#map.set(text, bytes);
    }
    this.#last = text;
    this.#lastBytes = bytes;
    return bytes;
  }
}

// The non-zero scalars of an entry, as bits of its shape.
const OFFSET_BIT = 1, SIZE_BIT = 2, MODE_BIT = 4, UID_BIT = 8, GID_BIT = 16;
const DEVMAJOR_BIT = 32, DEVMINOR_BIT = 64;

/** The layout of a `FileMetadata` table of one shape, started at `start`. */
function entryLayout(shape: number, start: number): TableLayout {
  const slots: number[] = [], sizes: number[] = [];
  const add = (slot: number, size: number, bit = 0) => {
    if (bit === 0 || (shape & bit) !== 0) {
      slots.push(slot);
      sizes.push(size);
    }
  };
  add(0, 4); // name
  add(1, 4); // type
  add(2, 8, OFFSET_BIT);
  add(3, 8, SIZE_BIT);
  add(4, 4); // linkname
  add(5, 8, MODE_BIT);
  add(6, 4, UID_BIT);
  add(7, 4, GID_BIT);
  add(8, 4); // uname
  add(9, 4); // gname
  add(10, 4); // mod_time
  add(11, 8, DEVMAJOR_BIT);
  add(12, 8, DEVMINOR_BIT);
  add(13, 4); // xattrs
  return tableLayout(14, slots, sizes, start);
}

/** The state one run over a zTOC keeps: layouts and encoded texts. */
class ZtocRun {
  /** Entry types, encoded (shared by both runs). */
  readonly types: TextCache;
  /** Entry mod times, encoded (shared by both runs). */
  readonly times: TextCache;
  /** Entry layouts by shape · 8 + start offset modulo 8. */
  readonly entryLayouts = new Array<TableLayout | undefined>(128 * 8);
  /** `Xattr` table layouts by start offset modulo 8. */
  readonly paxLayouts = new Array<TableLayout | undefined>(8);
  constructor(types: TextCache, times: TextCache) {
    this.types = types;
    this.times = times;
  }
}

const EMPTY: number[] = [];

/**
 * TOC entries made as the writer asks for them, last first, once per run:
 * each is used before the next is asked for, so `at` may return the same
 * object refilled every time.
 */
export interface TocSource {
  /** Number of entries. */
  readonly length: number;
  /** Entry `i`. */
  at(i: number): FileMetadata;
  /**
   * The zinfo blob (`checkpoints`) written in place into the zTOC's buffer,
   * when given (then `z.checkpoints` is not used): its length, and how to
   * write it into a zero-filled view of that length.
   */
  readonly checkpoints?: { readonly length: number; write(into: Uint8Array): void };
  /**
   * A size the zTOC is known not to exceed ({@link ztocSizeBound}), when
   * given: it is then written in one run into a buffer of that size (the
   * zTOC being its last bytes) instead of measured first.
   */
  readonly sizeBound?: number;
}

/**
 * An upper bound on the encoded size of a zTOC with `z`'s version, build
 * tool and span digests, `entries` TOC entries whose names, link names,
 * owner names and PAX keys and values come to `textBytes` bytes in all,
 * `records` PAX records, and a zinfo blob of `zinfoLength` bytes. Each
 * string takes at most its bytes + 8 (length, NUL, padding); an entry at
 * most 256 bytes besides its four texts (type and mod time strings, table,
 * vtable, vector slots, padding), a PAX record 64 besides its texts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeZtoc } from "./codec.ts";
 * import { ztocSizeBound } from "./ztoc_writer.ts";
 * const z = {
 *   version: "0.9", buildToolIdentifier: "AWS SOCI CLI v0.2",
 *   compressedArchiveSize: 0, uncompressedArchiveSize: 0, toc: [],
 *   compressionAlgorithm: "gzip" as const, maxSpanId: 0, spanDigests: [],
 *   checkpoints: new Uint8Array(12),
 * };
 * assert.ok(encodeZtoc(z).length <= ztocSizeBound(z, 0, 0, 0, 12));
 * ```
 */
export function ztocSizeBound(
  z: Pick<Ztoc, "version" | "buildToolIdentifier" | "spanDigests">,
  entries: number,
  textBytes: number,
  records: number,
  zinfoLength: number,
): number {
  let n = 512 + 3 * (z.version.length + z.buildToolIdentifier.length) + zinfoLength;
  for (const d of z.spanDigests) n += 3 * d.length + 12;
  return n + 256 * entries + 64 * records + textBytes;
}

/** The shape of an entry: a bit per non-zero scalar (checked to be an integer). */
function entryShape(me: FileMetadata): number {
  let shape = 0;
  if (int64(me.uncompressedOffset) !== 0) shape |= OFFSET_BIT;
  if (int64(me.uncompressedSize) !== 0) shape |= SIZE_BIT;
  if (int64(me.mode) !== 0) shape |= MODE_BIT;
  if ((me.uid | 0) !== 0) shape |= UID_BIT;
  if ((me.gid | 0) !== 0) shape |= GID_BIT;
  if (int64(me.devmajor) !== 0) shape |= DEVMAJOR_BIT;
  if (int64(me.devminor) !== 0) shape |= DEVMINOR_BIT;
  return shape;
}

/** The layout of an entry of `shape` placed at the writer's offset. */
function layoutAt(w: FlatBufferWriter, run: ZtocRun, shape: number): TableLayout {
  const start = w.offset & 7;
  return run.entryLayouts[(shape << 3) | start] ??= entryLayout(shape, start);
}

/**
 * Counts one TOC entry (the measuring run): {@link writeEntry} without
 * bytes, so that the writing run's code is not compiled for measuring.
 */
function measureEntry(w: FlatBufferWriter, run: ZtocRun, me: FileMetadata): number {
  w.measureString(me.name.length);
  w.measureString(run.types.get(me.type).length);
  w.measureString(me.linkname.length);
  w.measureString(me.uname.length);
  w.measureString(me.gname.length);
  w.measureString(run.times.get(me.modTime).length);
  if (me.xattrs.length === 0) {
    w.measureOffsetVector(0);
  } else {
    const recs = sortedXattrs(me.xattrs);
    for (let i = 0; i < recs.length; i++) {
      w.measureString(recs[i][0].length);
      w.measureString(recs[i][1].length);
      w.measureTable(paxLayoutAt(w, run));
    }
    w.measureOffsetVector(recs.length);
  }
  return w.measureTable(layoutAt(w, run, entryShape(me)));
}

/** The `Xattr` table layout at the writer's offset. */
function paxLayoutAt(w: FlatBufferWriter, run: ZtocRun): TableLayout {
  const start = w.offset & 7;
  return run.paxLayouts[start] ??= tableLayout(2, [0, 1], [4, 4], start);
}

/** Writes one PAX record table (`Xattr { key; value }`); returns its offset. */
function writePax(w: FlatBufferWriter, run: ZtocRun, key: number, value: number): number {
  const layout = paxLayoutAt(w, run);
  const table = w.placeTable(layout);
  const at = w.address(table);
  w.putOffset(at + layout.fieldAt[0], key);
  w.putOffset(at + layout.fieldAt[1], value);
  return table;
}

/** Writes one TOC entry with its strings and PAX records; returns its offset. */
function writeEntry(w: FlatBufferWriter, run: ZtocRun, me: FileMetadata): number {
  const name = w.string(me.name);
  const type = w.string(run.types.get(me.type));
  const linkname = w.string(me.linkname);
  const uname = w.string(me.uname);
  const gname = w.string(me.gname);
  const modTime = w.string(run.times.get(me.modTime));

  let xattrs: number;
  if (me.xattrs.length === 0) {
    xattrs = w.offsetVector(EMPTY, 0);
  } else {
    const recs = sortedXattrs(me.xattrs);
    const tables = new Array<number>(recs.length);
    for (let i = 0; i < recs.length; i++) {
      const key = w.string(recs[i][0]);
      const value = w.string(recs[i][1]);
      tables[i] = writePax(w, run, key, value);
    }
    xattrs = w.offsetVector(tables);
  }

  // (entryShape checks the scalars are integers, as the measuring run did)
  const shape = entryShape(me);
  const layout = layoutAt(w, run, shape);
  const table = w.placeTable(layout);
  const at = w.address(table);
  const f = layout.fieldAt;
  w.putOffset(at + f[0], name);
  w.putOffset(at + f[1], type);
  if (shape & OFFSET_BIT) w.putInt64(at + f[2], me.uncompressedOffset);
  if (shape & SIZE_BIT) w.putInt64(at + f[3], me.uncompressedSize);
  w.putOffset(at + f[4], linkname);
  if (shape & MODE_BIT) w.putInt64(at + f[5], me.mode);
  if (shape & UID_BIT) w.putInt32(at + f[6], me.uid | 0);
  if (shape & GID_BIT) w.putInt32(at + f[7], me.gid | 0);
  w.putOffset(at + f[8], uname);
  w.putOffset(at + f[9], gname);
  w.putOffset(at + f[10], modTime);
  if (shape & DEVMAJOR_BIT) w.putInt64(at + f[11], me.devmajor);
  if (shape & DEVMINOR_BIT) w.putInt64(at + f[12], me.devminor);
  w.putOffset(at + f[13], xattrs);
  return table;
}

/**
 * A function that writes `z` in upstream's build order (`soci-format.md`
 * §3.4) with a {@link FlatBufferWriter} and returns the root table's
 * offset: the `write` of `buildFlatBuffer`, to be run once measuring and
 * once writing. `from`, when given, gives the TOC entries instead of
 * `z.toc` (see {@link TocSource}). Checks the compression algorithm at
 * once (BadInputError `compression algorithm not defined in flatbuf: …`);
 * a non-integer int64 field is a BadInputError `ztoc field value … is not
 * an integer` of the run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildFlatBuffer } from "../go/flatbuffer_writer.ts";
 * import { ztocWriter } from "./ztoc_writer.ts";
 * const bytes = buildFlatBuffer(ztocWriter({
 *   version: "0.9", buildToolIdentifier: "AWS SOCI CLI v0.2",
 *   compressedArchiveSize: 0, uncompressedArchiveSize: 0, toc: [],
 *   compressionAlgorithm: "gzip", maxSpanId: 0, spanDigests: [],
 *   checkpoints: new Uint8Array(12),
 * }));
 * assert.equal(bytes.length % 4, 0);
 * ```
 */
export function ztocWriter(z: Ztoc, from?: TocSource): (w: FlatBufferWriter) => number {
  const algorithm = algorithmToEnum(z.compressionAlgorithm);
  const types = new TextCache(), times = new TextCache();
  return (w) => {
    const run = new ZtocRun(types, times);
    const version = w.text(z.version);
    const buildTool = w.text(z.buildToolIdentifier);

    const toc = z.toc;
    const n = from ? from.length : toc.length;
    const entries = new Array<number>(n);
    if (from !== undefined) {
      if (w.measuring) {
        for (let i = n - 1; i >= 0; i--) entries[i] = measureEntry(w, run, from.at(i));
      } else {
        for (let i = n - 1; i >= 0; i--) entries[i] = writeEntry(w, run, from.at(i));
      }
    } else if (w.measuring) {
      for (let i = n - 1; i >= 0; i--) entries[i] = measureEntry(w, run, toc[i]);
    } else {
      for (let i = n - 1; i >= 0; i--) entries[i] = writeEntry(w, run, toc[i]);
    }
    const metadata = w.offsetVector(entries);
    w.startTable(1);
    w.addOffset(0, metadata);
    const tocTable = w.endTable();

    const zinfo = from?.checkpoints;
    const checkpoints = zinfo === undefined
      ? w.byteVector(z.checkpoints)
      : w.byteVectorOf(zinfo.length, (into) => zinfo.write(into));
    const digests = z.spanDigests.map((d) => w.text(d));
    const spanDigests = w.offsetVector(digests);

    w.startTable(4);
    w.addInt32(1, z.maxSpanId | 0, 0);
    w.addOffset(2, spanDigests);
    w.addOffset(3, checkpoints);
    if (algorithm !== null) w.addInt8(0, algorithm, 1);
    const compressionInfo = w.endTable();

    w.startTable(6);
    w.addOffset(0, version);
    w.addOffset(1, buildTool);
    w.addOffset(4, tocTable);
    w.addInt64(2, int64(z.compressedArchiveSize));
    w.addInt64(3, int64(z.uncompressedArchiveSize));
    w.addOffset(5, compressionInfo);
    return w.endTable();
  };
}
