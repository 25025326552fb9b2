/**
 * `create` as a library function: the v1 SOCI index of an image for each
 * selected platform, composed from the stages —
 *
 * ```text
 * manifestLayers → reuse(existing zTOCs) → spans → ztoc → prefetch → storeZtocs(tx) → index
 *   → writeIndex(tx)
 * ```
 *
 * — with everything (zTOCs, indexes, the image's documents and its name)
 * written to an artifact store in one transaction: a failure leaves the
 * store and its DB as they were.
 *
 * @module
 */
import { ContainerdSource } from "../image/containerd_source.ts";
import type { Layer } from "../image/layer.ts";
import type { SelectedManifest } from "../image/select.ts";
import type { ImageSource } from "../image/source.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { DEFAULT_MIN_LAYER_SIZE, DEFAULT_SPAN_SIZE } from "../oci/media_types.ts";
import { formatPlatform } from "../oci/platform.ts";
import type { IndexInput, SociIndex } from "../stages/index.ts";
import { index } from "../stages/index.ts";
import type { ZtocBlob } from "../stages/layer_result.ts";
import { manifestLayers } from "../stages/layers.ts";
import { pipe } from "../stages/pipe.ts";
import { prefetch } from "../stages/prefetch.ts";
import { reuse, type ZtocFinder } from "../stages/reuse.ts";
import { spans } from "../stages/spans.ts";
import { storeZtocs, writeIndex } from "../stages/store_sink.ts";
import { ztoc } from "../stages/ztoc.ts";
import type { ArtifactStore, ArtifactTransaction } from "../store/artifact_store.ts";
import { ContainerdStore } from "../store/containerd_store.ts";
import { choosePlatforms, type PlatformManifest, resolvePlatforms } from "./platforms.ts";
import { ANNOTATION_SOURCE, nameImage } from "./image_names.ts";
import type { BuildOptions } from "./build_options.ts";

/** Options of {@link createIndexes}. */
export interface CreateOptions extends BuildOptions {
  /**
   * The name under which the image is recorded in the store; default the
   * source's name, made unique when another image already has it.
   */
  name?: string;
  /** More annotations recorded with the image's name. */
  annotations?: Record<string, string>;
}

/** The index built for one platform. */
export interface CreatedIndex {
  /** The platform as recorded. */
  platform: Platform;
  /** The platform's image manifest (the index's subject). */
  manifest: Descriptor;
  /** The image's target (manifest or index). */
  image: Descriptor;
  /** The SOCI index. */
  index: SociIndex;
}

/** What {@link createIndexes} did. */
export interface CreateResult {
  /** The name under which the image is recorded in the store. */
  name: string;
  /** The image's target. */
  target: Descriptor;
  /** One index per platform, in platform order. */
  indexes: CreatedIndex[];
}

/**
 * Builds, stores and records the v1 SOCI index of `source` for each
 * selected platform (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createIndexes } from "./create.ts";
 * import { openImage } from "../image/open.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = LocalStore.open(root);
 * const result = await createIndexes(await openImage("oci:./fixtures/sample-image:latest"),
 *   store, { minLayerSize: 0, spanSize: 1 << 18 });
 * assert.equal(result.name, "latest");
 * assert.equal(result.indexes[0].index.manifest.layers.length, 2);
 * assert.equal(store.db.listIndexes()[0].digest, result.indexes[0].index.descriptor.digest);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function createIndexes(
  source: ImageSource,
  store: ArtifactStore,
  options: CreateOptions = {},
): Promise<CreateResult> {
  const spanSize = options.spanSize ?? DEFAULT_SPAN_SIZE;
  const target = await source.resolve();
  const platforms = await choosePlatforms(source, target, options.platforms);
  const { found, missing } = await resolvePlatforms(source, target, platforms);
  if (found.length === 0) throw missing[0].error;
  for (const m of missing) options.onPlatformSkipped?.(m.platform, m.error.message);

  await using tx = store.begin();
  const name = await storeImage(tx, store, source, target, found.map((f) => f.manifest), options);
  // zTOCs built by this run, by layer digest: a layer shared by several
  // platforms is read once (and reported as already existing afterwards).
  // (With --force only zTOCs of earlier runs are ignored: one built by this
  // run serves every platform, reported as built.)
  const builtHere = new Map<string, ZtocBlob>();
  const find: ZtocFinder = async (layer) => {
    const here = builtHere.get(layer.descriptor.digest);
    if (here) return { ...here, reused: !options.force };
    return options.force ? undefined : await existingZtoc(store, layer, spanSize);
  };
  const indexes: CreatedIndex[] = [];
  for (const { platform, manifest } of found) {
    const soci = await indexPlatform(source, tx, manifest, find, options, (r) => {
      const z = r.ztoc;
      if (z && !z.reused && !builtHere.has(r.layer.descriptor.digest)) {
        builtHere.set(r.layer.descriptor.digest, {
          digest: z.digest,
          size: z.size,
          spanSize: z.spanSize,
          xattrFree: z.xattrFree,
        });
      }
      options.onLayer?.(r, platform);
    }, platform);
    await writeIndex(tx, soci, {
      manifest: manifest.descriptor,
      image: target,
      platform: formatPlatform(platform),
      imageName: name,
    });
    indexes.push({ platform, manifest: manifest.descriptor, image: target, index: soci });
  }
  options.signal?.throwIfAborted();
  await tx.commit();
  return { name, target, indexes };
}

/** One platform's index: the stages, with new zTOCs staged in `tx`. */
async function indexPlatform(
  source: ImageSource,
  tx: ArtifactTransaction,
  manifest: SelectedManifest,
  find: ZtocFinder,
  options: CreateOptions,
  onLayer: (r: IndexInput) => void,
  platform: Platform,
): Promise<SociIndex> {
  const spanSize = options.spanSize ?? DEFAULT_SPAN_SIZE;
  const pf = prefetch(options.prefetchPaths ?? [], { loadZtoc: (b) => tx.readBlob(b.digest) });
  const soci = await pipe(
    manifestLayers(source, manifest, options.minLayerSize ?? DEFAULT_MIN_LAYER_SIZE),
    reuse(find),
    spans({
      spanSize,
      concurrency: options.concurrency,
      onProgress: options.onProgress,
      signal: options.signal,
      buildZtoc: { xattrs: options.disableXattrs },
    }),
    ztoc({
      spanSize,
      disableXattrs: options.disableXattrs,
      loadZtoc: (blob) => tx.readBlob(blob.digest),
    }),
    pf,
    storeZtocs(tx),
    index({
      subject: manifest.descriptor,
      allowEmpty: options.allowEmpty,
      onLayer,
      prefetch: () => pf.blobs(),
    }),
  );
  for (const p of pf.missing()) options.onPrefetchMissing?.(p, platform);
  for (const b of soci.prefetch) options.onPrefetch?.(b, platform);
  return soci;
}

/**
 * An existing zTOC for the layer and span size: one the DB records whose
 * blob the store holds (a recorded zTOC whose blob is gone is rebuilt).
 */
export async function existingZtoc(
  store: ArtifactStore,
  layer: Layer,
  spanSize: number,
): Promise<ZtocBlob | undefined> {
  const rec = store.db.findZtoc(layer.descriptor.digest, spanSize);
  if (rec === undefined || !(await store.has(rec.digest))) return undefined;
  return { digest: rec.digest, size: rec.size, reused: true, spanSize };
}

/**
 * Stores the image's documents (target, selected manifests, their configs;
 * never layers) and names the image; returns the name.
 */
async function storeImage(
  tx: ArtifactTransaction,
  store: ArtifactStore,
  source: ImageSource,
  target: Descriptor,
  manifests: SelectedManifest[],
  options: CreateOptions,
): Promise<string> {
  // Staged side by side (each write waits for its fsync).
  await Promise.all([
    source.fetchBytes(target).then((b) => tx.putBlob(b, target)),
    ...manifests.flatMap((m) => [
      tx.putBlob(m.bytes, m.descriptor),
      source.fetchBytes(m.manifest.config).then((b) => tx.putBlob(b, m.manifest.config)),
    ]),
  ]);
  const from = containerdOrigin(source, store) ?? options.sourceAnnotation ?? source.reference;
  if (from === "") return options.name ?? source.storeName; // already in the store
  // containerd's records are containerd's names: nothing to make unique (and
  // the containerd store records no new names; see ArtifactTransaction.tagImage).
  const name = store.kind === "containerd"
    ? options.name ?? source.storeName
    : await nameImage(store, options.name ?? source.storeName, from, !!options.name);
  tx.tagImage(name, { mediaType: target.mediaType, digest: target.digest, size: target.size }, {
    ...options.annotations,
    [ANNOTATION_SOURCE]: from,
  });
  return name;
}

/**
 * Where an image read from containerd came from, as recorded with its name:
 * `""` (already in the store) when the store is that containerd namespace,
 * else `containerd:<record name>` (what `ztoc get-file` reopens);
 * `undefined` for other sources.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { containerdOrigin } from "./create.ts";
 * import { ContainerdSource } from "../image/containerd_source.ts";
 * import { ContainerdStore } from "../store/containerd_store.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const root = await Deno.makeTempDir();
 * const local = LocalStore.open(root, { readOnly: true });
 * const ctrd = ContainerdStore.open(root, { address: "/c.sock", readOnly: true });
 * const src = new ContainerdSource("app:1", { address: "/c.sock" });
 * assert.equal(containerdOrigin(src, local), "containerd:docker.io/library/app:1");
 * assert.equal(containerdOrigin(src, ctrd), "");
 * await src.close();
 * local.close();
 * ctrd.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function containerdOrigin(source: ImageSource, store: ArtifactStore): string | undefined {
  if (!(source instanceof ContainerdSource)) return undefined;
  if (
    store instanceof ContainerdStore && store.client.socket === source.client.socket &&
    store.client.namespace === source.client.namespace
  ) return "";
  return `containerd:${source.storeName}`;
}

export type { PlatformManifest };
export { ANNOTATION_SOURCE };
