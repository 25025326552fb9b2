/**
 * One artifact of the artifacts DB (`soci-format.md` §9): the record type
 * and constructors for each kind (index, zTOC, prefetch blob).
 *
 * @module
 */
import { SociError } from "../errors.ts";
import { OCI_MANIFEST, PREFETCH_MEDIA_TYPE, ZTOC_MEDIA_TYPE } from "../oci/media_types.ts";

/** Kind of an artifact row (F§9 `type`). */
export type ArtifactType = "soci_index" | "soci_layer" | "soci_prefetch";

/**
 * One artifact (F§9). For an index: `location` and `originalDigest` = image
 * manifest digest, `imageDigest` = image target digest, `platform`
 * `os/arch[/variant]`, `artifactType` v1/v2. For a zTOC (`soci_layer`):
 * `location` and `originalDigest` = layer digest, `spanSize`. Strings not
 * used by a kind are `""`, numbers `0`.
 */
export interface ArtifactRecord {
  /** Digest of the artifact blob (the key). */
  digest: string;
  /** Size of the blob in bytes. */
  size: number;
  /** Index: image manifest digest at build time; zTOC: layer digest; prefetch: `""`. */
  location: string;
  /** Index: image manifest digest (updated by convert); zTOC/prefetch: layer digest. */
  originalDigest: string;
  /** Index: digest of the image target (manifest or index); others `""`. */
  imageDigest: string;
  /** Index: `os/arch[/variant]`; others `""`. */
  platform: string;
  /** Kind of artifact. */
  type: ArtifactType;
  /** Media type of the artifact blob. */
  mediaType: string;
  /** Index: its artifact type (config media type); others `""`. */
  artifactType: string;
  /** zTOC: span size it was built with; others `0`. */
  spanSize: number;
  /** When the artifact was recorded (stored in microseconds). */
  createdAt: Date;
}

const TYPES = new Set<string>(["soci_index", "soci_layer", "soci_prefetch"]);

/**
 * Checks a record before it is written: a known type, a valid creation
 * time, sizes that are safe integers (`SociError` otherwise).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRecord, ztocRecord } from "./artifact_record.ts";
 * const ok = ztocRecord("sha256:" + "a".repeat(64), 10, "sha256:" + "b".repeat(64), 4194304);
 * checkRecord(ok);
 * assert.throws(() => checkRecord({ ...ok, size: -1 }), /invalid size -1/);
 * ```
 */
export function checkRecord(rec: ArtifactRecord): void {
  if (!TYPES.has(rec.type)) throw new SociError(`unknown artifact type ${rec.type}`);
  if (!(rec.createdAt instanceof Date) || Number.isNaN(rec.createdAt.getTime())) {
    throw new SociError(`artifact ${rec.digest}: invalid creation time`);
  }
  if (!Number.isSafeInteger(rec.size) || rec.size < 0) {
    throw new SociError(`artifact ${rec.digest}: invalid size ${rec.size}`);
  }
  if (!Number.isSafeInteger(rec.spanSize)) {
    throw new SociError(`artifact ${rec.digest}: invalid span size ${rec.spanSize}`);
  }
}

/**
 * The DB record of a zTOC (F§9: `soci_layer`, location and original digest
 * = the layer digest).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ztocRecord } from "./artifact_record.ts";
 * const r = ztocRecord("sha256:" + "a".repeat(64), 10, "sha256:" + "b".repeat(64), 4194304);
 * assert.equal(r.type, "soci_layer");
 * assert.equal(r.originalDigest, r.location);
 * ```
 */
export function ztocRecord(
  digest: string,
  size: number,
  layerDigest: string,
  spanSize: number,
  createdAt: Date = new Date(),
): ArtifactRecord {
  return {
    digest,
    size,
    location: layerDigest,
    originalDigest: layerDigest,
    imageDigest: "",
    platform: "",
    type: "soci_layer",
    mediaType: ZTOC_MEDIA_TYPE,
    artifactType: "",
    spanSize,
    createdAt,
  };
}

/**
 * The DB record of a SOCI index (F§9: `soci_index`, location and original
 * digest = the image manifest, image digest = the image's target).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indexRecord } from "./artifact_record.ts";
 * const d = "sha256:" + "c".repeat(64);
 * const r = indexRecord(d, 10, d, d, "linux/amd64", "application/vnd.amazon.soci.index.v1+json");
 * assert.equal(r.type, "soci_index");
 * assert.equal(r.spanSize, 0);
 * ```
 */
export function indexRecord(
  digest: string,
  size: number,
  manifestDigest: string,
  imageDigest: string,
  platform: string,
  artifactType: string,
  createdAt: Date = new Date(),
): ArtifactRecord {
  return {
    digest,
    size,
    location: manifestDigest,
    originalDigest: manifestDigest,
    imageDigest,
    platform,
    type: "soci_index",
    mediaType: OCI_MANIFEST,
    artifactType,
    spanSize: 0,
    createdAt,
  };
}

/**
 * The DB record of a prefetch blob (F§9: `soci_prefetch`, original digest =
 * the layer digest, location empty).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prefetchRecord } from "./artifact_record.ts";
 * const r = prefetchRecord("sha256:" + "a".repeat(64), 60, "sha256:" + "b".repeat(64));
 * assert.equal(r.type, "soci_prefetch");
 * assert.equal(r.location, "");
 * assert.equal(r.mediaType, "application/vnd.amazon.soci.prefetch.v1+json");
 * ```
 */
export function prefetchRecord(
  digest: string,
  size: number,
  layerDigest: string,
  createdAt: Date = new Date(),
): ArtifactRecord {
  return {
    digest,
    size,
    location: "",
    originalDigest: layerDigest,
    imageDigest: "",
    platform: "",
    type: "soci_prefetch",
    mediaType: PREFETCH_MEDIA_TYPE,
    artifactType: "",
    spanSize: 0,
    createdAt,
  };
}
