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
