/**
 * Test helper: zTOC sample values, the upstream vector path, and a seeded
 * PRNG for fuzz-style tests.
 *
 * @module
 */
import type { FileMetadata, Ztoc } from "../../lib/ztoc/model.ts";

export { hex, prng } from "./bytes.ts";

const enc = new TextEncoder();

/** UTF-8 bytes of a JS string. */
export const u8 = (s: string): Uint8Array => enc.encode(s);

/** A TOC entry with every field empty/zero, overridden by `over`. */
export function entry(over: Partial<FileMetadata> = {}): FileMetadata {
  return {
    name: new Uint8Array(0),
    type: "",
    uncompressedOffset: 0,
    uncompressedSize: 0,
    linkname: new Uint8Array(0),
    mode: 0,
    uid: 0,
    gid: 0,
    uname: new Uint8Array(0),
    gname: new Uint8Array(0),
    modTime: "",
    devmajor: 0,
    devminor: 0,
    xattrs: [],
    ...over,
  };
}

/** A zTOC with neutral values, overridden by `over`. */
export function ztoc(over: Partial<Ztoc> = {}): Ztoc {
  return {
    version: "0.9",
    buildToolIdentifier: "AWS SOCI CLI v0.2",
    compressedArchiveSize: 0,
    uncompressedArchiveSize: 0,
    toc: [],
    compressionAlgorithm: "gzip",
    maxSpanId: 0,
    spanDigests: [],
    checkpoints: new Uint8Array(0),
    ...over,
  };
}

/** The upstream vector: the checked-in fixture (same bytes as /work/shared/vectors). */
export const UPSTREAM_VECTOR = new URL(
  "../../fixtures/vectors/upstream-v0.1-layer.ztoc",
  import.meta.url,
);

/** The original of the fixture, only present on the development machine. */
export const SHARED_UPSTREAM_VECTOR = "/work/shared/vectors/upstream-v0.1-layer.ztoc";
/** Whether {@link SHARED_UPSTREAM_VECTOR} is on this machine (tests of it are ignored if not). */
export const HAVE_SHARED_UPSTREAM_VECTOR: boolean = await Deno.stat(SHARED_UPSTREAM_VECTOR)
  .then(() => true, () => false);
