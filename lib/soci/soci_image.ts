/**
 * The SOCI-enabled image of `soci convert` (`soci-format.md` §8): given the
 * source image's documents and the v2 SOCI indexes built for some of its
 * manifests, the rewritten image manifests (OCI media types, the
 * `com.amazon.soci.index-digest` annotation) and the new OCI image index
 * that lists them together with one descriptor per v2 index. Pure and
 * deterministic: the same documents and indexes give the same bytes.
 *
 * Where this differs from upstream (which only tests full re-conversion):
 * SOCI index entries of an already converted image that are not rebuilt
 * are kept as they are (upstream rewrites them as if they were image
 * manifests, which breaks them), and entries that are themselves indexes
 * are kept as they are.
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import type { Descriptor, ImageIndex, ImageManifest, Platform } from "../oci/descriptor.ts";
import { sha256Digest } from "../oci/digest.ts";
import { decodeIndex, decodeManifest } from "../oci/json_decode.ts";
import { encodeIndex, encodeManifest } from "../oci/json_encode.ts";
import {
  ANNOTATION_IMAGE_MANIFEST_DIGEST,
  ANNOTATION_INDEX_DIGEST,
  isIndexType,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  SOCI_INDEX_V2,
} from "../oci/media_types.ts";
import { formatPlatform, platformMatches } from "../oci/platform.ts";

/** A v2 SOCI index built for one manifest of the image. */
export interface BuiltV2Index {
  /** Digest of the image manifest (as the source lists it) the index was built for. */
  manifestDigest: string;
  /** The platform the index was built for (it goes on the index's descriptor). */
  platform: Platform;
  /** Digest and size of the v2 SOCI index manifest. */
  index: { digest: string; size: number };
}

/** What {@link sociEnabledImage} needs. */
export interface SociImageInput {
  /** The image's target: an image manifest or an index (OCI or Docker). */
  target: Descriptor;
  /** The target's bytes (for a manifest target, the manifest). */
  targetBytes: Uint8Array;
  /** For a manifest target: its platform (added to its entry in the new index). */
  platform?: Platform;
  /**
   * The image manifests to rewrite, by digest (their bytes as stored).
   * Entries of the index whose manifest is not here are kept as they are;
   * a built index for a manifest that is not here is an error.
   */
  manifests: ReadonlyMap<string, Uint8Array>;
  /** The v2 indexes built, in build order. */
  indexes: readonly BuiltV2Index[];
}

/** One image manifest as the SOCI-enabled image has it. */
export interface RewrittenManifest {
  /** Its entry in the source image (as listed). */
  original: Descriptor;
  /** Its entry in the new index. */
  descriptor: Descriptor;
  /** The rewritten manifest (Go encoding). */
  bytes: Uint8Array;
  /** The rewritten manifest, decoded. */
  manifest: ImageManifest;
  /** Digest of the v2 SOCI index bound to it by this conversion, if any. */
  sociIndex?: string;
}

/** The SOCI-enabled image. */
export interface SociImage {
  /** The new OCI image index. */
  index: ImageIndex;
  /** Its bytes (Go encoding). */
  bytes: Uint8Array;
  /** Its descriptor: OCI index media type, digest, size. */
  descriptor: Descriptor;
  /** Every manifest that was rewritten, in index order (one per entry). */
  manifests: RewrittenManifest[];
  /** The descriptors of the v2 indexes in the new index, in build order. */
  indexes: Descriptor[];
  /** Every document this conversion made (rewritten manifests and the index), by digest. */
  documents: Map<string, Uint8Array>;
}

function copyDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls?.length) out.urls = [...d.urls];
  if (d.annotations && Object.keys(d.annotations).length > 0) {
    out.annotations = { ...d.annotations };
  }
  if (d.data) out.data = d.data;
  if (d.platform) {
    out.platform = { ...d.platform };
    if (d.platform["os.features"]) out.platform["os.features"] = [...d.platform["os.features"]];
  }
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

/**
 * The rewritten form of an image manifest (§8 step 4): OCI manifest and
 * config media types, everything else kept (layers keep their media
 * types), plus the `com.amazon.soci.index-digest` annotation when an index
 * is bound to it. Unknown members are dropped (Go's decode + encode).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rewriteManifest } from "./soci_image.ts";
 * const docker = new TextEncoder().encode(JSON.stringify({
 *   schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.v2+json",
 *   config: { mediaType: "application/vnd.docker.container.image.v1+json",
 *     digest: "sha256:" + "c".repeat(64), size: 10 },
 *   layers: [], extra: true }));
 * const m = rewriteManifest(docker, "sha256:" + "d".repeat(64));
 * assert.equal(m.mediaType, "application/vnd.oci.image.manifest.v1+json");
 * assert.equal(m.config.mediaType, "application/vnd.oci.image.config.v1+json");
 * assert.equal(m.annotations?.["com.amazon.soci.index-digest"], "sha256:" + "d".repeat(64));
 * ```
 */
export function rewriteManifest(bytes: Uint8Array, indexDigest?: string): ImageManifest {
  const m = decodeManifest(bytes);
  m.mediaType = OCI_MANIFEST;
  m.config = { ...m.config, mediaType: OCI_CONFIG };
  if (indexDigest !== undefined) {
    m.annotations = { ...m.annotations, [ANNOTATION_INDEX_DIGEST]: indexDigest };
  }
  return m;
}

/**
 * Builds the SOCI-enabled image (`soci-format.md` §8 steps 2, 4–6):
 *
 * * the starting index is the source index decoded with Go's rules (unknown
 *   members dropped) with the OCI index media type, or, for a manifest
 *   target, a new index listing the target with its platform;
 * * every entry whose manifest is in `input.manifests` is rewritten
 *   ({@link rewriteManifest}); its entry gets the new digest and size, the
 *   OCI manifest media type and the manifest's own annotations (replacing
 *   the entry's), its platform and other members kept;
 * * each built index gets the descriptor
 *   `{mediaType: OCI manifest, digest, size, annotations:
 *   {com.amazon.soci.image-manifest-digest: <new manifest digest>}, platform,
 *   artifactType: v2}`, replacing in place an entry of the v2 artifact type
 *   whose platform matches (strict, normalized), else appended.
 *
 * A built index whose manifest is not in `input.manifests` is a
 * `NotFoundError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sociEnabledImage } from "./soci_image.ts";
 * import { sha256Digest } from "../oci/digest.ts";
 * const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
 * const manifest = enc({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config: { mediaType: "application/vnd.oci.image.config.v1+json",
 *     digest: "sha256:" + "c".repeat(64), size: 10 }, layers: [] });
 * const target = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: sha256Digest(manifest), size: manifest.length };
 * const platform = { architecture: "amd64", os: "linux" };
 * const soci = { digest: "sha256:" + "e".repeat(64), size: 500 };
 * const image = sociEnabledImage({ target, targetBytes: manifest, platform,
 *   manifests: new Map([[target.digest, manifest]]),
 *   indexes: [{ manifestDigest: target.digest, platform, index: soci }] });
 * const [m, i] = image.index.manifests;
 * assert.equal(m.annotations?.["com.amazon.soci.index-digest"], soci.digest);
 * assert.equal(i.annotations?.["com.amazon.soci.image-manifest-digest"], m.digest);
 * assert.equal(i.artifactType, "application/vnd.amazon.soci.index.v2+json");
 * assert.equal(image.descriptor.digest, sha256Digest(image.bytes));
 * ```
 */
export function sociEnabledImage(input: SociImageInput): SociImage {
  const { target } = input;
  let index: ImageIndex;
  if (isIndexType(target.mediaType)) {
    index = decodeIndex(input.targetBytes);
    index.mediaType = OCI_INDEX;
    index.manifests = index.manifests.map(copyDescriptor);
  } else {
    const entry: Descriptor = {
      mediaType: target.mediaType,
      digest: target.digest,
      size: target.size,
    };
    if (input.platform) entry.platform = { ...input.platform };
    index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry] };
  }

  const built = new Map<string, BuiltV2Index>();
  for (const b of input.indexes) if (!built.has(b.manifestDigest)) built.set(b.manifestDigest, b);

  const documents = new Map<string, Uint8Array>();
  const rewritten: RewrittenManifest[] = [];
  const newDigestOf = new Map<string, string>();
  for (let i = 0; i < index.manifests.length; i++) {
    const entry = index.manifests[i];
    if (entry.artifactType === SOCI_INDEX_V2 || isIndexType(entry.mediaType)) continue;
    const bytes = input.manifests.get(entry.digest);
    const b = built.get(entry.digest);
    if (bytes === undefined) {
      if (b !== undefined) {
        throw new NotFoundError(
          `manifest ${entry.digest} (${formatPlatform(b.platform)}): not found`,
        );
      }
      continue;
    }
    const manifest = rewriteManifest(bytes, b?.index.digest);
    const out = encodeManifest(manifest);
    const digest = sha256Digest(out);
    const descriptor: Descriptor = { ...entry, mediaType: OCI_MANIFEST, digest, size: out.length };
    if (manifest.annotations && Object.keys(manifest.annotations).length > 0) {
      descriptor.annotations = { ...manifest.annotations };
    } else {
      delete descriptor.annotations;
    }
    index.manifests[i] = descriptor;
    documents.set(digest, out);
    newDigestOf.set(entry.digest, digest);
    rewritten.push({
      original: entry,
      descriptor,
      bytes: out,
      manifest,
      ...(b ? { sociIndex: b.index.digest } : {}),
    });
  }

  const indexDescriptors: Descriptor[] = [];
  for (const b of built.values()) {
    const d: Descriptor = {
      mediaType: OCI_MANIFEST,
      digest: b.index.digest,
      size: b.index.size,
      annotations: { [ANNOTATION_IMAGE_MANIFEST_DIGEST]: newDigestOf.get(b.manifestDigest)! },
      platform: { ...b.platform },
      artifactType: SOCI_INDEX_V2,
    };
    indexDescriptors.push(d);
    const at = index.manifests.findIndex((e) =>
      e.artifactType === SOCI_INDEX_V2 && e.platform !== undefined &&
      platformMatches(b.platform, e.platform)
    );
    if (at >= 0) index.manifests[at] = d;
    else index.manifests.push(d);
  }

  const bytes = encodeIndex(index);
  const descriptor = { mediaType: OCI_INDEX, digest: sha256Digest(bytes), size: bytes.length };
  documents.set(descriptor.digest, bytes);
  return { index, bytes, descriptor, manifests: rewritten, indexes: indexDescriptors, documents };
}

/**
 * The v2 SOCI index that an index binds to one of its manifests, as the
 * snapshotter finds it (§11.3): the manifest's
 * `com.amazon.soci.index-digest` annotation, naming an entry of the same
 * index with the v2 artifact type. `undefined` when there is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boundSociIndex } from "./soci_image.ts";
 * const soci = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + "e".repeat(64), size: 5,
 *   artifactType: "application/vnd.amazon.soci.index.v2+json" };
 * const index = { schemaVersion: 2, manifests: [soci] };
 * const manifest = { schemaVersion: 2, config: soci, layers: [],
 *   annotations: { "com.amazon.soci.index-digest": soci.digest } };
 * assert.equal(boundSociIndex(index, manifest)?.digest, soci.digest);
 * assert.equal(boundSociIndex(index, { ...manifest, annotations: {} }), undefined);
 * ```
 */
export function boundSociIndex(
  index: ImageIndex,
  manifest: ImageManifest,
): Descriptor | undefined {
  const digest = manifest.annotations?.[ANNOTATION_INDEX_DIGEST];
  if (!digest) return undefined;
  return index.manifests.find((e) => e.digest === digest && e.artifactType === SOCI_INDEX_V2);
}
