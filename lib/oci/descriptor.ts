/**
 * OCI data types: descriptors, platforms, manifests and indexes, as plain
 * objects. Member order for serialization lives in `go_json.ts`.
 *
 * @module
 */

/** An OCI platform (`soci-format.md` §7.1 member order). */
export interface Platform {
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
}

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** base64 text, as in JSON. */
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

/** An OCI (or Docker schema 2) image manifest. */
export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An OCI image index (or Docker manifest list). */
export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}
