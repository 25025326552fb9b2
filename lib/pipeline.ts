/**
 * The stages of SOCI indexing, as plain functions over async iterables —
 * one file each under `stages/`, gathered here:
 *
 * ```text
 * layers(image) → reuse(find) → spans() → ztoc() → storeZtocs(tx) → index()
 * layers(image) → reuse(find) → tee(sink) → spans() → ztoc() → prefetch(paths)
 *   → index({ version: 2 }) → writeSociImage(image, writer)
 * ```
 *
 * Every stage passes along one result per layer, in layer order (see
 * `stages/layer_result.ts`), so stages can be used alone or recombined;
 * `pipe()` chains them. `spans({ buildZtoc: {} })` has each scan worker
 * build its layer's zTOC as well (what `create` and `convert` do); `ztoc()`
 * then only adds the descriptors.
 *
 * @module
 */
export * from "./stages/layer_result.ts";
export * from "./stages/layers.ts";
export * from "./stages/reuse.ts";
export * from "./stages/spans.ts";
export * from "./stages/ztoc.ts";
export * from "./stages/index.ts";
export * from "./stages/store_sink.ts";
export * from "./stages/prefetch.ts";
export * from "./stages/tee.ts";
export * from "./stages/soci_image_sink.ts";
export * from "./stages/pipe.ts";
export type { Layer } from "./image/layer.ts";
