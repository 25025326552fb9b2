/**
 * The gzip zinfo blob (`soci-format.md` §5.1): a 12-byte header (checkpoint
 * count, span size) followed by packed 32,785-byte checkpoint records, all
 * little-endian. Version 2 stores every checkpoint; legacy version 1 omits
 * checkpoint 0.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { type Checkpoint, WINDOW_SIZE } from "./checkpoint.ts";

/** Size of the blob header: int32 count + int64 span size. */
export const ZINFO_HEADER_SIZE = 12;

/** Size of one packed checkpoint record: in, out (int64), bits (uint8), window. */
export const PACKED_CHECKPOINT_SIZE: number = 8 + 8 + 1 + WINDOW_SIZE;

/** A decoded gzip zinfo blob. */
export interface GzipZinfo {
  /** Span size requested when the checkpoints were generated. */
  spanSize: number;
  /** All checkpoints, checkpoint 0 included (synthesized for v1 blobs). */
  checkpoints: Checkpoint[];
  /** 2 when every checkpoint is stored, 1 for legacy blobs without checkpoint 0. */
  version: 1 | 2;
}

const TWO_32 = 4294967296;

function writeInt64(dv: DataView, pos: number, value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new BadInputError(`zinfo value ${value} is not an integer`);
  }
  dv.setBigInt64(pos, BigInt(value), true);
}

function readInt64(dv: DataView, pos: number): number {
  return dv.getInt32(pos + 4, true) * TWO_32 + dv.getUint32(pos, true);
}

/**
 * Serializes checkpoints to a version 2 gzip zinfo blob (every checkpoint
 * stored). A window shorter than 32 KiB is the tail of the output and is
 * zero-padded at the front; a longer one is a BadInputError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeGzipZinfo } from "./zinfo.ts";
 * const blob = encodeGzipZinfo(4194304, [
 *   { in: 10, out: 0, bits: 0, window: new Uint8Array(32768) },
 * ]);
 * assert.ok(blob.length === 12 + 32785);
 * ```
 */
export function encodeGzipZinfo(spanSize: number, checkpoints: Checkpoint[]): Uint8Array {
  const out = new Uint8Array(gzipZinfoSize(checkpoints.length));
  writeGzipZinfo(out, spanSize, checkpoints);
  return out;
}

/**
 * Size in bytes of a version 2 gzip zinfo blob of `count` checkpoints.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipZinfoSize } from "./zinfo.ts";
 * assert.equal(gzipZinfoSize(2), 12 + 2 * 32785);
 * ```
 */
export function gzipZinfoSize(count: number): number {
  return ZINFO_HEADER_SIZE + PACKED_CHECKPOINT_SIZE * count;
}

/**
 * {@link encodeGzipZinfo} into `out`, which must be zero-filled and
 * {@link gzipZinfoSize} bytes long (a zTOC writer puts the blob straight
 * into the zTOC's buffer this way, without a copy of its own).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeGzipZinfo, gzipZinfoSize, writeGzipZinfo } from "./zinfo.ts";
 * const cps = [{ in: 10, out: 0, bits: 0, window: new Uint8Array(32768).fill(1) }];
 * const out = new Uint8Array(gzipZinfoSize(1));
 * writeGzipZinfo(out, 1 << 22, cps);
 * assert.deepEqual(out, encodeGzipZinfo(1 << 22, cps));
 * ```
 */
export function writeGzipZinfo(out: Uint8Array, spanSize: number, checkpoints: Checkpoint[]): void {
  if (out.length !== gzipZinfoSize(checkpoints.length)) {
    throw new RangeError(
      `zinfo of ${checkpoints.length} checkpoints needs ${
        gzipZinfoSize(checkpoints.length)
      } bytes, got ${out.length}`,
    );
  }
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setInt32(0, checkpoints.length, true);
  writeInt64(dv, 4, spanSize);
  let pos = ZINFO_HEADER_SIZE;
  for (const cp of checkpoints) {
    const w = cp.window;
    if (w.length > WINDOW_SIZE) {
      throw new BadInputError(`checkpoint window is ${w.length} bytes, more than ${WINDOW_SIZE}`);
    }
    if (!(cp.bits >= 0 && cp.bits <= 7)) {
      throw new BadInputError(`checkpoint bits must be 0..7, got ${cp.bits}`);
    }
    writeInt64(dv, pos, cp.in);
    writeInt64(dv, pos + 8, cp.out);
    out[pos + 16] = cp.bits;
    out.set(w, pos + 17 + WINDOW_SIZE - w.length);
    pos += PACKED_CHECKPOINT_SIZE;
  }
}

/**
 * Parses a gzip zinfo blob. The version follows from the length (`12 +
 * 32785·n` → v2, `12 + 32785·(n−1)` → v1 with checkpoint 0 synthesized as
 * `in = 10, out = 0, bits = 0`, zero window). Windows are views into
 * `blob`, not copies.
 *
 * Errors (BadInputError): `empty checkpoints` for an empty blob, `cannot
 * convert blob to gzip_zinfo` for any other length.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeGzipZinfo, encodeGzipZinfo } from "./zinfo.ts";
 * const blob = encodeGzipZinfo(65536, [
 *   { in: 10, out: 0, bits: 0, window: new Uint8Array(32768) },
 *   { in: 900, out: 70000, bits: 3, window: new Uint8Array(32768).fill(7) },
 * ]);
 * const z = decodeGzipZinfo(blob);
 * assert.ok(z.version === 2 && z.spanSize === 65536 && z.checkpoints[1].bits === 3);
 * ```
 */
export function decodeGzipZinfo(blob: Uint8Array): GzipZinfo {
  if (blob.length === 0) throw new BadInputError("empty checkpoints");
  if (blob.length < ZINFO_HEADER_SIZE) {
    throw new BadInputError("cannot convert blob to gzip_zinfo");
  }
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const count = dv.getInt32(0, true);
  const spanSize = readInt64(dv, 4);
  const claimed = PACKED_CHECKPOINT_SIZE * count + ZINFO_HEADER_SIZE;
  let version: 1 | 2;
  if (claimed === blob.length) version = 2;
  else if (claimed - PACKED_CHECKPOINT_SIZE === blob.length) version = 1;
  else throw new BadInputError("cannot convert blob to gzip_zinfo");

  const checkpoints = new Array<Checkpoint>(count);
  let first = 0;
  if (version === 1) {
    checkpoints[0] = { in: 10, out: 0, bits: 0, window: new Uint8Array(WINDOW_SIZE) };
    first = 1;
  }
  let pos = ZINFO_HEADER_SIZE;
  for (let i = first; i < count; i++) {
    checkpoints[i] = {
      in: readInt64(dv, pos),
      out: readInt64(dv, pos + 8),
      bits: blob[pos + 16],
      window: blob.subarray(pos + 17, pos + PACKED_CHECKPOINT_SIZE),
    };
    pos += PACKED_CHECKPOINT_SIZE;
  }
  return { spanSize, checkpoints, version };
}
