/**
 * The zTOC data model (`soci-format.md` §3.2–3.3). Text that comes from a
 * tar header is kept as raw bytes so that non-UTF-8 names survive.
 *
 * @module
 */

/** One TOC entry. */
export interface FileMetadata {
  /** Entry name, raw bytes exactly as the tar reader reports it. */
  name: Uint8Array;
  /** `reg`, `dir`, `symlink`, `hardlink`, `char`, `block` or `fifo`. */
  type: string;
  /** Offset of the entry's data in the uncompressed tar stream. */
  uncompressedOffset: number;
  /** Size field of the header (after a PAX override). */
  uncompressedSize: number;
  /** Link target (raw bytes). */
  linkname: Uint8Array;
  /** Raw numeric mode field of the header. */
  mode: number;
  /** Owner user id (uint32). */
  uid: number;
  /** Owner group id (uint32). */
  gid: number;
  /** Owner user name (raw bytes). */
  uname: Uint8Array;
  /** Owner group name (raw bytes). */
  gname: Uint8Array;
  /** RFC 3339 text (`2023-11-14T22:13:20.5Z`), empty when out of range. */
  modTime: string;
  /** Device major number. */
  devmajor: number;
  /** Device minor number. */
  devminor: number;
  /** All PAX records of the entry, sorted by key (byte order) when encoded. */
  xattrs: Array<[key: Uint8Array, value: Uint8Array]>;
}

/** `gzip` (enum 1) or `uncompressed` (enum 2); readers may see other names. */
export type CompressionAlgorithm = "gzip" | "uncompressed" | string;

/** A whole zTOC. */
export interface Ztoc {
  /** zTOC version, `0.9`. */
  version: string;
  /** Build tool identifier, `AWS SOCI CLI v0.2`. */
  buildToolIdentifier: string;
  /** Size of the layer blob. */
  compressedArchiveSize: number;
  /** Tar end position (after the end-of-archive marker). */
  uncompressedArchiveSize: number;
  /** One entry per tar entry. */
  toc: FileMetadata[];
  /** `gzip` or `uncompressed`. */
  compressionAlgorithm: CompressionAlgorithm;
  /** Number of spans − 1. */
  maxSpanId: number;
  /** `sha256:<hex>` per span; exactly `maxSpanId + 1` entries. */
  spanDigests: string[];
  /** The zinfo blob: gzip zinfo (§5.1) or TarZinfo flatbuffer (§5.6). */
  checkpoints: Uint8Array;
}

/** Everything of a zTOC but its TOC: what reading a file's bytes needs. */
export type ZtocHeader = Omit<Ztoc, "toc">;
