/**
 * What the stages pass along: one {@link LayerResult} per layer, in layer
 * order, enriched as it goes. A layer that gets no zTOC carries its `skip`
 * reason and one that failed its `error`, so that a stage can be used alone
 * and the last stage can report every failure.
 *
 * The narrower types say what each stage takes and gives, so that TypeScript
 * rejects a stage fed with layers it cannot handle (`ztoc()` of layers that
 * were never scanned):
 *
 * ```text
 * layers()  → PendingLayer | SettledLayer
 * reuse()   → PendingLayer | ReusedLayer | SettledLayer
 * spans()   → ScannedLayer | BuiltLayer | ReusedLayer | SettledLayer
 * ztoc()    → IndexedLayer | SettledLayer
 * index()   ← IndexedLayer | SettledLayer
 * ```
 *
 * @module
 */
import type { Layer } from "../image/layer.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import type { Ztoc } from "../ztoc/model.ts";
import type { LayerScan } from "../ztoc/scan.ts";

/** A zTOC blob: its bytes and digest, and the decoded zTOC when at hand. */
export interface ZtocBlob {
  /** Digest of the zTOC blob. */
  digest: string;
  /** Size of the zTOC blob in bytes. */
  size: number;
  /** The encoded zTOC (absent for a reused zTOC whose bytes were not loaded). */
  bytes?: Uint8Array;
  /** The zTOC (absent when reused and not decoded). */
  ztoc?: Ztoc;
  /** True when an existing zTOC was reused instead of built. */
  reused?: boolean;
  /** The span size it was built with (for a reused zTOC: the one it was looked up with). */
  spanSize?: number;
  /**
   * Whether the `xattr` optimization may mark this zTOC (no `SCHILY.xattr.*`
   * record, no opaque whiteout; F§7.5), when already known.
   */
  xattrFree?: boolean;
}

/** A layer and what the stages made of it so far (the general shape). */
export interface LayerResult {
  /** The layer. */
  layer: Layer;
  /** Why this layer gets no zTOC (upstream's message), when it gets none. */
  skip?: string;
  /** Why this layer failed. */
  error?: Error;
  /** The one-pass scan (from `spans()`; dropped by `ztoc()` once encoded). */
  scan?: LayerScan;
  /** The zTOC (from `ztoc()`, or reused). */
  ztoc?: ZtocBlob;
  /** The zTOC's descriptor in the index, with its annotations (from `ztoc()`). */
  descriptor?: Descriptor;
}

/** A layer that gets no zTOC, with upstream's message. */
export interface SkippedLayer extends LayerResult {
  /** Why (upstream's message). */
  skip: string;
}

/** A layer that failed. */
export interface FailedLayer extends LayerResult {
  /** Why. */
  error: Error;
}

/** A layer whose outcome is known: skipped or failed. Every stage passes these on. */
export type SettledLayer = SkippedLayer | FailedLayer;

/** A layer that is to get a zTOC and has not been scanned yet. */
export interface PendingLayer extends LayerResult {
  /** Not settled. */
  skip?: undefined;
  /** Not settled. */
  error?: undefined;
  /** Not scanned yet. */
  scan?: undefined;
  /** No zTOC yet. */
  ztoc?: undefined;
}

/** A layer for which an existing zTOC was found (it is not read). */
export interface ReusedLayer extends LayerResult {
  /** The existing zTOC. */
  ztoc: ZtocBlob;
}

/**
 * A layer whose zTOC was built as it was scanned (`spans({ buildZtoc })`):
 * `ztoc()` only adds its descriptor.
 */
export interface BuiltLayer extends LayerResult {
  /** The new zTOC (not reused). */
  ztoc: ZtocBlob;
}

/** A layer that was scanned. */
export interface ScannedLayer extends LayerResult {
  /** The scan. */
  scan: LayerScan;
}

/** A layer with its zTOC and the zTOC's descriptor for the index. */
export interface IndexedLayer extends LayerResult {
  /** The zTOC. */
  ztoc: ZtocBlob;
  /** The zTOC's descriptor (annotations included). */
  descriptor: Descriptor;
}

/** What a stage reads: an async or sync iterable. */
export type StageInput<T> = AsyncIterable<T> | Iterable<T>;

/**
 * True when the result is settled (skipped or failed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isSettled } from "./layer_result.ts";
 * import type { Layer } from "../image/layer.ts";
 * const layer: Layer = { descriptor: { mediaType: "", digest: "", size: 0 }, index: 0,
 *   compression: "gzip", open: () => Promise.resolve((async function* () {})()) };
 * assert.equal(isSettled({ layer, skip: "too small" }), true);
 * assert.equal(isSettled({ layer }), false);
 * ```
 */
export function isSettled(r: LayerResult): r is SettledLayer {
  return r.skip !== undefined || r.error !== undefined;
}

/** True when `x` can be iterated (sync or async): a stage's input rather than its options. */
export function isIterable<T>(x: unknown): x is StageInput<T> {
  return typeof x === "object" && x !== null &&
    (Symbol.asyncIterator in x || Symbol.iterator in x);
}
