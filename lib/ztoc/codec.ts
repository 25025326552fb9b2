/**
 * The zTOC flatbuffers codec (`soci-format.md` §3): {@link encodeZtoc}
 * writes the exact bytes upstream's Go builder writes (§3.4), and
 * {@link decodeZtoc} reads any valid layout with upstream's reading rules
 * (§3.5).
 *
 * @module
 */
import { buildFlatBuffer } from "../go/flatbuffer_writer.ts";
import { BadInputError } from "../errors.ts";
import {
  FbReader,
  Interner,
  readCompressionInfo,
  readEntry,
  readRoot,
  readTocVector,
  unmarshalError,
} from "./flatbuffer_reader.ts";
import { MAX_ZTOC_BYTES } from "./limits.ts";
import type { FileMetadata, Ztoc } from "./model.ts";
import { type TocSource, ztocWriter } from "./ztoc_writer.ts";

export { algorithmName } from "./flatbuffer_reader.ts";

/**
 * Serializes a zTOC to the exact bytes upstream writes (`soci-format.md`
 * §3.4): same build order, defaults omitted, PAX records sorted by key
 * bytes, strings written as raw bytes. `compressionAlgorithm` `"gzip"` and
 * `""` leave the enum field out; `"uncompressed"` writes 2; any other name
 * is a BadInputError (`compression algorithm not defined in flatbuf: …`).
 * A zTOC larger than `MAX_ZTOC_BYTES` (1 GiB) is a BadInputError naming
 * the limit and the exact size, found before anything is allocated. The
 * zTOC is measured first and then written into a buffer of exactly its
 * size (`ztoc_writer.ts`), which is returned: memory is one zTOC size
 * above the model's. `from`, when given, gives the TOC entries instead of
 * `z.toc` (made as they are asked for, see `TocSource`), and with its
 * `sizeBound` the zTOC is written in one run, into a buffer of that size
 * whose last bytes it is (a view).
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
export function encodeZtoc(z: Ztoc, from?: TocSource): Uint8Array {
  const bound = from?.sizeBound;
  return buildFlatBuffer(
    ztocWriter(z, from),
    (size) => {
      if (size > MAX_ZTOC_BYTES) throw ztocTooLarge(size, "is");
    },
    bound !== undefined && bound <= MAX_ZTOC_BYTES ? bound : undefined,
  );
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
