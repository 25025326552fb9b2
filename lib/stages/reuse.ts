/**
 * The reuse stage: layers for which a zTOC already exists get it without
 * being read (upstream's rule 5 of `soci-format.md` §7.3).
 *
 * @module
 */
import type { Layer } from "../image/layer.ts";
import {
  isIterable,
  type LayerResult,
  type PendingLayer,
  type ReusedLayer,
  type SettledLayer,
  type StageInput,
  type ZtocBlob,
} from "./layer_result.ts";

/** Looks up an existing zTOC for a layer (`undefined`: none, the layer is to be scanned). */
export type ZtocFinder = (layer: Layer) => Promise<ZtocBlob | undefined>;

/** What {@link reuse} yields. */
export type ReuseOutput = PendingLayer | ReusedLayer | SettledLayer;

/** A reuse stage waiting for its input, for `pipe()`. */
export type ReuseStage = (
  input: StageInput<PendingLayer | SettledLayer>,
) => AsyncGenerator<ReuseOutput>;

/**
 * Passes every layer on; a pending layer for which `find` knows a zTOC
 * comes out with it (`reused: true` unless `find` says otherwise), so that
 * `spans()` does not read it. Lookups run one at a time, in layer order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reuse } from "./reuse.ts";
 * import type { Layer } from "../image/layer.ts";
 * const layer = (digest: string): Layer => ({
 *   descriptor: { mediaType: "application/vnd.oci.image.layer.v1.tar", digest, size: 1 },
 *   index: 0, compression: "uncompressed",
 *   open: () => Promise.resolve((async function* () {})()),
 * });
 * const known = { digest: "sha256:" + "1".repeat(64), size: 10 };
 * const out = [];
 * for await (const r of reuse([{ layer: layer("a") }, { layer: layer("b") }], async (l) =>
 *   l.descriptor.digest === "a" ? known : undefined
 * )) out.push(r.ztoc?.reused ?? false);
 * assert.deepEqual(out, [true, false]);
 * ```
 */
export function reuse(find: ZtocFinder): ReuseStage;
/** The layers of `input`, with the zTOCs `find` knows (see above). */
export function reuse(
  input: StageInput<PendingLayer | SettledLayer>,
  find: ZtocFinder,
): AsyncGenerator<ReuseOutput>;
export function reuse(
  a: StageInput<PendingLayer | SettledLayer> | ZtocFinder,
  b?: ZtocFinder,
): AsyncGenerator<ReuseOutput> | ReuseStage {
  if (!isIterable<PendingLayer | SettledLayer>(a)) {
    return (input) => reuseOf(input, a as ZtocFinder);
  }
  return reuseOf(a, b!);
}

async function* reuseOf(
  input: StageInput<PendingLayer | SettledLayer>,
  find: ZtocFinder,
): AsyncGenerator<ReuseOutput> {
  for await (const r of input) {
    if ((r as LayerResult).skip !== undefined || (r as LayerResult).error !== undefined) {
      yield r;
      continue;
    }
    let found: ZtocBlob | undefined;
    try {
      found = await find(r.layer);
    } catch (e) {
      yield { layer: r.layer, error: e as Error };
      continue;
    }
    if (found) yield { layer: r.layer, ztoc: { reused: true, ...found } };
    else yield r;
  }
}
