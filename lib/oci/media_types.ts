/**
 * Media types, artifact types, annotation keys and fixed values used by
 * SOCI and the OCI image spec (`soci-format.md` §1).
 *
 * @module
 */

/** OCI image manifest. Also the media type of every SOCI index document. */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** OCI image index. */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/** OCI image config. */
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
/** Docker schema 2 manifest. */
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
/** Docker manifest list. */
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Docker image config. */
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";

/** OCI uncompressed tar layer. */
export const OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";
/** OCI gzip layer. */
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
/** OCI zstd layer. */
export const OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
/** Docker uncompressed layer. */
export const DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar";
/** Docker gzip layer. */
export const DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/** Docker zstd layer. */
export const DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/** Docker foreign uncompressed layer. */
export const DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar";
/** Docker foreign gzip layer. */
export const DOCKER_FOREIGN_LAYER_GZIP =
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/** Artifact type (config media type) of a SOCI v1 index. */
export const SOCI_INDEX_V1 = "application/vnd.amazon.soci.index.v1+json";
/** Artifact type (config media type) of a SOCI v2 index. */
export const SOCI_INDEX_V2 = "application/vnd.amazon.soci.index.v2+json";
/** Media type of zTOC descriptors. */
export const ZTOC_MEDIA_TYPE = "application/octet-stream";
/** Media type of prefetch artifacts. */
export const PREFETCH_MEDIA_TYPE = "application/vnd.amazon.soci.prefetch.v1+json";

/** Annotation on zTOC descriptors: media type of the image layer (capital `T`). */
export const ANNOTATION_LAYER_MEDIA_TYPE = "com.amazon.soci.image-layer-mediaType";
/** Annotation on zTOC and prefetch descriptors: digest of the image layer. */
export const ANNOTATION_LAYER_DIGEST = "com.amazon.soci.image-layer-digest";
/** Annotation on zTOC descriptors: span size as a decimal string. */
export const ANNOTATION_SPAN_SIZE = "com.amazon.soci.span-size";
/** Annotation on zTOC descriptors under the `xattr` optimization. */
export const ANNOTATION_DISABLE_XATTRS = "com.amazon.soci.disable-xattrs";
/** Annotation on SOCI index manifests: the build tool. */
export const ANNOTATION_BUILD_TOOL = "com.amazon.soci.build-tool-identifier";
/** Annotation on image manifests rewritten by convert (v2). */
export const ANNOTATION_INDEX_DIGEST = "com.amazon.soci.index-digest";
/** Annotation on v2 index descriptors inside a SOCI-enabled image index. */
export const ANNOTATION_IMAGE_MANIFEST_DIGEST = "com.amazon.soci.image-manifest-digest";
/** OCI annotation naming an image in an image layout's `index.json`. */
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";

/** Build tool identifier written into zTOCs and index annotations. */
export const BUILD_TOOL_IDENTIFIER = "AWS SOCI CLI v0.2";
/** zTOC version string. */
export const ZTOC_VERSION = "0.9";
/** Bytes of the empty config blob. */
export const EMPTY_CONFIG_BYTES: Uint8Array = new Uint8Array([0x7b, 0x7d]);
/** Digest of the empty config blob `{}`. */
export const EMPTY_CONFIG_DIGEST =
  "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/** Default span size: 4 MiB. */
export const DEFAULT_SPAN_SIZE = 4 * 1024 * 1024;
/** Default minimum layer size: 10 MiB. */
export const DEFAULT_MIN_LAYER_SIZE = 10 * 1024 * 1024;

/**
 * True for the media types of image manifests (OCI or Docker).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isManifestType } from "./media_types.ts";
 * assert.ok(isManifestType("application/vnd.oci.image.manifest.v1+json"));
 * ```
 */
export function isManifestType(mediaType: string | undefined): boolean {
  return mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST;
}

/**
 * True for the media types of image indexes (OCI index or Docker list).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isIndexType } from "./media_types.ts";
 * assert.ok(isIndexType("application/vnd.oci.image.index.v1+json"));
 * ```
 */
export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}
