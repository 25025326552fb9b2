/**
 * Layer media type rules (`soci-format.md` §7.3 items 1–4): which media
 * types are layers, and the compression containerd derives from them.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import {
  DOCKER_FOREIGN_LAYER,
  DOCKER_FOREIGN_LAYER_GZIP,
  DOCKER_LAYER_GZIP,
  DOCKER_LAYER_TAR,
  DOCKER_LAYER_ZSTD,
  OCI_LAYER_TAR,
} from "./media_types.ts";

const OCI_LAYER_PREFIX = "application/vnd.oci.image.layer.";
/** OCI non-distributable layer (deprecated upstream, still recognised by containerd). */
const OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar";

const DOCKER_LAYERS = new Set([
  DOCKER_LAYER_TAR,
  DOCKER_LAYER_GZIP,
  DOCKER_LAYER_ZSTD,
  DOCKER_FOREIGN_LAYER,
  DOCKER_FOREIGN_LAYER_GZIP,
]);

/**
 * True for layer media types: anything starting with
 * `application/vnd.oci.image.layer.`, and the Docker rootfs types (tar,
 * gzip, zstd, foreign tar, foreign gzip) with any `+suffix` ignored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLayerMediaType } from "./layer_types.ts";
 * assert.ok(isLayerMediaType("application/vnd.oci.image.layer.v1.tar+zstd"));
 * assert.ok(isLayerMediaType("application/vnd.docker.image.rootfs.diff.tar.gzip+x"));
 * assert.ok(!isLayerMediaType("application/octet-stream"));
 * ```
 */
export function isLayerMediaType(mediaType: string): boolean {
  if (mediaType.startsWith(OCI_LAYER_PREFIX)) return true;
  const plus = mediaType.indexOf("+");
  return DOCKER_LAYERS.has(plus < 0 ? mediaType : mediaType.slice(0, plus));
}

/** Compression of a layer as containerd names it; `""` means not recognised. */
export type LayerCompression = "gzip" | "uncompressed" | "unknown" | "zstd" | "";

/**
 * The compression of a layer from its media type (containerd's rules:
 * split at `+`, sort the suffixes, look at the last one):
 * OCI `…layer.v1.tar` exactly → `uncompressed`; OCI or non-distributable
 * layer with last suffix `gzip`/`zstd` → that; other OCI variants → `""`;
 * Docker gzip types → `gzip`, Docker tar types → `unknown`, Docker zstd →
 * `zstd`, Docker types with a suffix → `""`. Any other base throws
 * `could not determine layer compression: unrecognised mediatype <mt>`
 * (a `BadInputError`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layerCompression } from "./layer_types.ts";
 * assert.ok(layerCompression("application/vnd.oci.image.layer.v1.tar+gzip") === "gzip");
 * assert.ok(layerCompression("application/vnd.docker.image.rootfs.diff.tar") === "unknown");
 * assert.ok(layerCompression("application/vnd.oci.image.layer.v1.tar+foo") === "");
 * ```
 */
export function layerCompression(mediaType: string): LayerCompression {
  const parts = mediaType.split("+");
  const base = parts[0];
  const ext = parts.slice(1).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  switch (base) {
    case DOCKER_LAYER_TAR:
    case DOCKER_FOREIGN_LAYER:
      return ext.length > 0 ? "" : "unknown";
    case DOCKER_LAYER_GZIP:
    case DOCKER_FOREIGN_LAYER_GZIP:
      return ext.length > 0 ? "" : "gzip";
    case DOCKER_LAYER_ZSTD:
      return ext.length > 0 ? "" : "zstd";
    case OCI_LAYER_TAR:
    case OCI_LAYER_NONDISTRIBUTABLE: {
      if (ext.length === 0) return base === OCI_LAYER_TAR ? "uncompressed" : "";
      const last = ext[ext.length - 1];
      return last === "gzip" ? "gzip" : last === "zstd" ? "zstd" : "";
    }
  }
  throw new BadInputError(
    `could not determine layer compression: unrecognised mediatype ${mediaType}`,
  );
}
