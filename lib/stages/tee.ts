/**
 * The tee stage: a layer that is read for its scan can also be copied
 * somewhere from the same bytes — to a registry upload, a layout file, an
 * archive — so that a conversion reads each layer once. Placed before
 * `spans()`, it wraps the `open()` of every layer still to be scanned: the
 * chunks go to the sink (which takes them, applying back-pressure) before
 * the scanner sees them, and the sink is committed when the scanner has
 * read the last chunk, or aborted when it stops early.
 *
 * @module
 */
import type { Layer } from "../image/layer.ts";
import type { BlobSink } from "../image/writer.ts";
import { isIterable, type LayerResult, type StageInput } from "./layer_result.ts";
import type { ReuseOutput } from "./reuse.ts";

/** Where a layer's bytes also go: a sink, or `undefined` when no copy is needed. */
export type SinkFor = (layer: Layer) => Promise<BlobSink | undefined>;

/** A tee stage waiting for its input, for `pipe()`. */
export type TeeStage = (input: StageInput<ReuseOutput>) => AsyncGenerator<ReuseOutput>;

/**
 * The chunks of `chunks`, each written to `sink` before it is passed on;
 * the sink is committed after the last chunk (a failure of the commit is
 * the reader's failure) and aborted when the reader stops early or the
 * source fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { teeChunks } from "./tee.ts";
 * const copied: number[] = [];
 * let committed = false;
 * const sink = { write: async (c: Uint8Array) => { copied.push(...c); },
 *   commit: async () => { committed = true; }, abort: async () => {} };
 * const seen: number[] = [];
 * for await (const c of teeChunks([new Uint8Array([1, 2]), new Uint8Array([3])], sink)) seen.push(...c);
 * assert.deepEqual(seen, [1, 2, 3]);
 * assert.deepEqual(copied, [1, 2, 3]);
 * assert.ok(committed);
 * ```
 */
export async function* teeChunks(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  sink: BlobSink,
): AsyncGenerator<Uint8Array> {
  let committed = false;
  try {
    for await (const chunk of chunks) {
      await sink.write(chunk);
      yield chunk;
    }
    await sink.commit();
    committed = true;
  } finally {
    if (!committed) await sink.abort().catch(() => {});
  }
}

/**
 * Wraps the `open()` of every layer still to be scanned (not settled, no
 * zTOC) so that its bytes also go to the sink `sinkFor` gives (asked when
 * the layer is opened, so only layers that are read get one); other
 * layers pass unchanged. A failing `sinkFor` fails the layer's read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileLayer } from "../image/file_layer.ts";
 * import { spans } from "./spans.ts";
 * import { tee } from "./tee.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array(2048)); // an empty tar: two zero blocks, and more
 * let copied = 0;
 * const sink = { write: async (c: Uint8Array) => { copied += c.length; },
 *   commit: async () => {}, abort: async () => {} };
 * const layer = { ...(await fileLayer(path)), compression: "uncompressed" as const };
 * for await (const r of spans(tee(async () => sink)([{ layer }]), { concurrency: 0 })) {
 *   assert.equal(r.scan?.size, 2048);
 * }
 * assert.equal(copied, 2048);
 * await Deno.remove(path);
 * ```
 */
export function tee(sinkFor: SinkFor): TeeStage {
  return async function* (input: StageInput<ReuseOutput>): AsyncGenerator<ReuseOutput> {
    if (!isIterable<ReuseOutput>(input)) throw new TypeError("tee: the stage needs an input");
    for await (const r of input) {
      const g = r as LayerResult;
      if (g.skip !== undefined || g.error !== undefined || g.ztoc !== undefined) {
        yield r;
        continue;
      }
      const layer = r.layer;
      const wrapped: Layer = {
        ...layer,
        open: async () => {
          const sink = await sinkFor(layer);
          let chunks: AsyncIterable<Uint8Array>;
          try {
            chunks = await layer.open();
          } catch (e) {
            await sink?.abort().catch(() => {});
            throw e;
          }
          return sink ? teeChunks(chunks, sink) : chunks;
        },
      };
      yield { ...r, layer: wrapped } as ReuseOutput;
    }
  };
}
