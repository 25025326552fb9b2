/**
 * Finding the layer bytes of a stored zTOC: layers are never stored, so the
 * layer is read from the source an image using the zTOC was created from
 * (recorded on the image's tag in the store).
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { openImage, type OpenImageOptions } from "../image/open.ts";
import type { ImageSource } from "../image/source.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { decodeManifest } from "../oci/json_decode.ts";
import { ANNOTATION_REF_NAME } from "../oci/media_types.ts";
import { ANNOTATION_SOURCE } from "../soci/create.ts";
import type { ArtifactRecord } from "../store/artifacts_db.ts";
import type { RangeReader } from "../ztoc/extract.ts";
import type { CommandContext } from "./command.ts";
import { registryOptions } from "./flags.ts";
import type { LocalStore } from "./local_store.ts";

/** A range reader over a blob of a source: ranged reads when it can, else a skipped stream. */
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
 * A range reader over the layer a stored zTOC indexes, through the source
 * of an image whose index lists the zTOC. The source is opened by each
 * read and closed when its iteration ends ({@linkcode openingRangeReader}).
 */
export async function storedLayerReader(
  ctx: CommandContext,
  local: LocalStore,
  record: ArtifactRecord,
): Promise<RangeReader> {
  const layerDigest = record.originalDigest;
  const tags = (await local.store.readIndexJson()).manifests;
  for (const idx of local.db.listIndexes()) {
    if (!(await local.store.has(idx.digest))) continue;
    const doc = decodeManifest(await local.store.readBlob(idx.digest));
    if (!doc.layers.some((l) => l.digest === record.digest)) continue;
    let manifest;
    try {
      manifest = decodeManifest(await local.store.readBlob(idx.originalDigest));
    } catch {
      continue;
    }
    const layer = manifest.layers.find((l) => l.digest === layerDigest);
    if (layer === undefined) continue;
    for (const tag of tags) {
      const from = tag.annotations?.[ANNOTATION_SOURCE];
      if (tag.digest !== idx.imageDigest || !from || !tag.annotations?.[ANNOTATION_REF_NAME]) {
        continue;
      }
      return openingRangeReader(from, layer, { registry: registryOptions(ctx) });
    }
  }
  throw new NotFoundError(
    `layer ${layerDigest} is not stored locally and no image source for it is known; ` +
      "give the layer file with --layer <file>",
  );
}
