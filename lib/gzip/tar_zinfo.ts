/**
 * The zinfo of uncompressed tar layers (`soci-format.md` §5.6): a tiny
 * FlatBuffers table `zinfo.TarZinfo { version: int32; span_size: int64;
 * size: int64 }` stored in the zTOC's `checkpoints` vector.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { buildFlatBuffer } from "../go/flatbuffer_writer.ts";

/** A decoded TarZinfo. */
export interface TarZinfo {
  /** Format version (2 for everything upstream writes). */
  version: number;
  /** Span size: spans are `[i·spanSize, (i+1)·spanSize)` of the layer. */
  spanSize: number;
  /** Byte size of the layer file. */
  size: number;
}

/** The TarZinfo version upstream writes. */
export const TAR_ZINFO_VERSION = 2;

/**
 * Serializes a TarZinfo with upstream's build order (start table with 3
 * slots, add version, span_size, size; defaults omitted; finish), with the
 * library's FlatBuffers writer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeTarZinfo } from "./tar_zinfo.ts";
 * const blob = encodeTarZinfo(4194304, 20971520);
 * assert.ok(blob.length === 48);
 * ```
 */
export function encodeTarZinfo(
  spanSize: number,
  size: number,
  version: number = TAR_ZINFO_VERSION,
): Uint8Array {
  for (const v of [spanSize, size, version]) {
    if (!Number.isSafeInteger(v)) throw new BadInputError(`tar zinfo value ${v} is not an integer`);
  }
  return buildFlatBuffer((w) => {
    w.startTable(3);
    w.addInt32(0, version | 0, 0);
    w.addInt64(1, spanSize);
    w.addInt64(2, size);
    return w.endTable();
  });
}

/**
 * Parses a TarZinfo flatbuffer (any vtable layout; absent fields are 0).
 * Malformed bytes give BadInputError `cannot unmarshal tar zinfo: <reason>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTarZinfo, encodeTarZinfo } from "./tar_zinfo.ts";
 * const z = decodeTarZinfo(encodeTarZinfo(1024, 5000));
 * assert.ok(z.version === 2 && z.spanSize === 1024 && z.size === 5000);
 * ```
 */
export function decodeTarZinfo(blob: Uint8Array): TarZinfo {
  const len = blob.byteLength;
  const dv = new DataView(blob.buffer, blob.byteOffset, len);
  const need = (pos: number, size: number) => {
    if (pos + size > len) {
      throw new BadInputError(
        `cannot unmarshal tar zinfo: offset ${pos} + ${size} is out of range (length ${len})`,
      );
    }
  };
  need(0, 4);
  const table = dv.getUint32(0, true);
  need(table, 4);
  const vt = (table - dv.getInt32(table, true)) >>> 0;
  need(vt, 2);
  const vtsize = dv.getUint16(vt, true);
  const field = (id: number): number => {
    const slot = 4 + 2 * id;
    if (slot >= vtsize) return 0;
    need(vt + slot, 2);
    const off = dv.getUint16(vt + slot, true);
    return off === 0 ? 0 : (table + off) >>> 0;
  };
  const int64 = (id: number): number => {
    const pos = field(id);
    if (pos === 0) return 0;
    need(pos, 8);
    return dv.getInt32(pos + 4, true) * 4294967296 + dv.getUint32(pos, true);
  };
  const vpos = field(0);
  let version = 0;
  if (vpos !== 0) {
    need(vpos, 4);
    version = dv.getInt32(vpos, true);
  }
  return { version, spanSize: int64(1), size: int64(2) };
}
