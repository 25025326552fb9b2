/**
 * A lazy view of a zTOC: the header (sizes, span digests, zinfo) read
 * eagerly, the TOC entries only as they are asked for. Reading one file
 * needs one entry out of thousands: decoding all of them (`decodeZtoc`)
 * costs more than fetching the zTOC.
 *
 * Opening a view makes every check `decodeZtoc` makes (the bounds of every
 * field of every entry, the PAX record budget, entries sorted by offset and
 * not overlapping), in the same order and with the same errors, without
 * decoding anything but names' positions, types, offsets and sizes: a
 * buffer opens exactly when `decodeZtoc` accepts it, and its entries are
 * those of `decodeZtoc`, in the same order.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { ztocTooLarge } from "./codec.ts";
import {
  checkEntry,
  entryMatches,
  type EntryShape,
  FbReader,
  Interner,
  readCompressionInfo,
  readEntry,
  readRoot,
  readTocVector,
  unmarshalError,
} from "./flatbuffer_reader.ts";
import { MAX_ZTOC_BYTES } from "./limits.ts";
import type { FileMetadata, Ztoc, ZtocHeader } from "./model.ts";

/**
 * A zTOC whose TOC entries are decoded on demand. Entry `k` is the k-th in
 * `uncompressedOffset` order (stable), as in `decodeZtoc(bytes).toc`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ZtocView } from "./ztoc_view.ts";
 * import { decodeZtoc, encodeZtoc } from "./codec.ts";
 * const b = (s: string) => new TextEncoder().encode(s);
 * const entry = (name: string, off: number, type = "reg") => ({
 *   name: b(name), type, uncompressedOffset: off, uncompressedSize: 5, linkname: b(""),
 *   mode: 0o644, uid: 0, gid: 0, uname: b("root"), gname: b("root"), modTime: "",
 *   devmajor: 0, devminor: 0, xattrs: [],
 * });
 * const bytes = encodeZtoc({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 100,
 *   uncompressedArchiveSize: 4096, compressionAlgorithm: "gzip", maxSpanId: 0,
 *   spanDigests: [], checkpoints: new Uint8Array(0),
 *   toc: [entry("./b", 1536), entry("./a/", 512, "dir"), entry("./a/x", 2560)],
 * });
 * const view = ZtocView.decode(bytes);
 * assert.equal(view.length, 3);
 * assert.equal(new TextDecoder().decode(view.name(0)), "./a/"); // sorted by offset
 * assert.ok(view.isDir(0) && !view.isDir(1));
 * assert.deepEqual(view.entry(2), decodeZtoc(bytes).toc[2]);
 * ```
 */
export class ZtocView {
  /** The zTOC's bytes (entries' byte fields are views into them). */
  readonly bytes: Uint8Array;
  /** Everything but the TOC. */
  readonly header: ZtocHeader;
  /** Number of TOC entries. */
  readonly length: number;
  /** Where entry k's name starts in {@link ZtocView.bytes}. */
  readonly nameStarts: Uint32Array;
  /** The length of entry k's name. */
  readonly nameLengths: Uint32Array;
  readonly #r: FbReader;
  /** Position of entry k's table. */
  readonly #tables: Uint32Array;
  /** 1 when entry k's type is `dir`. */
  readonly #dirs: Uint8Array;
  readonly #shared = new Interner();

  private constructor(
    bytes: Uint8Array,
    r: FbReader,
    header: ZtocHeader,
    tables: Uint32Array,
    nameStarts: Uint32Array,
    nameLengths: Uint32Array,
    dirs: Uint8Array,
  ) {
    this.bytes = bytes;
    this.#r = r;
    this.header = header;
    this.length = tables.length;
    this.#tables = tables;
    this.nameStarts = nameStarts;
    this.nameLengths = nameLengths;
    this.#dirs = dirs;
  }

  /**
   * Opens a view of a zTOC blob. Errors (BadInputError) as `decodeZtoc`'s:
   * a blob over `MAX_ZTOC_BYTES`, `cannot unmarshal ztoc: <reason>`,
   * `invalid toc entry`.
   */
  static decode(bytes: Uint8Array): ZtocView {
    if (bytes.length > MAX_ZTOC_BYTES) throw ztocTooLarge(bytes.length, "is");
    try {
      return ZtocView.#open(bytes);
    } catch (e) {
      throw unmarshalError(e);
    }
  }

  static #open(bytes: Uint8Array): ZtocView {
    // The same reads, in the same order, as decodeZtoc's, so that both
    // accept the same buffers and fail with the same message.
    const r = new FbReader(bytes);
    const root = readRoot(r);
    const [ms, n] = readTocVector(r, root);
    const tables = new Uint32Array(n);
    const starts = new Uint32Array(n);
    const lengths = new Uint32Array(n);
    const dirs = new Uint8Array(n);
    const offsets = new Float64Array(n);
    const sizes = new Float64Array(n);
    let sorted = true;
    const e: EntryShape = { nameStart: 0, nameLength: 0, dir: false, offset: 0, size: 0 };
    for (let i = 0; i < n; i++) {
      const t = r.indirect(ms + 4 * i);
      checkEntry(r, t, e);
      tables[i] = t;
      starts[i] = e.nameStart;
      lengths[i] = e.nameLength;
      dirs[i] = e.dir ? 1 : 0;
      offsets[i] = e.offset;
      sizes[i] = e.size;
      if (i > 0 && offsets[i] < offsets[i - 1]) sorted = false;
    }
    const ci = readCompressionInfo(r, root);
    const header: ZtocHeader = {
      version: root.version,
      buildToolIdentifier: root.buildToolIdentifier,
      compressedArchiveSize: root.compressedArchiveSize,
      uncompressedArchiveSize: root.uncompressedArchiveSize,
      compressionAlgorithm: ci.compressionAlgorithm,
      maxSpanId: ci.maxSpanId,
      spanDigests: ci.spanDigests,
      checkpoints: ci.checkpoints,
    };
    if (!sorted) {
      // The stable order of decodeZtoc's sortTocByOffset.
      const order = Array.from({ length: n }, (_, i) => i)
        .sort((a, b) => offsets[a] - offsets[b]);
      const permute = <T extends Uint32Array | Uint8Array | Float64Array>(a: T): T => {
        const out = a.slice() as T;
        for (let k = 0; k < n; k++) out[k] = a[order[k]];
        return out;
      };
      return ZtocView.#checked(
        bytes,
        r,
        header,
        permute(tables),
        permute(starts),
        permute(lengths),
        permute(dirs),
        permute(offsets),
        permute(sizes),
      );
    }
    return ZtocView.#checked(bytes, r, header, tables, starts, lengths, dirs, offsets, sizes);
  }

  static #checked(
    bytes: Uint8Array,
    r: FbReader,
    header: ZtocHeader,
    tables: Uint32Array,
    starts: Uint32Array,
    lengths: Uint32Array,
    dirs: Uint8Array,
    offsets: Float64Array,
    sizes: Float64Array,
  ): ZtocView {
    // tarHeaderOffsets' check: no entry's header lies after its data.
    let next = 0;
    for (let k = 0; k < offsets.length; k++) {
      if (next > offsets[k]) throw new BadInputError("invalid toc entry");
      next = Math.ceil((offsets[k] + sizes[k]) / 512) * 512;
    }
    return new ZtocView(bytes, r, header, tables, starts, lengths, dirs);
  }

  /** Entry k's name (raw bytes, a view). */
  name(k: number): Uint8Array {
    const s = this.nameStarts[k];
    return this.bytes.subarray(s, s + this.nameLengths[k]);
  }

  /** Whether entry k's type is `dir`. */
  isDir(k: number): boolean {
    return this.#dirs[k] === 1;
  }

  /** Entry k, decoded: equal to `decodeZtoc(bytes).toc[k]`. */
  entry(k: number): FileMetadata {
    if (!(Number.isInteger(k) && k >= 0 && k < this.length)) {
      throw new RangeError(`no TOC entry ${k} (the zTOC has ${this.length})`);
    }
    const r = this.#r;
    // One entry's PAX records are bounded by the buffer, as for the whole TOC.
    r.budget = r.len >>> 2;
    try {
      return readEntry(r, this.#tables[k], this.#shared);
    } catch (e) {
      throw unmarshalError(e);
    }
  }

  /**
   * Whether entry k is exactly `m` (same bytes, ASCII texts and numbers, no
   * PAX records), without decoding it: a quick test before {@link entry}.
   */
  matches(k: number, m: FileMetadata): boolean {
    if (!(Number.isInteger(k) && k >= 0 && k < this.length)) return false;
    return entryMatches(this.#r, this.#tables[k], m);
  }

  /** Every entry, decoded: `decodeZtoc(bytes).toc`. */
  toc(): FileMetadata[] {
    const r = this.#r;
    r.budget = r.len >>> 2;
    const shared = new Interner();
    const out = new Array<FileMetadata>(this.length);
    try {
      for (let k = 0; k < this.length; k++) out[k] = readEntry(r, this.#tables[k], shared);
    } catch (e) {
      throw unmarshalError(e);
    }
    return out;
  }

  /** The whole zTOC, as `decodeZtoc` gives it. */
  toZtoc(): Ztoc {
    return { ...this.header, toc: this.toc() };
  }
}
