/**
 * The zTOC flatbuffers codec (`soci-format.md` §3): {@link encodeZtoc}
 * writes the exact bytes upstream's Go builder writes (§3.4), and
 * {@link decodeZtoc} reads any valid layout with upstream's reading rules
 * (§3.5).
 *
 * @module
 */
import { Builder } from "npm:flatbuffers@25.9.23";
import { BadInputError } from "../errors.ts";
import {
  compareBytes,
  FbReader,
  Interner,
  readCompressionInfo,
  readEntry,
  readRoot,
  readTocVector,
  sameBytes,
  unmarshalError,
} from "./flatbuffer_reader.ts";
import { MAX_ZTOC_BYTES } from "./limits.ts";
import type { CompressionAlgorithm, FileMetadata, Ztoc } from "./model.ts";

export { algorithmName } from "./flatbuffer_reader.ts";

const encoder = new TextEncoder();

/**
 * The flatbuffers enum value of a compression algorithm name, or `null`
 * when the field is not written at all (empty name, as upstream does).
 */
function algorithmToEnum(name: CompressionAlgorithm): number | null {
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

/** Adds an int64 field the way the Go builder does (omitted when 0). */
function addInt64(b: Builder, slot: number, value: number): void {
  if (value === 0) return;
  if (!Number.isInteger(value)) {
    throw new BadInputError(`ztoc field value ${value} is not an integer`);
  }
  b.addFieldInt64(slot, BigInt(value), BigInt(0));
}

/** Encodes short text once; tar entries share few types and mod times. */
class TextCache {
  #map = new Map<string, Uint8Array>();
  get(text: string): Uint8Array {
    let bytes = this.#map.get(text);
    if (bytes === undefined) {
      bytes = encoder.encode(text);
      if (this.#map.size > 4096) this.#map.clear();
      this.#map.set(text, bytes);
    }
    return bytes;
  }
}

function encodeEntry(b: Builder, me: FileMetadata, texts: TextCache): number {
  const name = b.createString(me.name);
  const type = b.createString(texts.get(me.type));
  const linkname = b.createString(me.linkname);
  const uname = b.createString(me.uname);
  const gname = b.createString(me.gname);
  const modTime = b.createString(texts.get(me.modTime));

  const recs = sortedXattrs(me.xattrs);
  const recOffsets = new Array<number>(recs.length);
  for (let i = 0; i < recs.length; i++) {
    const key = b.createString(recs[i][0]);
    const value = b.createString(recs[i][1]);
    b.startObject(2);
    b.addFieldOffset(0, key, 0);
    b.addFieldOffset(1, value, 0);
    recOffsets[i] = b.endObject();
  }
  b.startVector(4, recs.length, 4);
  for (let i = recs.length - 1; i >= 0; i--) b.addOffset(recOffsets[i]);
  const xattrs = b.endVector();

  b.startObject(14);
  b.addFieldOffset(0, name, 0);
  b.addFieldOffset(1, type, 0);
  addInt64(b, 2, me.uncompressedOffset);
  addInt64(b, 3, me.uncompressedSize);
  b.addFieldOffset(4, linkname, 0);
  addInt64(b, 5, me.mode);
  b.addFieldInt32(6, me.uid | 0, 0);
  b.addFieldInt32(7, me.gid | 0, 0);
  b.addFieldOffset(8, uname, 0);
  b.addFieldOffset(9, gname, 0);
  b.addFieldOffset(10, modTime, 0);
  addInt64(b, 11, me.devmajor);
  addInt64(b, 12, me.devminor);
  b.addFieldOffset(13, xattrs, 0);
  return b.endObject();
}

/**
 * An upper bound of the encoded size (so the builder never has to grow and
 * copy): every string costs its bytes plus 8 (length, NUL, padding), every
 * entry at most 96 bytes of table, 32 of vtable, 8 of xattrs vector and 4
 * of slot, every
 * PAX record 4 + 24 bytes of slot, table and vtable.
 */
function encodedSizeBound(z: Ztoc): number {
  let n = 256 + 8 + z.checkpoints.length + z.version.length + z.buildToolIdentifier.length;
  for (const d of z.spanDigests) n += 4 + 8 + d.length;
  for (const me of z.toc) {
    n += 144 + 6 * 8 + me.name.length + me.type.length + me.linkname.length + me.uname.length +
      me.gname.length + me.modTime.length;
    for (const [k, v] of me.xattrs) n += 28 + 16 + k.length + v.length;
  }
  return n;
}

/**
 * Serializes a zTOC to the exact bytes upstream writes (`soci-format.md`
 * §3.4): same build order, defaults omitted, PAX records sorted by key
 * bytes, strings written as raw bytes. `compressionAlgorithm` `"gzip"` and
 * `""` leave the enum field out; `"uncompressed"` writes 2; any other name
 * is a BadInputError (`compression algorithm not defined in flatbuf: …`).
 * A zTOC larger than `MAX_ZTOC_BYTES` (1 GiB) is a BadInputError naming
 * the limit; memory stays about one zTOC size above the model's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeZtoc } from "./codec.ts";
 * const bytes = encodeZtoc({
 *   version: "0.9", buildToolIdentifier: "AWS SOCI CLI v0.2",
 *   compressedArchiveSize: 0, uncompressedArchiveSize: 0, toc: [],
 *   compressionAlgorithm: "gzip", maxSpanId: 0, spanDigests: [],
 *   checkpoints: new Uint8Array(12),
 * });
 * assert.ok(bytes.length > 0);
 * ```
 */
export function encodeZtoc(z: Ztoc): Uint8Array {
  const algorithm = algorithmToEnum(z.compressionAlgorithm);
  const bound = encodedSizeBound(z);
  // The bound overestimates by a few percent at most for real TOCs; far
  // above the limit, the zTOC is refused without being built.
  if (bound > MAX_ZTOC_BYTES * 1.25) throw ztocTooLarge(bound, "would be about");
  const b = new Builder(Math.min(bound, 0x7fff0000));
  const texts = new TextCache();

  const version = b.createString(encoder.encode(z.version));
  const buildTool = b.createString(encoder.encode(z.buildToolIdentifier));

  const toc = z.toc;
  const entryOffsets = new Array<number>(toc.length);
  for (let i = toc.length - 1; i >= 0; i--) entryOffsets[i] = encodeEntry(b, toc[i], texts);
  b.startVector(4, toc.length, 4);
  for (let i = toc.length - 1; i >= 0; i--) b.addOffset(entryOffsets[i]);
  const metadata = b.endVector();
  b.startObject(1);
  b.addFieldOffset(0, metadata, 0);
  const tocTable = b.endObject();

  const checkpoints = b.createByteVector(z.checkpoints);
  const digestOffsets = z.spanDigests.map((d) => b.createString(encoder.encode(d)));
  b.startVector(4, digestOffsets.length, 4);
  for (let i = digestOffsets.length - 1; i >= 0; i--) b.addOffset(digestOffsets[i]);
  const spanDigests = b.endVector();

  b.startObject(4);
  b.addFieldInt32(1, z.maxSpanId | 0, 0);
  b.addFieldOffset(2, spanDigests, 0);
  b.addFieldOffset(3, checkpoints, 0);
  if (algorithm !== null) b.addFieldInt8(0, algorithm, 1);
  const compressionInfo = b.endObject();

  b.startObject(6);
  b.addFieldOffset(0, version, 0);
  b.addFieldOffset(1, buildTool, 0);
  b.addFieldOffset(4, tocTable, 0);
  addInt64(b, 2, z.compressedArchiveSize);
  addInt64(b, 3, z.uncompressedArchiveSize);
  b.addFieldOffset(5, compressionInfo, 0);
  const root = b.endObject();
  b.finish(root);
  const out = b.asUint8Array();
  if (out.length > MAX_ZTOC_BYTES) throw ztocTooLarge(out.length, "is");
  // The builder fills its buffer from the end; the bound is at most about
  // 1.5 times the real size, so the view is kept rather than copied (which
  // would need both at once), unless most of the buffer is unused.
  return out.length >= bound / 2 ? out : out.slice();
}

/** The error for a zTOC over `MAX_ZTOC_BYTES`. */
export function ztocTooLarge(size: number, verb: string): BadInputError {
  return new BadInputError(
    `the zTOC ${verb} ${size} bytes, more than the limit of ${MAX_ZTOC_BYTES} (MAX_ZTOC_BYTES): ` +
      "the layer has too many entries or too much metadata",
  );
}

// ---------------------------------------------------------------------------
// Reading

function parse(bytes: Uint8Array): Ztoc {
  const r = new FbReader(bytes);
  const root = readRoot(r);
  const [ms, mn] = readTocVector(r, root);
  const toc = new Array<FileMetadata>(mn);
  const shared = new Interner();
  for (let i = 0; i < mn; i++) toc[i] = readEntry(r, r.indirect(ms + 4 * i), shared);
  const ci = readCompressionInfo(r, root);
  return {
    version: root.version,
    buildToolIdentifier: root.buildToolIdentifier,
    compressedArchiveSize: root.compressedArchiveSize,
    uncompressedArchiveSize: root.uncompressedArchiveSize,
    toc,
    compressionAlgorithm: ci.compressionAlgorithm,
    maxSpanId: ci.maxSpanId,
    spanDigests: ci.spanDigests,
    checkpoints: ci.checkpoints,
  };
}

/**
 * Sorts TOC entries by `uncompressedOffset` (stable; returns the same array
 * when it is already sorted, otherwise a sorted copy).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sortTocByOffset } from "./codec.ts";
 * import type { FileMetadata } from "./model.ts";
 * const e = (o: number) => ({ uncompressedOffset: o }) as FileMetadata;
 * assert.ok(sortTocByOffset([e(1024), e(512)])[0].uncompressedOffset === 512);
 * ```
 */
export function sortTocByOffset(toc: FileMetadata[]): FileMetadata[] {
  for (let i = 1; i < toc.length; i++) {
    if (toc[i].uncompressedOffset < toc[i - 1].uncompressedOffset) {
      return toc.slice().sort((a, b) => a.uncompressedOffset - b.uncompressedOffset);
    }
  }
  return toc;
}

/**
 * The tar header offset of every entry of an offset-sorted TOC
 * (`soci-format.md` §3.5): 0 for the first entry, then the previous entry's
 * data end rounded up to 512. The header bytes of entry *i* are
 * `[headerOffsets[i], toc[i].uncompressedOffset)`. Throws BadInputError
 * `invalid toc entry` when a header offset would lie after its entry's data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tarHeaderOffsets } from "./codec.ts";
 * import type { FileMetadata } from "./model.ts";
 * const e = (o: number, s: number) =>
 *   ({ uncompressedOffset: o, uncompressedSize: s }) as FileMetadata;
 * const h = tarHeaderOffsets([e(512, 5), e(2048, 0)]);
 * assert.ok(h[0] === 0 && h[1] === 1024);
 * ```
 */
export function tarHeaderOffsets(sortedToc: FileMetadata[]): number[] {
  const out = new Array<number>(sortedToc.length);
  let next = 0;
  for (let i = 0; i < sortedToc.length; i++) {
    const me = sortedToc[i];
    if (next > me.uncompressedOffset) throw new BadInputError("invalid toc entry");
    out[i] = next;
    next = Math.ceil((me.uncompressedOffset + me.uncompressedSize) / 512) * 512;
  }
  return out;
}

/**
 * Parses a zTOC blob with upstream's reading rules (`soci-format.md` §3.5).
 * Any vtable layout is accepted; absent scalar/string/vector fields take
 * their defaults, an absent `compression_algorithm` means `gzip`, unknown
 * enum values become `compressionalgorithm(<n>)`, unparsable span digests
 * become `""`. TOC entries come back sorted by `uncompressedOffset`.
 *
 * Byte fields (`name`, `linkname`, `uname`, `gname`, PAX records and
 * `checkpoints`) are views into `bytes`, not copies. `modTime` is kept as
 * the stored text.
 *
 * Values that repeat across entries (type, mod time, owner names, PAX
 * keys) are shared: the entries must be treated as read-only.
 *
 * Errors (all BadInputError): `cannot unmarshal ztoc: <reason>` for bytes
 * that are not a well-formed zTOC (including a missing `toc` or
 * `compression_info` table, which upstream cannot load either), `invalid
 * toc entry` for overlapping entries, and a blob larger than
 * `MAX_ZTOC_BYTES` (1 GiB).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeZtoc, encodeZtoc } from "./codec.ts";
 * const z = decodeZtoc(encodeZtoc({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 10,
 *   uncompressedArchiveSize: 20, toc: [], compressionAlgorithm: "uncompressed",
 *   maxSpanId: 0, spanDigests: [], checkpoints: new Uint8Array([1, 2]),
 * }));
 * assert.ok(z.compressionAlgorithm === "uncompressed" && z.uncompressedArchiveSize === 20);
 * ```
 */
export function decodeZtoc(bytes: Uint8Array): Ztoc {
  if (bytes.length > MAX_ZTOC_BYTES) throw ztocTooLarge(bytes.length, "is");
  let z: Ztoc;
  try {
    z = parse(bytes);
  } catch (e) {
    throw unmarshalError(e);
  }
  z.toc = sortTocByOffset(z.toc);
  tarHeaderOffsets(z.toc);
  return z;
}
