/**
 * Finding the SOCI index of an image manifest the way the snapshotter does
 * (`soci-format.md` §11.3), plus the local store:
 *
 * 1. an index digest given explicitly (`--index`);
 * 2. the manifest's `com.amazon.soci.index-digest` annotation (v2, made by
 *    `convert`);
 * 3. the local store's newest index for the manifest (`create`);
 * 4. the registry's referrers API, first v1 referrer (`push`);
 * 5. the registry's `sha256-<hex>` fallback tag, first v1 referrer.
 *
 * The index's blobs (zTOCs) are then read from where the index was found:
 * the store when it holds them, else the image's source.
 *
 * @module
 */
import { BadInputError, NotFoundError, RegistryError } from "../errors.ts";
import type { SelectedManifest } from "../image/select.ts";
import type { ImageSource } from "../image/source.ts";
import { RegistrySource } from "../image/registry_source.ts";
import { StoreSource } from "../image/store_source.ts";
import type { Descriptor, ImageManifest } from "../oci/descriptor.ts";
import { parseDigest, sha256Digest } from "../oci/digest.ts";
import { decodeIndex, decodeManifest } from "../oci/json_decode.ts";
import {
  ANNOTATION_IMAGE_MANIFEST_DIGEST,
  ANNOTATION_INDEX_DIGEST,
  isIndexType,
  OCI_MANIFEST,
  SOCI_INDEX_V1,
  SOCI_INDEX_V2,
} from "../oci/media_types.ts";
import { fallbackTag } from "../registry/referrers.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { resolveDigest } from "./lookup.ts";

/** How an index was found. */
export type IndexVia = "explicit" | "annotation" | "store" | "referrers" | "tag";

/** A SOCI index found for an image manifest. */
export interface FoundIndex {
  /** The index's descriptor (OCI manifest media type, digest, size). */
  descriptor: Descriptor;
  /** The index document exactly as stored. */
  bytes: Uint8Array;
  /** The decoded document (Go rules). */
  manifest: ImageManifest;
  /** `v1` or `v2`, from its `config.mediaType`. */
  version: "v1" | "v2";
  /** How it was found. */
  via: IndexVia;
  /** Where it was read from: the local store or the image's source. */
  from: "store" | "image";
}

/** What {@link discoverIndex} found, and what it tried. */
export interface Discovery {
  /** The index, when one was found. */
  index?: FoundIndex;
  /** One short phrase per place looked at, in order (for "nothing found" messages). */
  tried: string[];
}

/** Options of {@link discoverIndex}. */
export interface DiscoveryOptions {
  /** The local store, for indexes built by `create` (and an explicit digest stored there). */
  store?: ArtifactStore;
  /** An explicit index digest (or, with a store, a unique digest prefix). */
  indexDigest?: string;
  /**
   * The registry image to ask for referrers: the image source itself for
   * `docker://` images, the image's original source for a stored image.
   */
  registry?: RegistrySource;
  /** The image's target, when it is an index (v2 index descriptors give sizes). */
  target?: Descriptor;
  /** Stops the search: it fails with the signal's reason (at once when already aborted). */
  signal?: AbortSignal;
}

/** Largest index document read by digest when its size is not known. */
const MAX_INDEX_BYTES = 4 * 1024 * 1024;

/**
 * Reads a manifest-like blob by digest alone (size unknown): from a
 * registry as a manifest, from a store by its recorded size, from other
 * sources as a blob; verified against the digest.
 */
async function fetchByDigest(
  source: ImageSource,
  digest: string,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  if (source instanceof RegistrySource) {
    try {
      return (await source.client.manifests.get(source.repository, digest, undefined, { signal }))
        .bytes;
    } catch (e) {
      if (e instanceof RegistryError && e.status === 404) {
        throw new NotFoundError(`${digest} is not in ${source.storeName}`, { cause: e });
      }
      throw e;
    }
  }
  if (source instanceof StoreSource) {
    const info = await source.store.stat(digest);
    if (info === undefined) throw new NotFoundError(`${digest} is not in the local store`);
    return await source.store.readBlob(digest);
  }
  const stream = await source.openBlob({ mediaType: OCI_MANIFEST, digest, size: 0 }, signal);
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of stream) {
    signal?.throwIfAborted();
    n += chunk.length;
    if (n > MAX_INDEX_BYTES) {
      await stream.cancel().catch(() => {});
      throw new BadInputError(`${digest} is larger than ${MAX_INDEX_BYTES} bytes: not an index`);
    }
    parts.push(chunk.slice());
  }
  const bytes = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.length;
  }
  const got = sha256Digest(bytes);
  if (got !== digest) throw new BadInputError(`blob ${digest} has digest ${got}`);
  return bytes;
}

/**
 * Decodes an index document: it must be a manifest whose `config.mediaType`
 * is a SOCI index type (`unknown index version: <type>` otherwise).
 */
export function decodeSociIndex(
  bytes: Uint8Array,
  digest: string,
): { manifest: ImageManifest; version: "v1" | "v2" } {
  let manifest: ImageManifest;
  try {
    manifest = decodeManifest(bytes);
  } catch (e) {
    throw new BadInputError(`SOCI index ${digest} does not decode: ${(e as Error).message}`);
  }
  const type = manifest.config?.mediaType;
  if (type === SOCI_INDEX_V1) return { manifest, version: "v1" };
  if (type === SOCI_INDEX_V2) return { manifest, version: "v2" };
  throw new BadInputError(`${digest} is not a SOCI index: unknown index version: ${type ?? ""}`);
}

function found(
  bytes: Uint8Array,
  digest: string,
  via: IndexVia,
  from: "store" | "image",
): FoundIndex {
  const { manifest, version } = decodeSociIndex(bytes, digest);
  return {
    descriptor: { mediaType: OCI_MANIFEST, digest, size: bytes.length },
    bytes,
    manifest,
    version,
    via,
    from,
  };
}

/** Reads index `digest` from the store when it has it, else from the source. */
async function readIndexBlob(
  digest: string,
  source: ImageSource,
  options: DiscoveryOptions,
  sized?: Descriptor,
): Promise<{ bytes: Uint8Array; from: "store" | "image" }> {
  const store = options.store;
  if (store !== undefined && (await store.has(digest))) {
    const bytes = await store.readBlob(digest);
    const got = sha256Digest(bytes);
    if (got !== digest) throw new BadInputError(`stored blob ${digest} has digest ${got}`);
    return { bytes, from: "store" };
  }
  const sources = [source];
  if (options.registry !== undefined && options.registry !== source) sources.push(options.registry);
  for (let i = 0;; i++) {
    try {
      const bytes = sized !== undefined && !(sources[i] instanceof StoreSource)
        ? await sources[i].fetchBytes(sized, options.signal)
        : await fetchByDigest(sources[i], digest, options.signal);
      return { bytes, from: "image" };
    } catch (e) {
      if (!(e instanceof NotFoundError) || i === sources.length - 1) throw e;
    }
  }
}

/** The v2 index descriptor the image's OCI index lists for a manifest (it carries the size). */
async function v2Descriptor(
  source: ImageSource,
  target: Descriptor | undefined,
  manifestDigest: string,
  indexDigest: string,
  signal: AbortSignal | undefined,
): Promise<Descriptor | undefined> {
  if (target === undefined || !isIndexType(target.mediaType)) return undefined;
  try {
    const list = decodeIndex(await source.fetchBytes(target, signal)).manifests ?? [];
    return list.find((d) =>
      d.digest === indexDigest &&
      (d.annotations?.[ANNOTATION_IMAGE_MANIFEST_DIGEST] ?? manifestDigest) === manifestDigest
    );
  } catch {
    if (signal?.aborted) throw signal.reason;
    return undefined;
  }
}

/**
 * Finds the SOCI index of `manifest` (see the module documentation).
 * Nothing found is not an error: `index` is absent and `tried` says where
 * it was looked for. An explicit digest that cannot be read, or a document
 * that is not a SOCI index, is an error. When `options.signal` aborts, the
 * search fails with its reason (requests in flight are stopped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { discoverIndex } from "./index_discovery.ts";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * import { selectManifest } from "../image/select.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const target = await image.resolve();
 * const manifest = await selectManifest(image, target, { os: "linux", architecture: "amd64" });
 * const { index, tried } = await discoverIndex(image, manifest, { target });
 * assert.equal(index, undefined); // the sample image has no SOCI index
 * assert.match(tried.join("; "), /no com.amazon.soci.index-digest annotation/);
 * ```
 */
export async function discoverIndex(
  source: ImageSource,
  manifest: SelectedManifest,
  options: DiscoveryOptions = {},
): Promise<Discovery> {
  const signal = options.signal;
  signal?.throwIfAborted();
  const tried: string[] = [];
  const manifestDigest = manifest.descriptor.digest;
  const store = options.store;

  // 1. explicit
  if (options.indexDigest) {
    const digest = store ? resolveDigest(store.db, options.indexDigest) : options.indexDigest;
    parseDigest(digest);
    const blob = await readIndexBlob(digest, source, options);
    return { index: found(blob.bytes, digest, "explicit", blob.from), tried };
  }

  // 2. the v2 annotation
  const annotated = manifest.manifest.annotations?.[ANNOTATION_INDEX_DIGEST];
  if (annotated) {
    try {
      parseDigest(annotated);
      const sized = await v2Descriptor(source, options.target, manifestDigest, annotated, signal);
      const blob = await readIndexBlob(annotated, source, options, sized);
      return { index: found(blob.bytes, annotated, "annotation", blob.from), tried };
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      tried.push(`annotation ${ANNOTATION_INDEX_DIGEST} names ${annotated}, which is missing`);
    }
  } else tried.push(`no ${ANNOTATION_INDEX_DIGEST} annotation on the manifest`);

  // 3. the local store
  if (store !== undefined) {
    const records = store.db.indexesByManifest(manifestDigest)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    let hit: FoundIndex | undefined;
    for (const rec of records) {
      signal?.throwIfAborted();
      if (!(await store.has(rec.digest))) continue;
      const bytes = await store.readBlob(rec.digest);
      if (sha256Digest(bytes) !== rec.digest) continue;
      hit = found(bytes, rec.digest, "store", "store");
      break;
    }
    if (hit) return { index: hit, tried };
    tried.push(`no index for ${manifestDigest} in the local store`);
  } else tried.push("no local store");

  // 4./5. the registry
  const reg = options.registry;
  if (reg === undefined) {
    tried.push("not a registry image (no referrers to ask)");
    return { tried };
  }
  const repo = reg.repository;
  const referrers = reg.client.referrers;
  // While it is not known whether the registry has the API, the fallback tag
  // is asked for at the same time (one round trip instead of two); the API's
  // answer still comes first.
  const early = referrers.support === "unknown"
    ? referrers.fallbackIndex(repo, manifestDigest, { signal })
    : undefined;
  early?.catch(() => {});
  const api = await referrers.api(repo, manifestDigest, SOCI_INDEX_V1, { signal });
  let first: Descriptor | undefined;
  let via: IndexVia = "referrers";
  if (api === undefined) tried.push(`${reg.client.registry} has no referrers API`);
  else if (api.length === 0) tried.push("the referrers API lists no SOCI v1 index");
  else first = api[0];
  if (first === undefined) {
    via = "tag";
    const tag = fallbackTag(manifestDigest);
    const fallback = await (early ?? referrers.fallbackIndex(repo, manifestDigest, { signal }));
    if (fallback === undefined) tried.push(`no fallback tag ${tag}`);
    else {
      first = (fallback.index.manifests ?? []).find((d) => d.artifactType === SOCI_INDEX_V1);
      if (first === undefined) tried.push(`fallback tag ${tag} lists no SOCI v1 index`);
    }
  }
  if (first === undefined) return { tried };
  const desc = { ...first, mediaType: first.mediaType || OCI_MANIFEST };
  const blob = await readIndexBlob(desc.digest, reg, options, desc);
  return { index: found(blob.bytes, desc.digest, via, blob.from), tried };
}
