/**
 * OCI data types: descriptors, platforms, manifests and indexes, as plain
 * objects. Member order for serialization lives in `json_encode.ts`.
 *
 * @module
 */

/** An OCI platform (`soci-format.md` §7.1 member order). */
export interface Platform {
  /** CPU architecture (`amd64`, `arm64`, …). */
  architecture: string;
  /** Operating system (`linux`, …). */
  os: string;
  /** OS version (Windows). */
  "os.version"?: string;
  /** OS features (Windows). */
  "os.features"?: string[];
  /** CPU variant (`v7`, `v8`, …). */
  variant?: string;
}

/** An OCI content descriptor. */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** Digest of the content, `sha256:<hex>`. */
  digest: string;
  /** Size of the content in bytes. */
  size: number;
  /** Other places to download the content. */
  urls?: string[];
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
  /** The content itself, base64 text, as in JSON. */
  data?: string;
  /** The platform of a manifest listed in an index. */
  platform?: Platform;
  /** The artifact type of the referenced manifest. */
  artifactType?: string;
}

/** An OCI (or Docker schema 2) image manifest. */
export interface ImageManifest {
  /** Always 2. */
  schemaVersion: number;
  /** The manifest's media type (absent in some manifests, e.g. umoci's). */
  mediaType?: string;
  /** Artifact type (artifact manifests). */
  artifactType?: string;
  /** The config blob. */
  config: Descriptor;
  /** The layers (for a SOCI index: zTOCs then prefetch artifacts). */
  layers: Descriptor[];
  /** The manifest this one refers to (referrers API). */
  subject?: Descriptor;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}

/** An OCI image index (or Docker manifest list). */
export interface ImageIndex {
  /** Always 2. */
  schemaVersion: number;
  /** The index's media type. */
  mediaType?: string;
  /** Artifact type. */
  artifactType?: string;
  /** The manifests (or indexes) listed. */
  manifests: Descriptor[];
  /** The manifest this one refers to. */
  subject?: Descriptor;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}
