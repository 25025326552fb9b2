/**
 * Decoding of one 512-byte tar header block the way Go's `archive/tar`
 * reader does it (`soci-format.md` §4.2): checksum check, format detection by
 * magic, NUL-terminated strings, octal and base-256 numbers, USTAR/STAR
 * prefix join and the GNU atime/ctime fallback.
 *
 * @module
 */

import { BadInputError } from "../errors.ts";

/** Size of a tar block; headers and data padding are multiples of it. */
export const BLOCK_SIZE = 512;

/** Header layout family, decided by the magic/version/trailer fields. */
export type TarFormat = "v7" | "ustar" | "gnu" | "star";

/** The fields of one header block, before PAX/GNU meta headers are applied. */
export interface RawHeader {
  /** Typeflag byte as stored (`0x00` is the legacy regular file). */
  typeflag: number;
  /** Name (after the USTAR/STAR prefix join), raw bytes. */
  name: Uint8Array;
  /** Link target, raw bytes. */
  linkname: Uint8Array;
  /** Size field (may be negative when base-256 encoded). */
  size: number;
  /** Mode field as stored. */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Modification time in whole seconds since the Unix epoch. */
  mtime: number;
  /** User name; empty for V7 headers. */
  uname: Uint8Array;
  /** Group name; empty for V7 headers. */
  gname: Uint8Array;
  /** Device major number; 0 for V7 headers. */
  devmajor: number;
  /** Device minor number; 0 for V7 headers. */
  devminor: number;
  /** Header layout that was detected. */
  format: TarFormat;
}

const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * Builds the error Go reports as `archive/tar: invalid tar header`, with the
 * stream offset of the offending block and the reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { invalidHeader } from "./header.ts";
 * const e = invalidHeader(1024, "checksum mismatch");
 * assert.ok(e.message === "archive/tar: invalid tar header at offset 1024: checksum mismatch");
 * ```
 */
export function invalidHeader(offset: number, why: string): BadInputError {
  return new BadInputError(`archive/tar: invalid tar header at offset ${offset}: ${why}`);
}

/**
 * True when all 512 bytes of `block` starting at `start` are zero.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isZeroBlock } from "./header.ts";
 * assert.ok(isZeroBlock(new Uint8Array(512)));
 * ```
 */
export function isZeroBlock(block: Uint8Array, start = 0): boolean {
  const end = start + BLOCK_SIZE;
  for (let i = start; i < end; i++) {
    if (block[i] !== 0) return false;
  }
  return true;
}

/**
 * Copy of `b[start, start+len)` cut at the first NUL (Go `parseString`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cString } from "./header.ts";
 * const b = new Uint8Array([0x61, 0x62, 0, 0x63]);
 * assert.ok(cString(b, 0, 4).length === 2);
 * ```
 */
export function cString(b: Uint8Array, start: number, len: number): Uint8Array {
  const end = start + len;
  let i = start;
  while (i < end && b[i] !== 0) i++;
  return i === start ? EMPTY : b.slice(start, i);
}

/**
 * Parses an octal text field like Go's `parseOctal`: leading and trailing
 * spaces and NULs are ignored, the rest is cut at the first NUL and must be
 * octal digits. Returns NaN when the field is malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOctal } from "./header.ts";
 * const f = new TextEncoder().encode(" 0000644\0");
 * assert.ok(parseOctal(f, 0, f.length) === 0o644);
 * ```
 */
export function parseOctal(b: Uint8Array, start: number, len: number): number {
  let s = start;
  let e = start + len;
  while (s < e && (b[s] === 0x20 || b[s] === 0)) s++;
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0)) e--;
  let x = 0;
  for (let i = s; i < e; i++) {
    const c = b[i];
    if (c === 0) break;
    if (c < 0x30 || c > 0x37) return NaN;
    x = x * 8 + (c - 0x30);
  }
  return x;
}

const TWO_63 = 1n << 63n;

/**
 * Parses a numeric field like Go's `parseNumeric`: base-256 two's complement
 * when the first byte has bit 0x80 set (negative when bit 0x40 is set too),
 * octal text otherwise. Returns NaN on malformed text or int64 overflow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNumeric } from "./header.ts";
 * const f = new Uint8Array([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0x3b, 0x9a, 0xca, 0]);
 * assert.ok(parseNumeric(f, 0, 8) === 0);
 * assert.ok(parseNumeric(new Uint8Array([0xff, 0xff]), 0, 2) === -1);
 * ```
 */
export function parseNumeric(b: Uint8Array, start: number, len: number): number {
  if (len === 0 || (b[start] & 0x80) === 0) return parseOctal(b, start, len);
  const inv = (b[start] & 0x40) !== 0 ? 0xff : 0;
  let x = 0n;
  for (let i = 0; i < len; i++) {
    let c = b[start + i] ^ inv;
    if (i === 0) c &= 0x7f;
    if ((x >> 56n) > 0n) return NaN;
    x = (x << 8n) | BigInt(c);
  }
  if (x >= TWO_63) return NaN;
  return Number(inv ? -x - 1n : x);
}

function bytesEqual(b: Uint8Array, start: number, ascii: string): boolean {
  for (let i = 0; i < ascii.length; i++) {
    if (b[start + i] !== ascii.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Both header checksums Go accepts: the sum of the 512 bytes as unsigned and
 * as signed bytes, with the 8-byte checksum field counted as spaces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { headerChecksums } from "./header.ts";
 * const [unsigned, signed] = headerChecksums(new Uint8Array(512));
 * assert.ok(unsigned === 256 && signed === 256);
 * ```
 */
export function headerChecksums(b: Uint8Array, start = 0): [unsigned: number, signed: number] {
  // signed sum = unsigned sum - 256 * (number of bytes >= 0x80)
  let u = 0;
  let high = 0;
  const end = start + BLOCK_SIZE;
  for (let i = start; i < start + 148; i++) {
    const c = b[i];
    u += c;
    high += c >> 7;
  }
  for (let i = start + 156; i < end; i++) {
    const c = b[i];
    u += c;
    high += c >> 7;
  }
  u += 256; // the checksum field counted as 8 spaces
  return [u, u - 256 * high];
}

/**
 * Checks the checksum and detects the header layout (Go `getFormat`).
 * Returns an error reason instead of a format when the checksum is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectFormat } from "./header.ts";
 * // an all-zero block: its checksum field reads as 0, but its sum is 8 spaces = 256
 * assert.equal(detectFormat(new Uint8Array(512)), "checksum mismatch (header says 0, computed 256)");
 * ```
 */
export function detectFormat(b: Uint8Array, start = 0): TarFormat | string {
  const stored = parseOctal(b, start + 148, 8);
  if (Number.isNaN(stored)) return "checksum field is not octal text";
  const [u, s] = headerChecksums(b, start);
  if (stored !== u && stored !== s) {
    return `checksum mismatch (header says ${stored}, computed ${u})`;
  }
  if (bytesEqual(b, start + 257, "ustar\0")) {
    return bytesEqual(b, start + 508, "tar\0") ? "star" : "ustar";
  }
  if (bytesEqual(b, start + 257, "ustar ") && bytesEqual(b, start + 263, " \0")) return "gnu";
  return "v7";
}

function isAsciiCString(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0 || b[i] >= 0x80) return false;
  }
  return true;
}

function joinPrefix(prefix: Uint8Array, name: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + 1 + name.length);
  out.set(prefix, 0);
  out[prefix.length] = 0x2f;
  out.set(name, prefix.length + 1);
  return out;
}

/**
 * Decodes one header block (Go `readHeader` without the zero-block check).
 * `offset` is the stream position of the block, used in error messages.
 * Throws BadInputError (`archive/tar: invalid tar header at offset N: …`)
 * on a bad checksum or a malformed numeric field. The returned strings are
 * copies; `block` may be reused afterwards.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHeader } from "./header.ts";
 * const b = new Uint8Array(512);
 * const put = (s: string, at: number) => b.set(new TextEncoder().encode(s), at);
 * put("hello.txt", 0); put("0000644", 100); put("0000000", 108); put("0000000", 116);
 * put("00000000005", 124); put("14524770400", 136); put("0", 156); put("ustar\u000000", 257);
 * let sum = 0;
 * for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
 * put(sum.toString(8).padStart(6, "0") + "\u0000 ", 148);
 * const h = parseHeader(b, 0);
 * assert.equal(h.size, 5);
 * assert.equal(h.format, "ustar");
 * assert.equal(h.mtime, 1700000000);
 * ```
 */
export function parseHeader(block: Uint8Array, offset: number, start = 0): RawHeader {
  const format = detectFormat(block, start);
  if (format !== "v7" && format !== "ustar" && format !== "gnu" && format !== "star") {
    throw invalidHeader(offset, format);
  }
  const b = block;
  const o = start;
  let bad = "";
  const num = (at: number, len: number, field: string): number => {
    const v = parseNumeric(b, o + at, len);
    if (Number.isNaN(v) && bad === "") bad = field;
    return v;
  };
  const typeflag = b[o + 156];
  let name = cString(b, o, 100);
  const linkname = cString(b, o + 157, 100);
  const size = num(124, 12, "size");
  const mode = num(100, 8, "mode");
  const uid = num(108, 8, "uid");
  const gid = num(116, 8, "gid");
  const mtime = num(136, 12, "mtime");
  let uname = EMPTY;
  let gname = EMPTY;
  let devmajor = 0;
  let devminor = 0;
  if (format !== "v7") {
    uname = ownerName(b, o + 265);
    gname = ownerName(b, o + 297);
    devmajor = num(329, 8, "devmajor");
    devminor = num(337, 8, "devminor");
    let prefix = EMPTY;
    if (format === "ustar") {
      prefix = cString(b, o + 345, 155);
    } else if (format === "star") {
      prefix = cString(b, o + 345, 131);
      num(476, 12, "atime");
      num(488, 12, "ctime");
    } else {
      // GNU: atime/ctime replace the prefix. Files from Go < 1.8 put a
      // prefix there; Go falls back to it when the times do not parse.
      const atimeBad = b[o + 345] !== 0 && Number.isNaN(parseNumeric(b, o + 345, 12));
      const ctimeBad = b[o + 357] !== 0 && Number.isNaN(parseNumeric(b, o + 357, 12));
      if (atimeBad || ctimeBad) {
        const s = cString(b, o + 345, 155);
        if (isAsciiCString(s)) prefix = s;
      }
    }
    if (prefix.length > 0) name = joinPrefix(prefix, name);
  }
  if (bad !== "") throw invalidHeader(offset, `malformed ${bad} field`);
  return {
    typeflag,
    name,
    linkname,
    size,
    mode,
    uid,
    gid,
    mtime,
    uname,
    gname,
    devmajor,
    devminor,
    format,
  };
}

/** Owner names repeat in nearly every header: entries share one copy of each (a few). */
const OWNER_NAMES: Uint8Array[] = [];

function ownerName(b: Uint8Array, start: number): Uint8Array {
  let end = start;
  while (end < start + 32 && b[end] !== 0) end++;
  const n = end - start;
  if (n === 0) return EMPTY;
  next: for (const v of OWNER_NAMES) {
    if (v.length !== n) continue;
    for (let i = 0; i < n; i++) if (v[i] !== b[start + i]) continue next;
    return v;
  }
  const v = b.slice(start, end);
  if (OWNER_NAMES.length < 16) OWNER_NAMES.push(v);
  return v;
}

/**
 * True for the typeflags whose data Go never reads, whatever the size field
 * says: hard link, symlink, char/block device, directory, fifo.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isHeaderOnlyType } from "./header.ts";
 * assert.ok(isHeaderOnlyType(0x31) && !isHeaderOnlyType(0x30));
 * ```
 */
export function isHeaderOnlyType(typeflag: number): boolean {
  return typeflag >= 0x31 && typeflag <= 0x36;
}

/**
 * Bytes of padding after `size` data bytes up to the next block boundary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blockPadding } from "./header.ts";
 * assert.ok(blockPadding(513) === 511 && blockPadding(1024) === 0);
 * ```
 */
export function blockPadding(size: number): number {
  const r = size % BLOCK_SIZE;
  return r === 0 ? 0 : BLOCK_SIZE - r;
}
