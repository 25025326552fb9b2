/**
 * Reading a layer that has no zTOC: the whole layer is streamed once,
 * decompressed (gzip with the library's engine, zstd with `node:zlib`,
 * tar as is; the format is told from the first bytes), and checked against
 * its digest at the end. Used for its TOC (`ls`) and for one file's bytes
 * (`cat`); memory stays at a chunk or two whatever the layer's size.
 *
 * @module
 */
import { Duplex } from "node:stream";
import { createZstdDecompress } from "node:zlib";
import { BadInputError } from "../errors.ts";
import { checkpointInflater } from "../gzip/native_inflater.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { Sha256 } from "../oci/digest.ts";
import type { TarEntry } from "../tar/entry.ts";
import { TarReader } from "../tar/reader.ts";
import { fileMetadata } from "../ztoc/builder.ts";
import type { FileMetadata } from "../ztoc/model.ts";

/** How a streamed layer is compressed. */
export type StreamCompression = "gzip" | "zstd" | "tar";

/** Input pieces handed to the gzip engine at once (bounds the output of one push). */
const PIECE = 256 * 1024;

/**
 * The compression of a layer from its first bytes: gzip and zstd by their
 * magic numbers, anything else is taken for tar (the tar reader judges).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sniffCompression } from "./full_layer.ts";
 * assert.equal(sniffCompression(new Uint8Array([0x1f, 0x8b, 8])), "gzip");
 * assert.equal(sniffCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd])), "zstd");
 * assert.equal(sniffCompression(new Uint8Array(512)), "tar");
 * ```
 */
export function sniffCompression(head: Uint8Array): StreamCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (
    head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f &&
    head[3] === 0xfd
  ) return "zstd";
  return "tar";
}

async function* gunzip(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const inflater = checkpointInflater(Number.MAX_SAFE_INTEGER, {
    data: (bytes) => out.push(bytes.slice()),
  });
  let ok = false;
  try {
    for await (const chunk of chunks) {
      for (let off = 0; off < chunk.length; off += PIECE) {
        inflater.push(chunk.subarray(off, off + PIECE));
        while (out.length > 0) yield out.shift()!;
      }
    }
    inflater.end();
    ok = true;
  } finally {
    if (!ok) inflater.free();
  }
}

async function* unzstd(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const { readable, writable } = Duplex.toWeb(createZstdDecompress());
  const writer = (writable as WritableStream<Uint8Array>).getWriter();
  let failed: unknown;
  const pump = (async () => {
    try {
      for await (const chunk of chunks) await writer.write(chunk.slice());
      await writer.close();
    } catch (e) {
      failed = e;
      await writer.abort(e).catch(() => {});
    }
  })();
  const reader = (readable as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        if (failed !== undefined) throw failed;
        throw new BadInputError(`zstd data is corrupt: ${(e as Error).message}`);
      }
      if (r.done) break;
      yield new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    }
    await pump;
    if (failed !== undefined) throw failed;
  } finally {
    await reader.cancel().catch(() => {});
    await pump;
  }
}

/**
 * Decompresses a layer stream into its tar bytes, hashing the compressed
 * bytes on the way; once the stream ends, its digest and size must match
 * `layer` (a `BadInputError` naming both digests otherwise). Yielded chunks
 * may be views the next step reuses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { tarBytes } from "./full_layer.ts";
 * import { sha256Digest } from "../oci/digest.ts";
 * const tar = new Uint8Array(1024);
 * const gz = gzipSync(tar);
 * const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   digest: sha256Digest(gz), size: gz.length };
 * let n = 0;
 * for await (const c of tarBytes([gz], layer)) n += c.length;
 * assert.equal(n, 1024);
 * ```
 */
export async function* tarBytes(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  layer: Descriptor,
): AsyncGenerator<Uint8Array> {
  const hash = new Sha256();
  const head: Uint8Array[] = [];
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of chunks) {
      hash.update(chunk);
      yield chunk;
    }
  }
  // The first bytes tell the format; they are kept and replayed.
  const src = hashed();
  let headSize = 0;
  let ended = false;
  while (headSize < 4) {
    const r = await src.next();
    if (r.done) {
      ended = true;
      break;
    }
    head.push(r.value.slice());
    headSize += r.value.length;
  }
  const first = new Uint8Array(headSize);
  let at = 0;
  for (const h of head) {
    first.set(h, at);
    at += h.length;
  }
  const compression = sniffCompression(first);
  async function* all(): AsyncGenerator<Uint8Array> {
    if (first.length > 0) yield first;
    if (ended) return;
    for (;;) {
      const r = await src.next();
      if (r.done) return;
      yield r.value;
    }
  }
  try {
    if (compression === "gzip") yield* gunzip(all());
    else if (compression === "zstd") yield* unzstd(all());
    else yield* all();
  } finally {
    await src.return(undefined);
  }
  const digest = hash.digest();
  if (digest !== layer.digest || hash.size !== layer.size) {
    throw new BadInputError(
      `layer ${layer.digest} does not match its descriptor: got ${digest} (${hash.size} bytes, ` +
        `expected ${layer.size})`,
    );
  }
}

/**
 * The TOC of a layer read in full: one entry per tar entry, as a zTOC
 * would list them (offsets in the tar stream).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fullLayerToc } from "./full_layer.ts";
 * import { sha256Digest } from "../oci/digest.ts";
 * const tar = new Uint8Array(1024); // an empty archive
 * const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar",
 *   digest: sha256Digest(tar), size: tar.length };
 * assert.deepEqual(await fullLayerToc([tar], layer), []);
 * ```
 */
export async function fullLayerToc(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  layer: Descriptor,
): Promise<FileMetadata[]> {
  const entries: TarEntry[] = [];
  const tar = new TarReader((e) => entries.push(e));
  for await (const bytes of tarBytes(chunks, layer)) {
    if (!tar.done) tar.push(bytes);
  }
  tar.end();
  return entries.map((e) => fileMetadata(e));
}

/**
 * The bytes of one entry of a layer read in full: `[offset, offset + size)`
 * of its tar stream. The rest of the layer is read too, so that its digest
 * is checked (a mismatch fails the stream at its end).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fullLayerRange } from "./full_layer.ts";
 * import { sha256Digest } from "../oci/digest.ts";
 * const tar = new Uint8Array(2048).map((_, i) => i % 256);
 * const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar",
 *   digest: sha256Digest(tar), size: tar.length };
 * const parts: number[] = [];
 * for await (const p of fullLayerRange([tar], layer, 600, 3)) parts.push(...p);
 * assert.deepEqual(parts, [600 % 256, 601 % 256, 602 % 256]);
 * ```
 */
export async function* fullLayerRange(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  layer: Descriptor,
  offset: number,
  size: number,
): AsyncGenerator<Uint8Array> {
  let pos = 0;
  const end = offset + size;
  for await (const bytes of tarBytes(chunks, layer)) {
    const a = Math.max(offset, pos);
    const b = Math.min(end, pos + bytes.length);
    if (b > a) yield bytes.slice(a - pos, b - pos);
    pos += bytes.length;
  }
  if (pos < end) {
    throw new BadInputError(
      `layer ${layer.digest} ends at tar byte ${pos}, before the end of the file (${end})`,
    );
  }
}
