/**
 * Span geometry of a zTOC: one {@link Zinfo} view over both zinfo kinds
 * (gzip checkpoints, `soci-format.md` §5.1/§5.3/§5.4, and uncompressed-tar
 * TarZinfo, §5.6), plus the snapshotter's layer-independent checks (§5.8).
 *
 * @module
 */
import { BadInputError, UnsupportedError } from "../errors.ts";
import type { Checkpoint } from "../gzip/checkpoint.ts";
import { decodeGzipZinfo } from "../gzip/zinfo.ts";
import { decodeTarZinfo } from "../gzip/tar_zinfo.ts";
import { sortTocByOffset, tarHeaderOffsets } from "./codec.ts";
import type { Ztoc, ZtocHeader } from "./model.ts";

/** How the spans of one layer map to compressed and uncompressed bytes. */
export interface Zinfo {
  /** `gzip` (checkpoints) or `tar` (fixed-size spans of an uncompressed layer). */
  kind: "gzip" | "tar";
  /** Span size: gzip zinfo header field, or TarZinfo `span_size`. */
  spanSize: number;
  /** gzip: checkpoints.length; tar: max_span_id + 1 (F§5.6). */
  numSpans: number;
  /** The gzip checkpoints; empty for tar. */
  checkpoints: Checkpoint[];
  /** The span holding uncompressed `offset` (F§5.4). */
  spanOf(offset: number): number;
  /** [start, end) of span i in the compressed layer (F§5.3 / F§5.6). */
  compressedRange(i: number, compressedSize: number): [number, number];
  /** [start, end) of span i in the uncompressed stream. */
  uncompressedRange(i: number, uncompressedSize: number): [number, number];
}

function checkSpan(i: number, n: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= n) {
    throw new BadInputError(`span ${i} does not exist (the zinfo has ${n} spans)`);
  }
}

/**
 * The {@link Zinfo} of gzip checkpoints. `spanOf` gives what upstream's
 * scan gives (advance from checkpoint 0 while the next checkpoint's `out` ≤
 * offset) in O(log n), also when the `out` values are out of order: the
 * scan stops before the first later checkpoint whose `out` > offset, found
 * by a binary search over the running maximum of the `out` values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipZinfo } from "./spans.ts";
 * const w = new Uint8Array(32768);
 * const z = gzipZinfo(65536, [
 *   { in: 10, out: 0, bits: 0, window: w },
 *   { in: 5000, out: 70000, bits: 3, window: w },
 * ]);
 * assert.ok(z.spanOf(70000) === 1);
 * assert.ok(z.compressedRange(1, 9000)[0] === 4999);
 * ```
 */
export function gzipZinfo(spanSize: number, checkpoints: Checkpoint[]): Zinfo {
  const n = checkpoints.length;
  let monotonic = true;
  for (let i = 1; i < n; i++) {
    if (checkpoints[i].out < checkpoints[i - 1].out) {
      monotonic = false;
      break;
    }
  }
  // maxOut[i] = max(out_1 .. out_i): never decreases, so "the first i ≥ 1
  // with out_i > offset" is the first i with maxOut[i] > offset.
  let maxOut: Float64Array | undefined;
  if (!monotonic) {
    maxOut = new Float64Array(n);
    maxOut[0] = -Infinity;
    for (let i = 1; i < n; i++) maxOut[i] = Math.max(maxOut[i - 1], checkpoints[i].out);
  }
  return {
    kind: "gzip",
    spanSize,
    numSpans: n,
    checkpoints,
    spanOf(offset: number): number {
      if (n === 0) return 0;
      if (maxOut !== undefined) {
        // Smallest i in [1, n) with maxOut[i] > offset; the scan stops at i − 1.
        let lo = 1;
        let hi = n;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (maxOut[mid] > offset) hi = mid;
          else lo = mid + 1;
        }
        return lo - 1;
      }
      // Largest i with out_i <= offset (0 if none).
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (checkpoints[mid].out <= offset) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    },
    compressedRange(i: number, compressedSize: number): [number, number] {
      checkSpan(i, n);
      const cp = checkpoints[i];
      const start = cp.bits !== 0 ? cp.in - 1 : cp.in;
      const end = i === n - 1 ? compressedSize : checkpoints[i + 1].in;
      return [start, end];
    },
    uncompressedRange(i: number, uncompressedSize: number): [number, number] {
      checkSpan(i, n);
      const end = i === n - 1 ? uncompressedSize : checkpoints[i + 1].out;
      return [checkpoints[i].out, end];
    },
  };
}

/**
 * max_span_id of an uncompressed layer (`soci-format.md` §5.6):
 * `size / spanSize`, minus 1 when `size` is a multiple of `spanSize`
 * (so a 0-byte layer gives −1). A span size ≤ 0 is a BadInputError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tarMaxSpanId } from "./spans.ts";
 * assert.ok(tarMaxSpanId(20971520, 4194304) === 4);
 * assert.ok(tarMaxSpanId(20971521, 4194304) === 5);
 * ```
 */
export function tarMaxSpanId(size: number, spanSize: number): number {
  if (!(spanSize > 0)) throw new BadInputError(`invalid tar zinfo: span size ${spanSize}`);
  const id = Math.floor(size / spanSize);
  return size % spanSize === 0 ? id - 1 : id;
}

/**
 * The {@link Zinfo} of an uncompressed layer of `size` bytes cut into
 * `spanSize` spans; compressed and uncompressed offsets are the same, and
 * the last span ends at the size passed to the range functions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tarZinfo } from "./spans.ts";
 * const z = tarZinfo(1024, 3000);
 * assert.ok(z.numSpans === 3 && z.spanOf(2048) === 2);
 * assert.ok(z.compressedRange(2, 3000)[1] === 3000);
 * ```
 */
export function tarZinfo(spanSize: number, size: number): Zinfo {
  if (!(size >= 0)) throw new BadInputError(`invalid tar zinfo: size ${size}`);
  const n = tarMaxSpanId(size, spanSize) + 1;
  const range = (i: number, total: number): [number, number] => {
    checkSpan(i, n);
    return [i * spanSize, i === n - 1 ? total : (i + 1) * spanSize];
  };
  return {
    kind: "tar",
    spanSize,
    numSpans: n,
    checkpoints: [],
    spanOf: (offset: number) => Math.trunc(offset / spanSize),
    compressedRange: range,
    uncompressedRange: range,
  };
}

/**
 * Parses the zinfo of a zTOC with the codec its `compressionAlgorithm`
 * selects (`soci-format.md` §3.5): `gzip` → gzip zinfo, `uncompressed` (or
 * `unknown`) → TarZinfo, `zstd` → UnsupportedError `not implemented: zstd`,
 * anything else → BadInputError `unexpected compression algorithm: <name>`.
 * Blob errors are those of the codecs (`empty checkpoints`, …).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zinfoOf } from "./spans.ts";
 * import { encodeTarZinfo } from "../gzip/tar_zinfo.ts";
 * const zi = zinfoOf({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 3000,
 *   uncompressedArchiveSize: 3000, compressionAlgorithm: "uncompressed",
 *   maxSpanId: 2, spanDigests: [], checkpoints: encodeTarZinfo(1024, 3000),
 * });
 * assert.ok(zi.kind === "tar" && zi.numSpans === 3);
 * ```
 */
export function zinfoOf(z: ZtocHeader): Zinfo {
  switch (z.compressionAlgorithm) {
    case "gzip": {
      const g = decodeGzipZinfo(z.checkpoints);
      return gzipZinfo(g.spanSize, g.checkpoints);
    }
    case "uncompressed":
    case "unknown": {
      const t = decodeTarZinfo(z.checkpoints);
      return tarZinfo(t.spanSize, t.size);
    }
    case "zstd":
      throw new UnsupportedError("not implemented: zstd");
    default:
      throw new BadInputError(`unexpected compression algorithm: ${z.compressionAlgorithm}`);
  }
}

/**
 * The checks the snapshotter applies to a zTOC before using it that need no
 * layer bytes (`soci-format.md` §5.8): the TOC loads (offset order, no
 * overlapping entries), the zinfo parses, `maxSpanId` equals the value the
 * zinfo implies, there is one span digest per span, and every span but the
 * last is non-empty and after the previous one, compressed and
 * uncompressed. Throws BadInputError (or UnsupportedError for zstd).
 *
 * @example
 * ```ts
 * import { validateZtoc } from "./spans.ts";
 * import { encodeTarZinfo } from "../gzip/tar_zinfo.ts";
 * validateZtoc({
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 3000,
 *   uncompressedArchiveSize: 3000, toc: [], compressionAlgorithm: "uncompressed",
 *   maxSpanId: 2, spanDigests: ["sha256:" + "a".repeat(64), "", ""],
 *   checkpoints: encodeTarZinfo(1024, 3000),
 * });
 * ```
 */
export function validateZtoc(z: Ztoc): void {
  tarHeaderOffsets(sortTocByOffset(z.toc));
  validateZtocHeader(z);
}

/**
 * {@link validateZtoc} without the TOC check (for a `ZtocView`, which made
 * it when it opened): the zinfo parses and agrees with `maxSpanId`, the
 * span digests and itself. Returns the zinfo.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateZtocHeader } from "./spans.ts";
 * import { encodeTarZinfo } from "../gzip/tar_zinfo.ts";
 * const header = {
 *   version: "0.9", buildToolIdentifier: "t", compressedArchiveSize: 3000,
 *   uncompressedArchiveSize: 3000, compressionAlgorithm: "uncompressed",
 *   maxSpanId: 2, spanDigests: ["", "", ""], checkpoints: encodeTarZinfo(1024, 3000),
 * };
 * assert.equal(validateZtocHeader(header).numSpans, 3);
 * assert.throws(() => validateZtocHeader({ ...header, maxSpanId: 1 }), /max_span_id is 1/);
 * ```
 */
export function validateZtocHeader(z: ZtocHeader): Zinfo {
  const zi = zinfoOf(z);
  const derived = zi.numSpans - 1;
  if (z.maxSpanId !== derived) {
    throw new BadInputError(
      `invalid ztoc: max_span_id is ${z.maxSpanId} but the zinfo has ${zi.numSpans} spans`,
    );
  }
  if (z.spanDigests.length !== z.maxSpanId + 1) {
    throw new BadInputError(
      `invalid ztoc: ${z.spanDigests.length} span digests for ${z.maxSpanId + 1} spans`,
    );
  }
  for (let i = 0; i < zi.numSpans - 1; i++) {
    const [cs, ce] = zi.compressedRange(i, z.compressedArchiveSize);
    const [us, ue] = zi.uncompressedRange(i, z.uncompressedArchiveSize);
    if (!(cs < ce) || !(us < ue)) {
      throw new BadInputError(
        `invalid ztoc: span ${i} is empty or out of order ` +
          `(compressed [${cs}, ${ce}), uncompressed [${us}, ${ue}))`,
      );
    }
  }
  return zi;
}
