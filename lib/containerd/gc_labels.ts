/**
 * containerd's garbage-collection labels and the ones upstream `soci` puts
 * on its artifacts (`soci-format.md` §10.3): a blob or image record that
 * carries `containerd.io/gc.ref.content.<name>=<digest>` keeps that digest
 * alive; `containerd.io/gc.root` keeps the blob itself.
 *
 * @module
 */
import type { ImageIndex, ImageManifest } from "../oci/descriptor.ts";

/** A blob with this label is a GC root (kept until the label goes). */
export const GC_ROOT_LABEL = "containerd.io/gc.root";
/** Prefix of the labels that make a blob or image keep another blob. */
export const GC_REF_CONTENT_PREFIX = "containerd.io/gc.ref.content.";
/** The label `soci create` sets on the source image record: the index built last. */
export const SOCI_INDEX_IMAGE_LABEL = "containerd.io/gc.ref.content.soci-index";

/**
 * The labels of a SOCI index blob: `…gc.ref.content.config` → its config
 * (the `{}` blob) and `…gc.ref.content.ztoc.<i>` → `layers[i]` (zTOCs and
 * prefetch blobs), i from 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sociIndexGcLabels } from "./gc_labels.ts";
 * const labels = sociIndexGcLabels({
 *   schemaVersion: 2,
 *   config: { mediaType: "application/vnd.amazon.soci.index.v1+json", digest: "sha256:c", size: 2 },
 *   layers: [{ mediaType: "application/octet-stream", digest: "sha256:z0", size: 9 }],
 * });
 * assert.deepEqual(labels, {
 *   "containerd.io/gc.ref.content.config": "sha256:c",
 *   "containerd.io/gc.ref.content.ztoc.0": "sha256:z0",
 * });
 * ```
 */
export function sociIndexGcLabels(index: ImageManifest): Record<string, string> {
  const labels: Record<string, string> = {
    [`${GC_REF_CONTENT_PREFIX}config`]: index.config.digest,
  };
  index.layers.forEach((d, i) => labels[`${GC_REF_CONTENT_PREFIX}ztoc.${i}`] = d.digest);
  return labels;
}

/**
 * The labels of an image manifest written by `convert`:
 * `…gc.ref.content.config` and `…gc.ref.content.l.<i>` for each layer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestGcLabels } from "./gc_labels.ts";
 * const labels = manifestGcLabels({
 *   schemaVersion: 2,
 *   config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: "sha256:c", size: 9 },
 *   layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: "sha256:l", size: 9 }],
 * });
 * assert.equal(labels["containerd.io/gc.ref.content.l.0"], "sha256:l");
 * assert.equal(labels["containerd.io/gc.ref.content.config"], "sha256:c");
 * ```
 */
export function manifestGcLabels(manifest: ImageManifest): Record<string, string> {
  const labels: Record<string, string> = {
    [`${GC_REF_CONTENT_PREFIX}config`]: manifest.config.digest,
  };
  manifest.layers.forEach((d, i) => labels[`${GC_REF_CONTENT_PREFIX}l.${i}`] = d.digest);
  return labels;
}

/**
 * The labels of an OCI index written by `convert`: `…gc.ref.content.m.<i>`
 * for each entry of `manifests`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indexGcLabels } from "./gc_labels.ts";
 * const labels = indexGcLabels({
 *   schemaVersion: 2,
 *   manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:m", size: 9 }],
 * });
 * assert.deepEqual(labels, { "containerd.io/gc.ref.content.m.0": "sha256:m" });
 * ```
 */
export function indexGcLabels(index: ImageIndex): Record<string, string> {
  const labels: Record<string, string> = {};
  index.manifests.forEach((d, i) => labels[`${GC_REF_CONTENT_PREFIX}m.${i}`] = d.digest);
  return labels;
}

/**
 * The label with which an image record keeps one SOCI index of the image:
 * `containerd.io/gc.ref.content.soci-index.<hex>` (besides upstream's
 * {@link SOCI_INDEX_IMAGE_LABEL}, which names only the index built last, so
 * that every platform's index is kept while the image exists).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sociIndexRefLabel } from "./gc_labels.ts";
 * assert.equal(sociIndexRefLabel("sha256:ab"), "containerd.io/gc.ref.content.soci-index.ab");
 * ```
 */
export function sociIndexRefLabel(indexDigest: string): string {
  return `${SOCI_INDEX_IMAGE_LABEL}.${indexDigest.slice(indexDigest.indexOf(":") + 1)}`;
}

/** The SOCI index artifact types (a manifest whose config has one of them is a SOCI index). */
const SOCI_INDEX_TYPES = new Set([
  "application/vnd.amazon.soci.index.v1+json",
  "application/vnd.amazon.soci.index.v2+json",
]);

/** What {@link documentGcLabels} found a blob to be. */
export type DocumentKind = "soci-index" | "manifest" | "index" | "other";

/**
 * The GC labels of a JSON document, by what it is: a SOCI index (its config
 * media type is a SOCI index type) gets {@link sociIndexGcLabels}, another
 * manifest {@link manifestGcLabels}, an index {@link indexGcLabels}; other
 * bytes (zTOCs, configs, JSON that is none of these) get none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { documentGcLabels } from "./gc_labels.ts";
 * const soci = JSON.stringify({
 *   schemaVersion: 2,
 *   config: { mediaType: "application/vnd.amazon.soci.index.v1+json", digest: "sha256:c", size: 2 },
 *   layers: [{ mediaType: "application/octet-stream", digest: "sha256:z", size: 9 }],
 * });
 * assert.deepEqual(documentGcLabels(new TextEncoder().encode(soci)), {
 *   kind: "soci-index",
 *   labels: {
 *     "containerd.io/gc.ref.content.config": "sha256:c",
 *     "containerd.io/gc.ref.content.ztoc.0": "sha256:z",
 *   },
 * });
 * assert.deepEqual(documentGcLabels(new Uint8Array([0x1c, 0x00])), { kind: "other", labels: {} });
 * assert.equal(documentGcLabels(new TextEncoder().encode('{"architecture":"amd64"}')).kind, "other");
 * ```
 */
export function documentGcLabels(
  bytes: Uint8Array,
): { kind: DocumentKind; labels: Record<string, string> } {
  const other = { kind: "other" as const, labels: {} };
  let i = 0;
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)
  ) i++;
  if (bytes[i] !== 0x7b) return other;
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return other;
  }
  const o = doc as Record<string, unknown>;
  const isDesc = (v: unknown): v is { digest: string } =>
    typeof v === "object" && v !== null &&
    typeof (v as Record<string, unknown>).digest === "string";
  if (isDesc(o.config) && Array.isArray(o.layers) && o.layers.every(isDesc)) {
    const m = o as unknown as ImageManifest;
    const type = (m.config as { mediaType?: unknown }).mediaType;
    return typeof type === "string" && SOCI_INDEX_TYPES.has(type)
      ? { kind: "soci-index", labels: sociIndexGcLabels(m) }
      : { kind: "manifest", labels: manifestGcLabels(m) };
  }
  if (Array.isArray(o.manifests) && o.manifests.every(isDesc)) {
    return { kind: "index", labels: indexGcLabels(o as unknown as ImageIndex) };
  }
  return other;
}

/**
 * The GC labels of `wanted` that a blob with labels `existing` still
 * lacks: a reference counts as there when some
 * `containerd.io/gc.ref.content.*` label of the blob already names its
 * digest (whatever the key: containerd's pull, upstream `soci` and this
 * tool number children alike for images, but other writers may not).
 * Existing labels are never taken away or renamed; a wanted key that is
 * taken by another digest is added under `<key>.<n>` (the first free n
 * from 1), so that no reference of the blob is lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { missingGcLabels } from "./gc_labels.ts";
 * const existing = {
 *   "containerd.io/gc.ref.content.config": "sha256:c",
 *   "containerd.io/gc.ref.content.0": "sha256:l0", // another writer's key for a layer
 *   "containerd.io/gc.ref.content.l.1": "sha256:other",
 * };
 * assert.deepEqual(missingGcLabels(existing, {
 *   "containerd.io/gc.ref.content.config": "sha256:c",
 *   "containerd.io/gc.ref.content.l.0": "sha256:l0",
 *   "containerd.io/gc.ref.content.l.1": "sha256:l1",
 * }), { "containerd.io/gc.ref.content.l.1.1": "sha256:l1" });
 * ```
 */
export function missingGcLabels(
  existing: Readonly<Record<string, string>>,
  wanted: Readonly<Record<string, string>>,
): Record<string, string> {
  const held = new Set<string>();
  for (const [k, v] of Object.entries(existing)) {
    if (k.startsWith(GC_REF_CONTENT_PREFIX)) held.add(v);
  }
  const out: Record<string, string> = {};
  const taken = (k: string) => k in existing || k in out;
  for (const [key, digest] of Object.entries(wanted)) {
    if (held.has(digest)) continue;
    let k = key;
    for (let n = 1; taken(k); n++) k = `${key}.${n}`;
    out[k] = digest;
    held.add(digest);
  }
  return out;
}
