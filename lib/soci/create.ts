/**
 * `create` as a library function: builds the v1 SOCI index of an image for
 * each selected platform, reusing zTOCs already in the store, and records
 * everything in the local store and artifacts DB in one transaction — a
 * failure leaves both as they were.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { imagePlatforms, type SelectedManifest, selectManifest } from "../image/select.ts";
import type { ImageSource } from "../image/source.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { EMPTY_CONFIG_BYTES, EMPTY_CONFIG_DIGEST, SOCI_INDEX_V1 } from "../oci/media_types.ts";
import { dedupePlatforms, formatPlatform, hostPlatform } from "../oci/platform.ts";
import {
  index,
  type Layer,
  type LayerResult,
  manifestLayers,
  type SociIndex,
  spans,
  ztoc,
  type ZtocBlob,
} from "../pipeline.ts";
import { type ArtifactsDb, indexRecord, ztocRecord } from "../store/artifacts_db.ts";
import type { ContentStore, StoreTransaction } from "../store/content_store.ts";

/** Annotation on a tagged image in the store: where it was created from. */
export const ANNOTATION_SOURCE = "dev.soci.source";

/** Options of {@link createIndexes}. */
export interface CreateOptions {
  /** Span size; default 4 MiB. */
  spanSize?: number;
  /** Minimum layer size; default 10 MiB. */
  minLayerSize?: number;
  /** Platforms to index, or `all`; default the host's. */
  platforms?: Platform[] | "all";
  /** Never reuse existing zTOCs. */
  force?: boolean;
  /** The `xattr` optimization (F§7.5). */
  disableXattrs?: boolean;
  /** Write an index even when no layer got a zTOC. */
  allowEmpty?: boolean;
  /** Layers scanned at once (default: the number of CPUs). */
  concurrency?: number;
  /**
   * Where the image came from, recorded on its tag (default
   * `source.reference`); `""` leaves the tag alone (an image already in the store).
   */
  sourceAnnotation?: string;
  /** Called once per layer, in layer order, when its outcome is known. */
  onLayer?: (r: LayerResult, platform: Platform) => void;
  /** A platform was skipped because the image lacks it (other platforms were found). */
  onPlatformSkipped?: (platform: Platform, reason: string) => void;
  /** Bytes of a layer read so far. */
  onProgress?: (layer: Layer, bytes: number) => void;
  /** Stops the build; nothing is written (checked last just before the commit). */
  signal?: AbortSignal;
}

/** The index built for one platform. */
export interface CreatedIndex {
  /** The platform as requested. */
  platform: Platform;
  /** The platform's image manifest (the index's subject). */
  manifest: Descriptor;
  /** The image's target (manifest or index). */
  image: Descriptor;
  /** The SOCI index. */
  index: SociIndex;
}

/**
 * Builds, stores and records the v1 SOCI index of `source` for each
 * selected platform.
 *
 * @example
 * ```ts ignore
 * import { createIndexes } from "./create.ts";
 * import { openImage } from "../image/open.ts";
 * import { ContentStore } from "../store/content_store.ts";
 * import { ArtifactsDb } from "../store/artifacts_db.ts";
 * const root = "/tmp/soci-root";
 * const store = ContentStore.open(root);
 * const db = ArtifactsDb.open(`${root}/artifacts.sqlite`);
 * const [built] = await createIndexes(await openImage("oci:./fixtures/sample-image:latest"),
 *   store, db, { minLayerSize: 0 });
 * console.log(built.index.descriptor.digest);
 * ```
 */
export async function createIndexes(
  source: ImageSource,
  store: ContentStore,
  db: ArtifactsDb,
  options: CreateOptions = {},
): Promise<CreatedIndex[]> {
  const spanSize = options.spanSize ?? 4 << 20;
  const target = await source.resolve();
  const requested = options.platforms === "all"
    ? await imagePlatforms(source, target)
    : dedupePlatforms(options.platforms ?? [hostPlatform()]);

  // Resolve every platform first: a missing one is skipped only if another exists.
  const selected: Array<{ platform: Platform; manifest: SelectedManifest }> = [];
  const missing: Array<{ platform: Platform; error: Error }> = [];
  for (const platform of requested) {
    try {
      selected.push({ platform, manifest: await selectManifest(source, target, platform) });
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      missing.push({ platform, error: e });
    }
  }
  if (selected.length === 0) throw missing[0].error;
  for (const m of missing) options.onPlatformSkipped?.(m.platform, m.error.message);

  const tx = store.begin({ db });
  try {
    await storeImage(tx, source, target, selected.map((s) => s.manifest), options);
    const built: CreatedIndex[] = [];
    // zTOCs built by this run, by layer digest: a layer shared by several
    // platforms is read once (and reported as already existing afterwards).
    const builtHere = new Map<string, ZtocBlob>();
    // (With --force only zTOCs of earlier runs are ignored: one built by
    // this run serves every platform, reported as built.)
    const existing = async (layer: Layer) => {
      const here = builtHere.get(layer.descriptor.digest);
      if (here) return { ...here, reused: !options.force };
      return options.force ? undefined : await reusable(store, db, layer, spanSize);
    };
    for (const { platform, manifest } of selected) {
      const soci = await index(
        ztoc(
          spans(manifestLayers(source, manifest, options.minLayerSize ?? 10 << 20), {
            spanSize,
            concurrency: options.concurrency,
            onProgress: options.onProgress,
            signal: options.signal,
            existing,
          }),
          {
            spanSize,
            disableXattrs: options.disableXattrs,
            loadZtoc: (blob) => store.readBlob(blob.digest),
          },
        ),
        {
          subject: manifest.descriptor,
          allowEmpty: options.allowEmpty,
          onLayer: async (r) => {
            if (r.ztoc && !r.ztoc.reused && !builtHere.has(r.layer.descriptor.digest)) {
              await recordZtoc(tx, r, spanSize);
              // The bytes are staged on disk now: keep them only when the
              // xattr optimization may need to read the TOC again.
              const keep = options.disableXattrs ? r.ztoc : {};
              r.ztoc = { ...r.ztoc, bytes: undefined, ztoc: undefined };
              builtHere.set(r.layer.descriptor.digest, { ...r.ztoc, ...keep });
            }
            r.scan = undefined;
            options.onLayer?.(r, platform);
          },
        },
      );
      await tx.putBlob(EMPTY_CONFIG_BYTES, { digest: EMPTY_CONFIG_DIGEST, size: 2 });
      await tx.putBlob(soci.bytes, soci.descriptor);
      tx.addIndexEntry(soci.descriptor);
      tx.putRecord(indexRecord(
        soci.descriptor.digest,
        soci.descriptor.size,
        manifest.descriptor.digest,
        target.digest,
        formatPlatform(platform),
        SOCI_INDEX_V1,
      ));
      built.push({ platform, manifest: manifest.descriptor, image: target, index: soci });
    }
    options.signal?.throwIfAborted();
    await tx.commit();
    return built;
  } catch (e) {
    await tx.abort();
    throw e;
  }
}

/** An existing zTOC for the layer and span size, if the DB has one whose blob is stored. */
async function reusable(
  store: ContentStore,
  db: ArtifactsDb,
  layer: Layer,
  spanSize: number,
): Promise<ZtocBlob | undefined> {
  const rec = db.findZtoc(layer.descriptor.digest, spanSize);
  if (rec === undefined || !(await store.has(rec.digest))) return undefined;
  return { digest: rec.digest, size: rec.size, reused: true };
}

async function recordZtoc(tx: StoreTransaction, r: LayerResult, spanSize: number): Promise<void> {
  const blob = r.ztoc!;
  await tx.putBlob(blob.bytes!, { digest: blob.digest, size: blob.size });
  tx.putRecord(ztocRecord(blob.digest, blob.size, r.layer.descriptor.digest, spanSize));
}

/**
 * Stores the image's documents (target, selected manifests, their configs;
 * never layers) and tags the target under the image's store name.
 */
async function storeImage(
  tx: StoreTransaction,
  source: ImageSource,
  target: Descriptor,
  manifests: SelectedManifest[],
  options: CreateOptions,
): Promise<void> {
  await tx.putBlob(await source.fetchBytes(target), target);
  for (const m of manifests) {
    await tx.putBlob(m.bytes, m.descriptor);
    const config = m.manifest.config;
    await tx.putBlob(await source.fetchBytes(config), config);
  }
  if (options.sourceAnnotation === "") return; // already in the store: keep its tag
  tx.tag(
    source.storeName,
    { mediaType: target.mediaType, digest: target.digest, size: target.size },
    { [ANNOTATION_SOURCE]: options.sourceAnnotation ?? source.reference },
  );
}
