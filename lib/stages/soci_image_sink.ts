/**
 * The v2 sink: v2 SOCI indexes (from `index({ version: 2 })`) become a
 * SOCI-enabled image (`soci/soci_image.ts`, F§8) that an image writer puts
 * at its destination — the rewritten manifests, the new OCI index, the v2
 * indexes with their zTOCs, prefetch artifacts and `{}` config, and what the
 * destination lacks of the source image (configs, layers), the name last.
 *
 * ```text
 * layers(image) → spans() → ztoc() → index({ version: 2 }) ─┐
 *                                                            ├→ writeSociImage(image, writer, [soci])
 * (one per platform)                                         ┘
 * ```
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { ImageSource } from "../image/source.ts";
import type { ContentFetcher, ImageWriter, WriteEvent } from "../image/writer.ts";
import { isDocument } from "../image/writer.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { decodeIndex } from "../oci/json_decode.ts";
import {
  EMPTY_CONFIG_BYTES,
  EMPTY_CONFIG_DIGEST,
  isIndexType,
  SOCI_INDEX_V2,
} from "../oci/media_types.ts";
import { sociEnabledImage, type SociImage } from "../soci/soci_image.ts";
import type { SociIndex } from "./index.ts";

/** A v2 index and the manifest it was built for. */
export interface BuiltSociIndex {
  /** The v2 SOCI index. */
  index: SociIndex;
  /** The image manifest it was built for (as the source lists it). */
  manifest: Descriptor;
  /** The platform it was built for. */
  platform: Platform;
}

/** Options of {@link writeSociImage}. */
export interface WriteSociImageOptions {
  /** The image's target (default: `source.resolve()`). */
  target?: Descriptor;
  /** The target's bytes (default: fetched from the source). */
  targetBytes?: Uint8Array;
  /** For a single-manifest image: its platform (default: the first index's). */
  platform?: Platform;
  /**
   * The manifests to rewrite, by digest (default: every image manifest of
   * the image that the source has).
   */
  manifests?: ReadonlyMap<string, Uint8Array>;
  /** Blobs the source lacks (a partial image): not written. */
  absent?: ReadonlySet<string>;
  /** Bytes of blobs at hand (configs already read), by digest. */
  blobs?: ReadonlyMap<string, Uint8Array>;
  /** Reads an artifact whose bytes the results no longer hold (zTOCs a store sink took). */
  readBlob?: (digest: string) => Promise<Uint8Array>;
  /** Called for each node the writer handles. */
  onEvent?: (e: WriteEvent) => void;
}

/** The manifest and platform of a v2 index built by the stages from an image. */
function builtOf(x: SociIndex | BuiltSociIndex): BuiltSociIndex {
  if ("index" in x && "manifest" in x && "platform" in x) return x as BuiltSociIndex;
  const soci = x as SociIndex;
  const image = soci.layers.find((r) => r.layer.image)?.layer.image;
  if (!image) {
    throw new NotFoundError(
      "the SOCI index has no layer of an image: give its manifest and platform",
    );
  }
  return { index: soci, manifest: image.descriptor, platform: image.platform };
}

/**
 * Makes the SOCI-enabled image of `source` from its v2 indexes and writes
 * it with `writer` (see the module documentation); returns the image. The
 * indexes are `index({ version: 2 })` results of the stages over `source`
 * (their layers name the manifest and platform), or given with them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * import { OciLayoutWriter } from "../image/oci_layout_writer.ts";
 * import { index } from "./index.ts";
 * import { layers } from "./layers.ts";
 * import { pipe } from "./pipe.ts";
 * import { writeSociImage } from "./soci_image_sink.ts";
 * import { spans } from "./spans.ts";
 * import { ztoc } from "./ztoc.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const soci = await pipe(image, layers({ minLayerSize: 0 }), spans(), ztoc(), index({ version: 2 }));
 * const out = await Deno.makeTempDir();
 * const written = await writeSociImage(image, await OciLayoutWriter.open(`${out}/soci`, "v2"), [soci]);
 * const [manifest, v2] = written.index.manifests;
 * assert.equal(manifest.annotations?.["com.amazon.soci.index-digest"], soci.descriptor.digest);
 * assert.equal(v2.artifactType, "application/vnd.amazon.soci.index.v2+json");
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function writeSociImage(
  source: ImageSource,
  writer: ImageWriter,
  indexes: ReadonlyArray<SociIndex | BuiltSociIndex>,
  options: WriteSociImageOptions = {},
): Promise<SociImage> {
  const built = indexes.map(builtOf);
  const target = options.target ?? await source.resolve();
  const targetBytes = options.targetBytes ?? await source.fetchBytes(target);
  const absent = new Set(options.absent ?? []);
  let manifests = options.manifests;
  if (manifests === undefined) {
    const m = new Map<string, Uint8Array>();
    if (isIndexType(target.mediaType)) {
      for (const e of decodeIndex(targetBytes).manifests) {
        if (e.artifactType === SOCI_INDEX_V2 || isIndexType(e.mediaType) || m.has(e.digest)) {
          continue;
        }
        try {
          m.set(e.digest, await source.fetchBytes(e));
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
          absent.add(e.digest);
        }
      }
    } else {
      m.set(target.digest, targetBytes);
    }
    manifests = m;
  }
  const image = sociEnabledImage({
    target,
    targetBytes,
    platform: options.platform ?? built[0]?.platform,
    manifests,
    indexes: built.map((b) => ({
      manifestDigest: b.manifest.digest,
      platform: b.platform,
      index: b.index.descriptor,
    })),
  });

  // What the results hold: the v2 indexes, their prefetch artifacts and
  // zTOCs still in memory; the zTOCs of the indexes (read when needed).
  const held = new Map<string, Uint8Array>(options.blobs ?? []);
  for (const [d, bytes] of image.documents) held.set(d, bytes);
  const artifacts = new Set<string>();
  for (const b of built) {
    held.set(b.index.descriptor.digest, b.index.bytes);
    for (const p of b.index.prefetch) held.set(p.descriptor.digest, p.bytes);
    for (const r of b.index.layers) {
      if (r.ztoc?.bytes) held.set(r.ztoc.digest, r.ztoc.bytes);
    }
    for (const l of b.index.manifest.layers) artifacts.add(l.digest);
  }
  held.set(EMPTY_CONFIG_DIGEST, EMPTY_CONFIG_BYTES);
  const fetch: ContentFetcher = async (desc) => {
    const bytes = held.get(desc.digest) ?? manifests!.get(desc.digest);
    if (bytes) return bytes;
    if (desc.digest === target.digest) return targetBytes;
    if (artifacts.has(desc.digest)) {
      if (!options.readBlob) throw new NotFoundError(`blob ${desc.digest} is not at hand`);
      return await options.readBlob(desc.digest);
    }
    if (isDocument(desc)) return await source.fetchBytes(desc);
    return await source.openBlob(desc);
  };
  await writer.commit(image.descriptor, fetch, { absent, onEvent: options.onEvent });
  return image;
}
