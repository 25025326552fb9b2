/**
 * The SOCI index manifest (`soci-format.md` §7.2–7.5): zTOC descriptors
 * with their annotations, the `{}` config, the subject (v1), and the
 * `disable-xattrs` optimization.
 *
 * @module
 */
import type { Descriptor, ImageManifest } from "../oci/descriptor.ts";
import {
  ANNOTATION_BUILD_TOOL,
  ANNOTATION_DISABLE_XATTRS,
  ANNOTATION_LAYER_DIGEST,
  ANNOTATION_LAYER_MEDIA_TYPE,
  ANNOTATION_SPAN_SIZE,
  BUILD_TOOL_IDENTIFIER,
  EMPTY_CONFIG_DIGEST,
  OCI_MANIFEST,
  SOCI_INDEX_V1,
  SOCI_INDEX_V2,
  ZTOC_MEDIA_TYPE,
} from "../oci/media_types.ts";
export { canDisableXattrs } from "../ztoc/xattr_free.ts";

/** SOCI index format version. */
export type SociIndexVersion = "v1" | "v2";

/** What a zTOC descriptor in an index says about its layer. */
export interface ZtocDescriptorInput {
  /** The zTOC blob's digest. */
  digest: string;
  /** The zTOC blob's size in bytes. */
  size: number;
  /** The image layer the zTOC indexes. */
  layer: Descriptor;
  /** Span size the zTOC was built with. */
  spanSize: number;
  /** Adds `com.amazon.soci.disable-xattrs: true`. */
  disableXattrs?: boolean;
}

/**
 * The descriptor of a zTOC inside a SOCI index (F§7.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ztocDescriptor } from "./soci_index.ts";
 * const d = ztocDescriptor({
 *   digest: "sha256:" + "a".repeat(64), size: 100, spanSize: 4194304,
 *   layer: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *            digest: "sha256:" + "b".repeat(64), size: 1000 },
 * });
 * assert.ok(d.annotations?.["com.amazon.soci.span-size"] === "4194304");
 * ```
 */
export function ztocDescriptor(input: ZtocDescriptorInput): Descriptor {
  const annotations: Record<string, string> = {};
  if (input.disableXattrs) annotations[ANNOTATION_DISABLE_XATTRS] = "true";
  annotations[ANNOTATION_LAYER_DIGEST] = input.layer.digest;
  annotations[ANNOTATION_LAYER_MEDIA_TYPE] = input.layer.mediaType;
  annotations[ANNOTATION_SPAN_SIZE] = String(input.spanSize);
  return { mediaType: ZTOC_MEDIA_TYPE, digest: input.digest, size: input.size, annotations };
}

/**
 * The SOCI index manifest: `blobs` are the zTOC descriptors in layer order
 * followed by prefetch descriptors; v1 carries `subject` (only its media
 * type, digest and size), v2 none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sociIndexManifest } from "./soci_index.ts";
 * const m = sociIndexManifest("v2", []);
 * assert.ok(m.config.mediaType === "application/vnd.amazon.soci.index.v2+json");
 * ```
 */
export function sociIndexManifest(
  version: SociIndexVersion,
  blobs: Descriptor[],
  subject?: Descriptor,
): ImageManifest {
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: version === "v1" ? SOCI_INDEX_V1 : SOCI_INDEX_V2,
      digest: EMPTY_CONFIG_DIGEST,
      size: 2,
    },
    layers: blobs,
    annotations: { [ANNOTATION_BUILD_TOOL]: BUILD_TOOL_IDENTIFIER },
  };
  if (version === "v1") {
    if (subject === undefined) throw new Error("a v1 SOCI index needs a subject");
    m.subject = { mediaType: subject.mediaType, digest: subject.digest, size: subject.size };
  }
  return m;
}
