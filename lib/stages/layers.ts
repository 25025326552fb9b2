/**
 * The first stage: the layers of an image manifest, with upstream's rules
 * for which layers get a zTOC (`soci-format.md` §7.3).
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Layer } from "../image/layer.ts";
import { type SelectedManifest, selectManifest } from "../image/select.ts";
import type { ImageSource } from "../image/source.ts";
import type { Platform } from "../oci/descriptor.ts";
import { isLayerMediaType, layerCompression } from "../oci/layer_types.ts";
import { DEFAULT_MIN_LAYER_SIZE, isIndexType, PREFETCH_MEDIA_TYPE } from "../oci/media_types.ts";
import { hostPlatform } from "../oci/platform.ts";
import type { PendingLayer, SettledLayer } from "./layer_result.ts";

/** What {@link layers} yields: a layer to scan, or one already settled. */
export type LayersOutput = PendingLayer | SettledLayer;

/** Options of {@link layers}. */
export interface LayersOptions {
  /**
   * Platform whose manifest is used; default: a single-manifest image's
   * own, an index's entry for the host's platform (as the CLI chooses).
   */
  platform?: Platform;
  /** Layers smaller than this get no zTOC; default 10 MiB. */
  minLayerSize?: number;
}

/**
 * The layers of an image's manifest for one platform, with upstream's skip
 * rules (`soci-format.md` §7.3): prefetch blobs are left out, a
 * descriptor that is not a layer fails, small layers and layers in an
 * unsupported compression (zstd) are skipped with upstream's message.
 *
 * Called with options only, it returns the stage for `pipe()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layers } from "./layers.ts";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const seen = [];
 * for await (const l of layers(image, { minLayerSize: 100_000 })) seen.push(l.skip ?? "indexed");
 * assert.equal(seen[0], "indexed");
 * assert.match(seen[1], /^ztoc skipped - layer sha256:\w+ \(.*\) size \d+ is less than/);
 * ```
 */
export function layers(
  options?: LayersOptions,
): (image: ImageSource) => AsyncGenerator<LayersOutput>;
/** The layers of `image` (see above). */
export function layers(image: ImageSource, options?: LayersOptions): AsyncGenerator<LayersOutput>;
export function layers(
  a?: ImageSource | LayersOptions,
  b?: LayersOptions,
): AsyncGenerator<LayersOutput> | ((image: ImageSource) => AsyncGenerator<LayersOutput>) {
  if (a === undefined || !("resolve" in a)) {
    return (image) => layersOf(image, a as LayersOptions | undefined);
  }
  return layersOf(a, b);
}

async function* layersOf(
  image: ImageSource,
  options: LayersOptions = {},
): AsyncGenerator<LayersOutput> {
  const target = await image.resolve();
  const platform = options.platform ??
    (isIndexType(target.mediaType) ? hostPlatform() : (target.platform ?? hostPlatform()));
  const selected = await selectManifest(image, target, platform);
  yield* manifestLayers(image, selected, options.minLayerSize ?? DEFAULT_MIN_LAYER_SIZE);
}

/**
 * The layers of an already selected manifest ({@link layers} without
 * resolving the image again).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestLayers } from "./layers.ts";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * import { selectManifest } from "../image/select.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const selected = await selectManifest(image, await image.resolve(), {
 *   os: "linux",
 *   architecture: "amd64",
 * });
 * assert.equal([...manifestLayers(image, selected, 0)].length, 2);
 * ```
 */
export function* manifestLayers(
  image: ImageSource,
  selected: SelectedManifest,
  minLayerSize: number,
): Generator<LayersOutput> {
  const descriptors = selected.manifest.layers ?? [];
  for (let index = 0; index < descriptors.length; index++) {
    const d = descriptors[index];
    if (d.mediaType === PREFETCH_MEDIA_TYPE) continue;
    const layer: Layer = {
      descriptor: d,
      index,
      compression: "uncompressed",
      image: selected,
      open: async () => image.readChunks?.(d) ?? (await image.openBlob(d)),
    };
    if (!isLayerMediaType(d.mediaType)) {
      yield { layer, error: new BadInputError(`not a layer mediaType: ${d.mediaType}`) };
      continue;
    }
    if (d.size < minLayerSize) {
      yield {
        layer,
        skip: `ztoc skipped - layer ${d.digest} (${d.mediaType}) size ${d.size} ` +
          `is less than min-layer-size ${minLayerSize}`,
      };
      continue;
    }
    let compression;
    try {
      compression = layerCompression(d.mediaType);
    } catch (e) {
      yield { layer, error: e as Error };
      continue;
    }
    if (compression === "gzip") layer.compression = "gzip";
    else if (compression === "uncompressed" || compression === "unknown") {
      layer.compression = "uncompressed";
    } else {
      yield {
        layer,
        skip: `ztoc skipped - layer ${d.digest} (${d.mediaType}) is compressed in an ` +
          `unsupported format. expect: [tar, gzip, unknown] but got "${compression}"`,
      };
      continue;
    }
    yield { layer };
  }
}
