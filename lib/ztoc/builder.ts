/**
 * Turns what one pass over a layer learned ({@link LayerScan}) into a
 * zTOC, with upstream's rules (`soci-format.md` §3.3, §4.3, §4.5, §5).
 *
 * @module
 */
import { UnsupportedError } from "../errors.ts";
import { encodeTarZinfo } from "../gzip/tar_zinfo.ts";
import { encodeGzipZinfo } from "../gzip/zinfo.ts";
import { BUILD_TOOL_IDENTIFIER, ZTOC_VERSION } from "../oci/media_types.ts";
import type { TarEntry } from "../tar/entry.ts";
import { formatModTime } from "../tar/mod_time.ts";
import type { FileMetadata, Ztoc } from "./model.ts";
import type { LayerScan } from "./scan.ts";
import { tarMaxSpanId } from "./spans.ts";

const TYPES: Record<string, string> = {
  "0": "reg",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

/**
 * The TOC entry of one tar entry. Entry types SOCI cannot index (global
 * PAX headers, sparse files, contiguous files, vendor types) are an
 * UnsupportedError with upstream's message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileMetadata } from "./builder.ts";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * const m = fileMetadata({
 *   name: bytes("etc/hosts"), typeflag: "0", headerOffset: 0, offset: 512, size: 10,
 *   linkname: bytes(""), mode: 0o644, uid: 0, gid: 0, uname: bytes("root"), gname: bytes("root"),
 *   mtimeSeconds: 0, mtimeNanos: 0, devmajor: 0, devminor: 0, pax: [],
 * });
 * assert.ok(m.type === "reg" && m.modTime === "1970-01-01T00:00:00Z");
 * ```
 */
export function fileMetadata(e: TarEntry): FileMetadata {
  const type = TYPES[e.typeflag];
  if (type === undefined) throw new UnsupportedError(`unsupported input tar entry '${e.typeflag}'`);
  return {
    name: e.name,
    type,
    uncompressedOffset: e.offset,
    uncompressedSize: e.size,
    linkname: e.linkname,
    mode: e.mode,
    uid: e.uid >>> 0,
    gid: e.gid >>> 0,
    uname: e.uname,
    gname: e.gname,
    modTime: formatModTime(e.mtimeSeconds, e.mtimeNanos),
    devmajor: e.devmajor,
    devminor: e.devminor,
    xattrs: e.pax,
  };
}

/** Options of {@link buildZtoc}. */
export interface BuildZtocOptions {
  /** Build tool identifier; default `AWS SOCI CLI v0.2`. */
  buildToolIdentifier?: string;
}

/**
 * Builds the zTOC of a scanned layer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanLayer } from "./scan.ts";
 * import { buildZtoc } from "./builder.ts";
 * import { gzipSync } from "node:zlib";
 * const scan = await scanLayer([gzipSync(new Uint8Array(1024))], {
 *   compression: "gzip", spanSize: 1 << 22,
 * });
 * const z = buildZtoc(scan);
 * assert.ok(z.maxSpanId === 0 && z.compressionAlgorithm === "gzip");
 * ```
 */
export function buildZtoc(scan: LayerScan, options: BuildZtocOptions = {}): Ztoc {
  const toc = scan.entries.map(fileMetadata);
  const gzip = scan.compression === "gzip";
  return {
    version: ZTOC_VERSION,
    buildToolIdentifier: options.buildToolIdentifier ?? BUILD_TOOL_IDENTIFIER,
    compressedArchiveSize: scan.size,
    uncompressedArchiveSize: scan.uncompressedSize,
    toc,
    compressionAlgorithm: gzip ? "gzip" : "uncompressed",
    maxSpanId: gzip ? scan.checkpoints.length - 1 : tarMaxSpanId(scan.size, scan.spanSize),
    spanDigests: scan.spanDigests,
    checkpoints: gzip
      ? encodeGzipZinfo(scan.spanSize, scan.checkpoints)
      : encodeTarZinfo(scan.spanSize, scan.size),
  };
}
