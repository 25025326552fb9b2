/**
 * Test oracle: the zTOC and TarZinfo encoders as they were before the
 * library got its own FlatBuffers writer (`lib/go/flatbuffer_writer.ts`),
 * driving the npm `flatbuffers` `Builder` (an independent implementation
 * of the builder rules, the one that reproduces upstream's golden digest,
 * `soci-format.md` §3.4) with the same build order. The differential tests
 * compare the library's bytes with these, and `tasks/bench_encode.ts`
 * times them against each other.
 *
 * @module
 */
import { Builder } from "npm:flatbuffers@25.9.23";
import { BadInputError } from "../../lib/errors.ts";
import { compareBytes, sameBytes } from "../../lib/ztoc/flatbuffer_reader.ts";
import { ztocTooLarge } from "../../lib/ztoc/codec.ts";
import { MAX_ZTOC_BYTES } from "../../lib/ztoc/limits.ts";
import type { CompressionAlgorithm, FileMetadata, Ztoc } from "../../lib/ztoc/model.ts";

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
 * The zTOC with the npm `Builder`, exactly as `encodeZtoc` wrote it before:
 * the size bound, the "would be about" refusal far above the limit, the
 * builder sized to the bound, the returned view.
 */
export function encodeZtocWithBuilder(z: Ztoc): Uint8Array {
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

/**
 * The TarZinfo (`soci-format.md` §5.6) with the npm `Builder`: start a
 * table of 3 slots, add version, span_size, size (defaults omitted), finish.
 */
export function encodeTarZinfoWithBuilder(
  spanSize: number,
  size: number,
  version: number,
): Uint8Array {
  for (const v of [spanSize, size, version]) {
    if (!Number.isSafeInteger(v)) throw new BadInputError(`tar zinfo value ${v} is not an integer`);
  }
  const b = new Builder(64);
  b.startObject(3);
  b.addFieldInt32(0, version | 0, 0);
  if (spanSize !== 0) b.addFieldInt64(1, BigInt(spanSize), BigInt(0));
  if (size !== 0) b.addFieldInt64(2, BigInt(size), BigInt(0));
  b.finish(b.endObject());
  return b.asUint8Array().slice();
}
