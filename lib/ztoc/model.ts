/**
 * The zTOC data model (`soci-format.md` §3.2–3.3). Text that comes from a
 * tar header is kept as raw bytes so that non-UTF-8 names survive.
 *
 * @module
 */

/** One TOC entry. */
export interface FileMetadata {
  name: Uint8Array;
  /** `reg`, `dir`, `symlink`, `hardlink`, `char`, `block` or `fifo`. */
  type: string;
  uncompressedOffset: number;
  uncompressedSize: number;
  linkname: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  uname: Uint8Array;
  gname: Uint8Array;
  /** RFC 3339 text (`2023-11-14T22:13:20.5Z`), empty when out of range. */
  modTime: string;
  devmajor: number;
  devminor: number;
  /** All PAX records of the entry, sorted by key (byte order) when encoded. */
  xattrs: Array<[key: Uint8Array, value: Uint8Array]>;
}

/** `gzip` (enum 1) or `uncompressed` (enum 2); readers may see other names. */
export type CompressionAlgorithm = "gzip" | "uncompressed" | string;

/** A whole zTOC. */
export interface Ztoc {
  version: string;
  buildToolIdentifier: string;
  compressedArchiveSize: number;
  uncompressedArchiveSize: number;
  toc: FileMetadata[];
  compressionAlgorithm: CompressionAlgorithm;
  maxSpanId: number;
  /** `sha256:<hex>` per span; exactly `maxSpanId + 1` entries. */
  spanDigests: string[];
  /** The zinfo blob: gzip zinfo (§5.1) or TarZinfo flatbuffer (§5.6). */
  checkpoints: Uint8Array;
}
