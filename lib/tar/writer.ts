/**
 * Writing tar headers for the simple entries of an OCI archive (regular
 * files and directories with ASCII names, owner 0, time 0), as Go's
 * `archive/tar` writer formats them in USTAR: octal fields zero-padded
 * and NUL-terminated, `ustar\0` + `00`, names longer than 100 bytes split
 * into the 155-byte prefix at a `/`. No I/O: the caller places the bytes.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { BLOCK_SIZE, blockPadding } from "./header.ts";

/** What a header says about an entry. */
export interface TarHeaderSpec {
  /** Name (ASCII); directories end with `/`. */
  name: string;
  /** Permission bits, e.g. `0o444`. */
  mode: number;
  /** Size of the data that follows (0 for directories). */
  size: number;
  /** `file` (typeflag `0`) or `dir` (typeflag `5`). */
  type: "file" | "dir";
}

/** The two zero blocks that end an archive (Go's `Writer.Close`, no record padding). */
export const TAR_TRAILER: Uint8Array = new Uint8Array(2 * BLOCK_SIZE);

function putString(b: Uint8Array, off: number, len: number, s: string): void {
  for (let i = 0; i < s.length && i < len; i++) b[off + i] = s.charCodeAt(i);
}

function putOctal(b: Uint8Array, off: number, len: number, v: number, field: string): void {
  const digits = v.toString(8);
  if (!Number.isSafeInteger(v) || v < 0 || digits.length > len - 1) {
    throw new BadInputError(`tar header: ${field} ${v} does not fit in ${len - 1} octal digits`);
  }
  putString(b, off, len - 1, digits.padStart(len - 1, "0"));
  b[off + len - 1] = 0;
}

/** Splits a name into USTAR prefix and name parts, or throws when it cannot. */
function splitName(name: string): [prefix: string, name: string] {
  if (name.length <= 100) return ["", name];
  // The prefix is everything before a '/' such that prefix ≤ 155 and rest ≤ 100 bytes.
  for (let i = Math.min(name.length - 1, 155); i > 0; i--) {
    if (name[i] !== "/") continue;
    const rest = name.slice(i + 1);
    if (rest.length > 0 && rest.length <= 100) return [name.slice(0, i), rest];
  }
  throw new BadInputError(`tar header: name ${name} is too long for a USTAR header`);
}

/**
 * One 512-byte USTAR header block.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tarHeader } from "./writer.ts";
 * import { parseHeader } from "./header.ts";
 * const block = tarHeader({ name: "blobs/sha256/ab", mode: 0o444, size: 3, type: "file" });
 * const h = parseHeader(block, 0);
 * assert.equal(new TextDecoder().decode(h.name), "blobs/sha256/ab");
 * assert.equal(h.size, 3);
 * assert.equal(h.mode, 0o444);
 * assert.equal(h.format, "ustar");
 * ```
 */
export function tarHeader(spec: TarHeaderSpec): Uint8Array {
  if (!/^[\x20-\x7e]+$/.test(spec.name)) {
    throw new BadInputError(`tar header: name ${JSON.stringify(spec.name)} is not printable ASCII`);
  }
  const b = new Uint8Array(BLOCK_SIZE);
  const [prefix, name] = splitName(spec.name);
  putString(b, 0, 100, name);
  putOctal(b, 100, 8, spec.mode, "mode");
  putOctal(b, 108, 8, 0, "uid");
  putOctal(b, 116, 8, 0, "gid");
  putOctal(b, 124, 12, spec.type === "dir" ? 0 : spec.size, "size");
  putOctal(b, 136, 12, 0, "mtime");
  b[156] = spec.type === "dir" ? 0x35 : 0x30;
  putString(b, 257, 6, "ustar\0");
  putString(b, 263, 2, "00");
  putOctal(b, 329, 8, 0, "devmajor");
  putOctal(b, 337, 8, 0, "devminor");
  putString(b, 345, 155, prefix);
  // Checksum: the sum of all bytes with the checksum field as spaces.
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += b[i];
  putString(b, 148, 6, sum.toString(8).padStart(6, "0"));
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

/**
 * Bytes an entry takes in the archive: its header, its data and the
 * padding to the next block.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entrySpan } from "./writer.ts";
 * assert.equal(entrySpan(0), 512);
 * assert.equal(entrySpan(1), 1024);
 * assert.equal(entrySpan(512), 1024);
 * ```
 */
export function entrySpan(size: number): number {
  return BLOCK_SIZE + size + blockPadding(size);
}
