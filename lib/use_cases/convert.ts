/**
 * `convert` as a library function: the v2 sibling of `create.ts`. For each
 * selected platform of an image a v2 SOCI index is built from the same
 * stages —
 *
 * ```text
 * manifestLayers → reuse(existing zTOCs) → tee(destination) → spans → ztoc → prefetch
 *   → storeZtocs(tx) → index({ version: 2 })
 * ```
 *
 * — then the SOCI-enabled image (`soci/soci_image.ts`, F§8) is made from
 * the source's documents and those indexes, and an image writer puts it at
 * the destination (`stages/soci_image_sink.ts`) (an OCI layout, an OCI archive, a registry, the local
 * store), the name last. Each layer is read from the source once: the
 * scan's read also feeds the destination when it lacks the layer (`tee`);
 * layers the destination has are not read unless they need a zTOC, and a
 * registry mounts what another repository of it has. zTOCs, v2 indexes and
 * the image's documents go to the local store in one transaction (the DB
 * gets the v2 rows of F§9 with the convert update), committed after the
 * destination is written; a failure leaves the store as it was and removes
 * what was written at the destination.
 *
 * Platforms (one rule, `platforms.ts`): `--all-platforms`, `--platform`, or
 * the image's own platform for a single manifest and the host's for an
 * index. A platform the image does not list is an error; one whose
 * manifest, config or layers the source lacks (a partially pulled image)
 * is skipped, and its entry is kept as it is. A platform that is already
 * SOCI-enabled (its manifest names a v2 index of the same image) is not
 * built again unless `force`; when no platform is left to build, the image
 * is written as it is (same digests).
 *
 * @module
 */
import {
  BadInputError,
  NotFoundError,
  SociError,
  UnsupportedError,
  withContext,
} from "../errors.ts";
import type { Layer } from "../image/layer.ts";
import type { SelectedManifest } from "../image/select.ts";
import { imagePlatforms } from "../image/select.ts";
import type { ImageSource } from "../image/source.ts";
import type { BlobSink, ContentFetcher, ImageWriter } from "../image/writer.ts";
import { isDocument } from "../image/writer.ts";
import type { Descriptor, ImageIndex, ImageManifest, Platform } from "../oci/descriptor.ts";
import { decodeIndex, decodeManifest } from "../oci/json_decode.ts";
import {
  DEFAULT_MIN_LAYER_SIZE,
  DEFAULT_SPAN_SIZE,
  EMPTY_CONFIG_BYTES,
  EMPTY_CONFIG_DIGEST,
  isIndexType,
  isManifestType,
  SOCI_INDEX_V2,
  ZTOC_MEDIA_TYPE,
} from "../oci/media_types.ts";
import { formatPlatform, platformMatches } from "../oci/platform.ts";
import { boundSociIndex } from "../soci/soci_image.ts";
import type { IndexInput, SociIndex } from "../stages/index.ts";
import { index } from "../stages/index.ts";
import type { ZtocBlob } from "../stages/layer_result.ts";
import { manifestLayers } from "../stages/layers.ts";
import { pipe } from "../stages/pipe.ts";
import { prefetch } from "../stages/prefetch.ts";
import { reuse, type ZtocFinder } from "../stages/reuse.ts";
import { spans } from "../stages/spans.ts";
import { writeSociImage } from "../stages/soci_image_sink.ts";
import { storeZtocs, writeIndex } from "../stages/store_sink.ts";
import { tee } from "../stages/tee.ts";
import { ztoc, type ZtocOutput } from "../stages/ztoc.ts";
import type { ArtifactStore, ArtifactTransaction } from "../store/artifact_store.ts";
import { existingZtoc } from "./create.ts";
import { ANNOTATION_SOURCE, nameImage } from "./image_names.ts";
import { choosePlatforms } from "./platforms.ts";
import { sourceHas } from "./stored_image.ts";
import type { BuildOptions } from "./build_options.ts";

/** Media type of the `{}` config blob of a SOCI index (as a blob, its descriptor's type is moot). */
const OCI_CONFIG_EMPTY_TYPE = "application/octet-stream";

/** Options of {@link convertImage}. */
export interface ConvertOptions extends BuildOptions {
  /** The image's name in the local store is exactly the destination's (no `-2` suffix). */
  exactName?: boolean;
  /** A platform is already SOCI-enabled and is not built again. */
  onAlreadyEnabled?: (platform: Platform, sociIndex: Descriptor) => void;
}

/** The v2 index of one platform. */
export interface ConvertedIndex {
  /** The platform. */
  platform: Platform;
  /** The image manifest it was built from (as the source lists it). */
  manifest: Descriptor;
  /** The rewritten manifest that binds it (in the SOCI-enabled image). */
  boundManifest: Descriptor;
  /** The v2 SOCI index. */
  index: SociIndex;
}

/** What {@link convertImage} did. */
export interface ConvertResult {
  /** The SOCI-enabled image's root (the new OCI index, or the source's target when unchanged). */
  image: Descriptor;
  /** The source's target. */
  source: Descriptor;
  /** The destination as given. */
  destination: string;
  /** The image's name in the local store. */
  name: string;
  /** One v2 index per converted platform, in platform order. */
  indexes: ConvertedIndex[];
  /** Platforms skipped (the image lacks part of them), with why. */
  skipped: { platform: Platform; reason: string }[];
  /** Platforms that were already SOCI-enabled (not built again), with their index. */
  alreadyEnabled: { platform: Platform; index: Descriptor }[];
  /** True when the image was written as it was (nothing to convert). */
  unchanged: boolean;
}

/** A platform to build. */
interface Planned {
  platform: Platform;
  manifest: SelectedManifest;
}

/** The source's image, read once: its target, index, and the manifests present. */
interface SourceImage {
  target: Descriptor;
  targetBytes: Uint8Array;
  index?: ImageIndex;
  /** Manifests of the image the source has, by digest (bytes, decoded). */
  manifests: Map<string, { bytes: Uint8Array; manifest: ImageManifest }>;
  /** Digests of the image's blobs the source lacks. */
  absent: Set<string>;
  /** Manifests that lack a config or layer (their digest → the first missing blob). */
  incomplete: Map<string, string>;
}

/** The entries of an index that are image manifests (not SOCI indexes, not nested indexes). */
function imageEntries(index: ImageIndex): Descriptor[] {
  return index.manifests.filter((e) =>
    e.artifactType !== SOCI_INDEX_V2 && !isIndexType(e.mediaType)
  );
}

/** Reads the target and every manifest the source has, noting what it lacks. */
async function readSource(source: ImageSource, target: Descriptor): Promise<SourceImage> {
  if (target.mediaType && !isManifestType(target.mediaType) && !isIndexType(target.mediaType)) {
    // (as reading it for create, ls or cat says)
    throw new UnsupportedError(`unsupported image media type ${target.mediaType}`);
  }
  const targetBytes = await source.fetchBytes(target);
  const img: SourceImage = {
    target,
    targetBytes,
    manifests: new Map(),
    absent: new Set(),
    incomplete: new Map(),
  };
  let entries: Descriptor[];
  if (isIndexType(target.mediaType)) {
    img.index = decodeIndex(targetBytes);
    entries = imageEntries(img.index);
  } else {
    img.manifests.set(target.digest, { bytes: targetBytes, manifest: decodeManifest(targetBytes) });
    entries = [];
  }
  for (const e of entries) {
    if (img.manifests.has(e.digest) || img.absent.has(e.digest)) continue;
    if (!(await sourceHas(source, e))) {
      img.absent.add(e.digest);
      continue;
    }
    let bytes: Uint8Array;
    try {
      bytes = await source.fetchBytes(e);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      img.absent.add(e.digest);
      continue;
    }
    img.manifests.set(e.digest, { bytes, manifest: decodeManifest(bytes) });
  }
  for (const [digest, { manifest }] of img.manifests) {
    for (const blob of [manifest.config, ...manifest.layers]) {
      if (img.absent.has(blob.digest) || !(await sourceHas(source, blob))) {
        img.absent.add(blob.digest);
        if (!img.incomplete.has(digest)) img.incomplete.set(digest, blob.digest);
      }
    }
  }
  return img;
}

/**
 * The manifest each platform uses (F§7.6): for an index, the first image
 * entry whose platform matches (an entry without platform is upstream's
 * error); for a single manifest, the manifest if the platform is its own.
 * A platform the image does not list is a `NotFoundError`.
 */
function planPlatform(img: SourceImage, platform: Platform, own?: Platform): Descriptor {
  const notFound = (extra = "") =>
    new NotFoundError(`image manifest for ${formatPlatform(platform)}: not found${extra}`);
  if (!img.index) {
    if (own && !platformMatches(platform, own)) {
      throw notFound(` (the image is ${formatPlatform(own)})`);
    }
    return img.target;
  }
  for (const e of imageEntries(img.index)) {
    if (!e.platform) throw new BadInputError("manifest should have proper platform");
    if (platformMatches(platform, e.platform)) return e;
  }
  throw notFound();
}

/**
 * Converts `source` into a SOCI-enabled image written by `destination`
 * (see the module documentation), recording zTOCs, the v2 indexes and the
 * image (under the destination's name) in `store`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convertImage } from "./convert.ts";
 * import { openImage } from "../image/open.ts";
 * import { openImageWriter } from "../image/open_writer.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = LocalStore.open(root);
 * const source = await openImage("oci:./fixtures/sample-image:latest");
 * const dest = await openImageWriter(`oci:${root}/out:soci`);
 * const result = await convertImage(source, dest, store, { minLayerSize: 0 });
 * assert.equal(result.indexes.length, 1);
 * assert.equal(result.image.mediaType, "application/vnd.oci.image.index.v1+json");
 * const again = await convertImage(await openImage(`oci:${root}/out:soci`),
 *   await openImageWriter(`oci:${root}/out2:soci`), store, { minLayerSize: 0 });
 * assert.equal(again.unchanged, true); // already SOCI-enabled: the same image
 * assert.equal(again.image.digest, result.image.digest);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function convertImage(
  source: ImageSource,
  destination: ImageWriter,
  store: ArtifactStore,
  options: ConvertOptions = {},
): Promise<ConvertResult> {
  const spanSize = options.spanSize ?? DEFAULT_SPAN_SIZE;
  source = withDocumentCache(source);
  const target = await source.resolve();
  const img = await readSource(source, target);
  const single = img.index === undefined;
  const own = single ? (target.platform ?? (await imagePlatforms(source, target))[0]) : undefined;
  const platforms = await choosePlatforms(source, target, options.platforms);

  // Which platforms to build, skip, or leave as they are.
  const plan: Planned[] = [];
  const skipped: ConvertResult["skipped"] = [];
  const alreadyEnabled: ConvertResult["alreadyEnabled"] = [];
  for (const asked of platforms) {
    const platform = single && own ? own : asked;
    const entry = planPlatform(img, asked, own);
    const found = img.manifests.get(entry.digest);
    if (!found) {
      skipped.push({
        platform,
        reason: `its manifest ${entry.digest} is not in ${source.reference}`,
      });
      continue;
    }
    const missing = img.incomplete.get(entry.digest);
    if (missing !== undefined) {
      skipped.push({ platform, reason: `its blob ${missing} is not in ${source.reference}` });
      continue;
    }
    const bound = img.index ? boundSociIndex(img.index, found.manifest) : undefined;
    if (bound && !options.force) {
      alreadyEnabled.push({ platform, index: bound });
      continue;
    }
    const descriptor = entry.mediaType
      ? entry
      : { ...entry, mediaType: found.manifest.mediaType || target.mediaType };
    plan.push({
      platform,
      manifest: { descriptor, manifest: found.manifest, bytes: found.bytes, platform },
    });
  }
  if (plan.length === 0 && alreadyEnabled.length === 0) {
    throw new NotFoundError(
      `cannot convert ${formatPlatform(skipped[0].platform)}: ${skipped[0].reason}`,
    );
  }

  // What the output keeps as it is: manifests the source lacks (a registry
  // destination must have them already), and the blobs of incomplete ones.
  if (!destination.allowsPartial) {
    for (const d of img.absent) {
      const entry = img.index?.manifests.find((e) => e.digest === d);
      const desc = entry ?? { mediaType: "", digest: d, size: 0 };
      if (!(await destination.has(desc))) {
        throw new BadInputError(
          `${destination.reference} cannot hold the image: ${d} is in neither ` +
            `${source.reference} nor the destination`,
        );
      }
    }
  }

  for (const s of skipped) options.onPlatformSkipped?.(s.platform, s.reason);
  for (const a of alreadyEnabled) options.onAlreadyEnabled?.(a.platform, a.index);

  await using tx = store.begin();
  const name = await nameImage(
    store,
    destination.storeName,
    destination.layerSource ?? options.sourceAnnotation ?? source.reference,
    options.exactName ?? false,
  );
  try {
    // Layers of every manifest written, for the writer's layout.
    const layers = new Map<string, Descriptor>();
    for (const [digest, { manifest }] of img.manifests) {
      if (img.incomplete.has(digest)) continue;
      for (const l of manifest.layers) layers.set(l.digest, l);
    }
    await destination.prepare?.([...layers.values()]);

    const built = plan.length > 0
      ? await buildIndexes(source, destination, tx, store, plan, spanSize, options)
      : [];
    options.signal?.throwIfAborted();

    // The configs the source has (small): for the local store and the destination.
    const configs = await readConfigs(source, img);
    let root = target;
    const indexes: ConvertedIndex[] = [];
    if (built.length > 0) {
      // Manifests rewritten: the converted ones and every other complete one (F§8 step 4).
      const rewrite = new Map<string, Uint8Array>();
      for (const [digest, { bytes }] of img.manifests) {
        if (!img.incomplete.has(digest)) rewrite.set(digest, bytes);
      }
      const image = await writeSociImage(source, destination, built, {
        target,
        targetBytes: img.targetBytes,
        platform: own,
        manifests: rewrite,
        absent: img.absent,
        blobs: configs,
        readBlob: (d) => tx.readBlob(d),
      });
      root = image.descriptor;
      for (const [digest, bytes] of image.documents) {
        await tx.putBlob(bytes, { digest, size: bytes.length });
      }
      for (const b of built) {
        const bound = image.manifests.find((m) => m.original.digest === b.manifest.digest)!;
        await writeIndex(tx, b.index, {
          manifest: b.manifest,
          boundManifest: bound.descriptor.digest,
          image: image.descriptor,
          platform: formatPlatform(b.platform),
          imageName: name,
        });
        indexes.push({ ...b, boundManifest: bound.descriptor });
      }
    } else {
      // Nothing to convert: the image as it is.
      const fetch: ContentFetcher = async (desc) => {
        const bytes = configs.get(desc.digest) ?? img.manifests.get(desc.digest)?.bytes;
        if (bytes) return bytes;
        if (desc.digest === target.digest) return img.targetBytes;
        if (isDocument(desc)) return await source.fetchBytes(desc);
        return await source.openBlob(desc);
      };
      await destination.commit(target, fetch, { absent: img.absent });
      await tx.putBlob(img.targetBytes, { digest: target.digest, size: target.size });
      for (const [digest, { bytes }] of img.manifests) {
        await tx.putBlob(bytes, { digest, size: bytes.length });
      }
    }
    // The image's documents are in the local store too (never its layers).
    for (const [digest, bytes] of configs) await tx.putBlob(bytes, { digest, size: bytes.length });
    options.signal?.throwIfAborted();

    tx.tagImage(name, { mediaType: root.mediaType, digest: root.digest, size: root.size }, {
      [ANNOTATION_SOURCE]: destination.layerSource ?? options.sourceAnnotation ?? source.reference,
    });
    await tx.commit();
    return {
      image: { mediaType: root.mediaType, digest: root.digest, size: root.size },
      source: target,
      destination: destination.reference,
      name,
      indexes,
      skipped,
      alreadyEnabled,
      unchanged: built.length === 0,
    };
  } catch (e) {
    await destination.abort();
    throw e;
  }
}

/** What {@link buildIndexes} gives per platform. */
interface BuiltIndex {
  platform: Platform;
  manifest: Descriptor;
  index: SociIndex;
}

/** Builds the v2 index of every planned platform, teeing layers to the destination. */
async function buildIndexes(
  source: ImageSource,
  destination: ImageWriter,
  tx: ArtifactTransaction,
  store: ArtifactStore,
  plan: Planned[],
  spanSize: number,
  options: ConvertOptions,
): Promise<BuiltIndex[]> {
  // zTOCs built by this run, by layer digest (a layer shared by platforms is read once).
  const builtHere = new Map<string, ZtocBlob>();
  const find: ZtocFinder = async (layer) => {
    const here = builtHere.get(layer.descriptor.digest);
    if (here) return { ...here, reused: !options.force };
    return options.force ? undefined : await existingZtoc(store, layer, spanSize);
  };
  // The first failure of the destination, reported as is rather than as a layer's.
  let sinkFailure: unknown;
  const fail = (e: unknown) => {
    sinkFailure ??= e;
    return Promise.reject(e);
  };
  // Sinks whose bytes are all written: committed once the scan has checked
  // the layer's digest (in `onLayer`), aborted when the layer failed.
  const pending = new Map<string, BlobSink>();
  const sinkFor = async (layer: Layer): Promise<BlobSink | undefined> => {
    const d = layer.descriptor;
    let sink: BlobSink;
    try {
      if (await destination.obtain(d)) return undefined;
      sink = await destination.openBlob(d);
    } catch (e) {
      return await fail(e);
    }
    return {
      write: (c) => sink.write(c).catch(fail),
      commit: () => {
        pending.set(d.digest, sink);
        return Promise.resolve();
      },
      abort: () => sink.abort(),
    };
  };
  const settle = async (r: IndexInput): Promise<void> => {
    const sink = pending.get(r.layer.descriptor.digest);
    if (sink === undefined) return;
    pending.delete(r.layer.descriptor.digest);
    if (r.error !== undefined) await sink.abort();
    else await sink.commit().catch(fail);
  };
  // New zTOCs go to the destination as soon as they are built, while other
  // layers are still being read: little is left for the final commit.
  const early = new Map<string, Promise<void>>();
  const pushEarly = (desc: Descriptor, bytes: Uint8Array) => {
    if (early.has(desc.digest)) return;
    const p = (async () => {
      if (await destination.has(desc)) return;
      const sink = await destination.openBlob(desc);
      try {
        await sink.write(bytes);
      } catch (e) {
        await sink.abort();
        throw e;
      }
      await sink.commit();
    })().catch(fail);
    p.catch(() => {}); // awaited below
    early.set(desc.digest, p);
  };
  pushEarly(
    { mediaType: OCI_CONFIG_EMPTY_TYPE, digest: EMPTY_CONFIG_DIGEST, size: 2 },
    EMPTY_CONFIG_BYTES,
  );
  async function* sendEarly(input: AsyncIterable<ZtocOutput>): AsyncGenerator<ZtocOutput> {
    for await (const r of input) {
      const z = (r as { ztoc?: ZtocBlob }).ztoc;
      if (z && !z.reused && z.bytes) {
        pushEarly({ mediaType: ZTOC_MEDIA_TYPE, digest: z.digest, size: z.size }, z.bytes);
      }
      yield r;
    }
  }
  const failed = async (e: unknown): Promise<never> => {
    for (const sink of pending.values()) await sink.abort();
    pending.clear();
    await Promise.allSettled(early.values());
    if (sinkFailure !== undefined) {
      throw sinkFailure instanceof SociError
        ? withContext(sinkFailure, `cannot write to ${destination.reference}`)
        : sinkFailure;
    }
    throw e;
  };
  const out: BuiltIndex[] = [];
  for (const { platform, manifest } of plan) {
    const pf = prefetch(options.prefetchPaths ?? [], { loadZtoc: (b) => tx.readBlob(b.digest) });
    let soci: SociIndex;
    try {
      soci = await pipe(
        manifestLayers(source, manifest, options.minLayerSize ?? DEFAULT_MIN_LAYER_SIZE),
        reuse(find),
        tee(sinkFor),
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
        (input) =>
          index(storeZtocs(tx, sendEarly(input)), {
            version: 2,
            allowEmpty: options.allowEmpty,
            prefetch: () => pf.blobs(),
            onLayer: async (r) => {
              await settle(r);
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
            },
          }),
      );
    } catch (e) {
      return await failed(e);
    }
    for (const p of pf.missing()) options.onPrefetchMissing?.(p, platform);
    for (const b of soci.prefetch) options.onPrefetch?.(b, platform);
    out.push({ platform, manifest: manifest.descriptor, index: soci });
  }
  try {
    await Promise.all(early.values());
  } catch (e) {
    return await failed(e);
  }
  return out;
}

/** Documents and configs read more than once (platforms, configs, the image) are read once. */
function withDocumentCache(inner: ImageSource): ImageSource {
  const cache = new Map<string, Promise<Uint8Array>>();
  const out: ImageSource & { hasBlob?: (d: Descriptor) => Promise<boolean> } = {
    reference: inner.reference,
    storeName: inner.storeName,
    resolve: () => inner.resolve(),
    fetchBytes: (d) => {
      if (d.size > 4 * 1024 * 1024) return inner.fetchBytes(d);
      let p = cache.get(d.digest);
      if (!p) {
        p = inner.fetchBytes(d);
        p.catch(() => cache.delete(d.digest));
        cache.set(d.digest, p);
      }
      return p;
    },
    openBlob: (d) => inner.openBlob(d),
    close: () => inner.close?.() ?? Promise.resolve(),
  };
  if (inner.readChunks) out.readChunks = (d) => inner.readChunks!(d);
  if (inner.readRange) out.readRange = (d, a, b) => inner.readRange!(d, a, b);
  const has = (inner as { hasBlob?: (d: Descriptor) => Promise<boolean> }).hasBlob;
  if (typeof has === "function") out.hasBlob = (d) => has.call(inner, d);
  return out;
}

/** The configs of the image's manifests that the source has, by digest. */
async function readConfigs(
  source: ImageSource,
  img: SourceImage,
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const { manifest } of img.manifests.values()) {
    const config = manifest.config;
    if (out.has(config.digest) || img.absent.has(config.digest)) continue;
    out.set(config.digest, await source.fetchBytes(config));
  }
  return out;
}
