/**
 * The zTOC stage: each scanned layer's zTOC is built and encoded
 * (byte-compatible with upstream), and every zTOC, built or reused, gets
 * its descriptor for the index.
 *
 * @module
 */
import { DEFAULT_SPAN_SIZE } from "../oci/media_types.ts";
import { sha256Digest } from "../oci/digest.ts";
import { canDisableXattrs, ztocDescriptor } from "../soci/soci_index.ts";
import { buildZtoc } from "../ztoc/builder.ts";
import { decodeZtoc, encodeZtoc } from "../ztoc/codec.ts";
import {
  type BuiltLayer,
  type IndexedLayer,
  isIterable,
  type LayerResult,
  type ReusedLayer,
  type ScannedLayer,
  type SettledLayer,
  type StageInput,
  type ZtocBlob,
} from "./layer_result.ts";

/** What {@link ztoc} takes: scanned, built or reused layers (and settled ones, passed on). */
export type ZtocInput = ScannedLayer | BuiltLayer | ReusedLayer | SettledLayer;
/** What {@link ztoc} yields. */
export type ZtocOutput = IndexedLayer | SettledLayer;

/** A zTOC stage waiting for its input, for `pipe()`. */
export type ZtocStage = (input: StageInput<ZtocInput>) => AsyncGenerator<ZtocOutput>;

/** Options of {@link ztoc}. */
export interface ZtocOptions {
  /** Build tool identifier written into each zTOC; default `AWS SOCI CLI v0.2`. */
  buildToolIdentifier?: string;
  /**
   * Span size recorded in the descriptors of reused zTOCs (the span size
   * they were looked up with); scanned layers record their own. Default 4 MiB.
   */
  spanSize?: number;
  /** The `xattr` optimization (F§7.5): mark zTOCs without xattrs. */
  disableXattrs?: boolean;
  /**
   * Loads a reused zTOC's bytes when the xattr optimization needs its TOC
   * and the reused blob does not say whether it is xattr-free.
   */
  loadZtoc?: (blob: ZtocBlob) => Promise<Uint8Array>;
}

/**
 * Builds and encodes the zTOC of every scanned layer and the descriptor of
 * every zTOC for the index (a layer built by `spans({ buildZtoc })` or
 * reused already has its zTOC). The scan is dropped once encoded; the blob
 * keeps its bytes and decoded zTOC for the sinks that follow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileLayer } from "../image/file_layer.ts";
 * import { spans } from "./spans.ts";
 * import { ztoc } from "./ztoc.ts";
 * import { gzipSync } from "node:zlib";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, gzipSync(new Uint8Array(1024)));
 * for await (const r of ztoc(spans([{ layer: await fileLayer(path) }], { concurrency: 0 }))) {
 *   assert.match(r.ztoc!.digest, /^sha256:[0-9a-f]{64}$/);
 *   assert.equal(r.ztoc!.size, r.ztoc!.bytes?.length);
 * }
 * await Deno.remove(path);
 * ```
 */
export function ztoc(options?: ZtocOptions): ZtocStage;
/** Builds the zTOCs of the layers of `input` (see above). */
export function ztoc(
  input: StageInput<ZtocInput>,
  options?: ZtocOptions,
): AsyncGenerator<ZtocOutput>;
export function ztoc(
  a?: StageInput<ZtocInput> | ZtocOptions,
  b?: ZtocOptions,
): AsyncGenerator<ZtocOutput> | ZtocStage {
  if (!isIterable<ZtocInput>(a)) return (input) => ztocOf(input, a);
  return ztocOf(a, b);
}

async function* ztocOf(
  input: StageInput<ZtocInput>,
  options: ZtocOptions = {},
): AsyncGenerator<ZtocOutput> {
  for await (const r of input) {
    const g = r as LayerResult;
    if (g.skip !== undefined || g.error !== undefined) {
      yield r as SettledLayer;
      continue;
    }
    try {
      let blob = g.ztoc;
      if (blob === undefined) {
        const scan = (r as ScannedLayer).scan;
        const z = buildZtoc(scan, { buildToolIdentifier: options.buildToolIdentifier });
        const bytes = encodeZtoc(z);
        blob = {
          digest: sha256Digest(bytes),
          size: bytes.length,
          bytes,
          ztoc: z,
          // Only needed for the xattr optimization (a scan of every entry).
          xattrFree: options.disableXattrs ? canDisableXattrs(z.toc) : undefined,
        };
      }
      let disable = false;
      if (options.disableXattrs) {
        if (blob.xattrFree === undefined) {
          const z = blob.ztoc ?? decodeZtoc(blob.bytes ?? await options.loadZtoc!(blob));
          blob = { ...blob, xattrFree: canDisableXattrs(z.toc) };
        }
        disable = blob.xattrFree!;
      }
      // The span size the layer was scanned with; for a reused zTOC, the one asked for.
      const spanSize = g.scan?.spanSize ?? blob.spanSize ?? options.spanSize ?? DEFAULT_SPAN_SIZE;
      if (blob.spanSize !== spanSize) blob = { ...blob, spanSize };
      const descriptor = ztocDescriptor({
        digest: blob.digest,
        size: blob.size,
        layer: r.layer.descriptor,
        spanSize,
        disableXattrs: disable,
      });
      yield { layer: r.layer, ztoc: blob, descriptor };
    } catch (e) {
      yield { layer: r.layer, error: e as Error };
    }
  }
}
