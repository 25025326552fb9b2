/**
 * One entry of a tar stream as Go's `archive/tar` reader reports it, with
 * the offsets SOCI needs (`soci-format.md` §4).
 *
 * @module
 */

/**
 * A tar entry after prefix, PAX and GNU long-name handling. Text fields are
 * raw bytes: tar names need not be UTF-8.
 */
export interface TarEntry {
  /** Entry name (raw bytes, not cleaned). */
  name: Uint8Array;
  /** Typeflag character after `\0` mapping (`0` reg, `5` dir, `g` global PAX, …). */
  typeflag: string;
  /** Stream offset of the entry's first (meta) header block. */
  headerOffset: number;
  /** Stream offset of the entry's data: right after its last header block. */
  offset: number;
  /** Size field (after a PAX `size` override). */
  size: number;
  /** Link target (raw bytes). */
  linkname: Uint8Array;
  /** Raw numeric mode field. */
  mode: number;
  /** Owner user id (after PAX). */
  uid: number;
  /** Owner group id (after PAX). */
  gid: number;
  /** Owner user name (raw bytes; empty for V7). */
  uname: Uint8Array;
  /** Owner group name (raw bytes; empty for V7). */
  gname: Uint8Array;
  /** Modification time: whole seconds since the Unix epoch. */
  mtimeSeconds: number;
  /** Nanoseconds part of the modification time (from a PAX fraction). */
  mtimeNanos: number;
  /** Device major number (0 for V7). */
  devmajor: number;
  /** Device minor number (0 for V7). */
  devminor: number;
  /** Every PAX record of the entry, in the order read (later duplicates replace earlier ones). */
  pax: Array<[key: Uint8Array, value: Uint8Array]>;
}
