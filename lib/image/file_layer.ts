/**
 * A layer that is a local file (`soci ztoc build layer.tar.gz`): its digest
 * is learnt while it is read, its compression from its first bytes.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { Layer } from "./layer.ts";

/**
 * Bytes per read from local files: large reads keep per-chunk costs low.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FILE_CHUNK, readFileChunks } from "./file_layer.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array(FILE_CHUNK + 5));
 * const sizes = [];
 * for await (const c of readFileChunks(path)) sizes.push(c.length);
 * assert.deepEqual(sizes, [FILE_CHUNK, 5]);
 * await Deno.remove(path);
 * ```
 */
export const FILE_CHUNK = 1 << 20;

/**
 * Reads a file from offset `start` (to `end`, or its end) in
 * {@link FILE_CHUNK} pieces. Each piece is a fresh buffer the consumer may
 * keep, unless `reuse` is set: then one buffer is read into again and again
 * (no garbage per chunk), so a piece is only valid until the next is asked
 * for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readFileChunks } from "./file_layer.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "hello");
 * let text = "";
 * for await (const c of readFileChunks(path, 1)) text += new TextDecoder().decode(c);
 * assert.ok(text === "ello");
 * await Deno.remove(path);
 * ```
 */
export async function* readFileChunks(
  path: string,
  start = 0,
  end = Infinity,
  options: { reuse?: boolean } = {},
): AsyncGenerator<Uint8Array> {
  const file = await Deno.open(path);
  try {
    if (start > 0) await file.seek(start, Deno.SeekMode.Start);
    let left = end - start;
    const shared = options.reuse ? new Uint8Array(Math.min(FILE_CHUNK, left)) : undefined;
    while (left > 0) {
      const buf = shared?.subarray(0, Math.min(FILE_CHUNK, left)) ??
        new Uint8Array(Math.min(FILE_CHUNK, left));
      const n = await file.read(buf);
      if (n === null) break;
      left -= n;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  } finally {
    file.close();
  }
}

/**
 * A {@link Layer} for a local `.tar.gz` or `.tar` file (format detected
 * from the bytes). Missing files are a NotFoundError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileLayer } from "./file_layer.ts";
 * const path = await Deno.makeTempFile();
 * const layer = await fileLayer(path);
 * assert.ok(layer.compression === "detect" && layer.descriptor.size === 0);
 * await Deno.remove(path);
 * ```
 */
export async function fileLayer(path: string): Promise<Layer> {
  let size: number;
  try {
    const st = await Deno.stat(path);
    if (!st.isFile) throw new NotFoundError(`${path}: not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new NotFoundError(`${path}: no such file`);
    throw e;
  }
  return {
    descriptor: { mediaType: "", digest: "", size },
    index: 0,
    compression: "detect",
    open: () => Promise.resolve(readFileChunks(path, 0, Infinity, { reuse: true })),
  };
}
