/**
 * Reading byte ranges of a layer through an image source — ranged reads
 * where the source can, else a skipped stream — and finding, for a zTOC of
 * a store, the source of an image whose index lists it (layers are never
 * stored; the image's name records where it came from).
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import { openImage, type OpenImageOptions } from "../image/open.ts";
import type { ImageSource } from "../image/source.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { decodeManifest } from "../oci/json_decode.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import type { ArtifactRecord } from "../store/artifacts_db.ts";
import type { RangeReader } from "../ztoc/extract.ts";
import { ANNOTATION_PLAIN_HTTP, ANNOTATION_SOURCE } from "./image_names.ts";

/**
 * A range reader over a blob of a source: ranged reads when it can, else
 * a stream from the start that skips to the range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sourceRangeReader } from "./layer_reader.ts";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * import { selectManifest } from "../image/select.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const { manifest } = await selectManifest(image, await image.resolve(),
 *   { os: "linux", architecture: "amd64" });
 * const read = sourceRangeReader(image, manifest.layers[0]);
 * const parts = [];
 * for await (const p of read(0, 2)) parts.push(...p);
 * assert.deepEqual(parts, [0x1f, 0x8b]); // the gzip magic
 * ```
 */
export function sourceRangeReader(source: ImageSource, layer: Descriptor): RangeReader {
  return async function* (start: number, end: number) {
    if (source.readRange) {
      yield await source.readRange(layer, start, end);
      return;
    }
    let pos = 0;
    for await (const chunk of await source.openBlob(layer) as AsyncIterable<Uint8Array>) {
      const a = Math.max(start, pos);
      const b = Math.min(end, pos + chunk.length);
      if (b > a) yield chunk.subarray(a - pos, b - pos);
      pos += chunk.length;
      if (pos >= end) break;
    }
  };
}

/**
 * A range reader that opens the image source `reference` for each read and
 * closes it when that read's iteration ends (done, failed or stopped
 * early), so no file or HTTP client outlives the read. A reader that is
 * never called opens nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openingRangeReader } from "./layer_reader.ts";
 * const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   digest: "sha256:" + "0".repeat(64), size: 1 };
 * const read = openingRangeReader("oci:/nonexistent:latest", layer); // opens nothing yet
 * await assert.rejects(async () => {
 *   for await (const _ of read(0, 1)) {
 *     // the open fails first
 *   }
 * });
 * ```
 */
export function openingRangeReader(
  reference: string,
  layer: Descriptor,
  options: OpenImageOptions = {},
): RangeReader {
  return async function* (start: number, end: number) {
    const source = await openImage(reference, options);
    try {
      yield* sourceRangeReader(source, layer)(start, end);
    } finally {
      await source.close?.();
    }
  };
}

/**
 * A range reader over the layer a stored zTOC indexes: from the store when
 * it holds the layer (the containerd store: layers are in containerd's
 * content store, as upstream reads them), else through the source of an
 * image whose index lists the zTOC. The source is opened by each read and
 * closed when its iteration ends ({@linkcode openingRangeReader}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { storedLayerReader } from "./layer_reader.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * import { ztocRecord } from "../store/artifact_record.ts";
 * const store = LocalStore.open(await Deno.makeTempDir(), { readOnly: true });
 * const rec = ztocRecord("sha256:" + "1".repeat(64), 1, "sha256:" + "2".repeat(64), 4194304);
 * await assert.rejects(storedLayerReader(store, rec), /no image source for it is known/);
 * store.close();
 * ```
 */
export async function storedLayerReader(
  store: ArtifactStore,
  record: ArtifactRecord,
  options: OpenImageOptions = {},
): Promise<RangeReader> {
  const layerDigest = record.originalDigest;
  const inStore = await store.stat(layerDigest).catch((e) => {
    if (e instanceof BadInputError) return undefined; // not a digest: no layer to find
    throw e;
  });
  if (inStore !== undefined) {
    return async function* (start: number, end: number) {
      yield await store.readRange(layerDigest, start, end);
    };
  }
  const images = await store.images();
  for (const idx of store.db.listIndexes()) {
    if (!(await store.has(idx.digest))) continue;
    const doc = decodeManifest(await store.readBlob(idx.digest));
    if (!doc.layers.some((l) => l.digest === record.digest)) continue;
    let manifest;
    try {
      manifest = decodeManifest(await store.readBlob(idx.originalDigest));
    } catch {
      continue;
    }
    const layer = manifest.layers.find((l) => l.digest === layerDigest);
    if (layer === undefined) continue;
    for (const img of images) {
      const from = img.annotations[ANNOTATION_SOURCE];
      if (img.target.digest !== idx.imageDigest || !from) continue;
      // A registry first read over plain HTTP is read the same way again.
      const plainHttp = options.registry?.plainHttp ||
        img.annotations[ANNOTATION_PLAIN_HTTP] === "true";
      return openingRangeReader(from, layer, {
        ...options,
        registry: { ...options.registry, plainHttp },
      });
    }
  }
  throw new NotFoundError(
    `layer ${layerDigest} is not stored locally and no image source for it is known; ` +
      "give the layer file with --layer <file>",
  );
}
