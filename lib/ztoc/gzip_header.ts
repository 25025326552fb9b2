/**
 * Parsing a gzip member header (RFC 1952 §2.3), for the snapshotter's
 * check that the bytes before a zTOC's first span are one
 * (`soci-format.md` §5.8).
 *
 * @module
 */

/**
 * The length of the gzip header at the start of `bytes`, or a text saying
 * why it is not one (`undefined` length). Go's `gzip.Reader` rules: magic
 * `1f 8b`, method 8 (deflate), no reserved flag bits; FEXTRA, FNAME,
 * FCOMMENT and FHCRC fields skipped (the header CRC is not checked).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { gzipHeaderLength } from "./gzip_header.ts";
 * assert.equal(gzipHeaderLength(gzipSync(new Uint8Array(1))).length, 10);
 * assert.match(gzipHeaderLength(new Uint8Array([1, 2, 3])).problem!, /magic/);
 * ```
 */
export function gzipHeaderLength(bytes: Uint8Array): { length?: number; problem?: string } {
  const short = { problem: `the gzip header is cut short (${bytes.length} bytes)` };
  if (bytes.length < 10) {
    if (bytes.length >= 2 && (bytes[0] !== 0x1f || bytes[1] !== 0x8b)) {
      return { problem: "no gzip magic number" };
    }
    return short;
  }
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return { problem: "no gzip magic number" };
  if (bytes[2] !== 8) return { problem: `unknown gzip compression method ${bytes[2]}` };
  const flags = bytes[3];
  if (flags & 0xe0) return { problem: "reserved gzip header flags are set" };
  let at = 10;
  if (flags & 0x04) {
    if (at + 2 > bytes.length) return short;
    const xlen = bytes[at] | (bytes[at + 1] << 8);
    at += 2 + xlen;
    if (at > bytes.length) return short;
  }
  for (const bit of [0x08, 0x10]) {
    if (flags & bit) {
      const nul = bytes.indexOf(0, at);
      if (nul < 0) return short;
      at = nul + 1;
    }
  }
  if (flags & 0x02) {
    at += 2;
    if (at > bytes.length) return short;
  }
  return { length: at };
}
