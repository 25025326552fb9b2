/**
 * Image references, skopeo-style: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
 * `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`, or a bare name for an image
 * already in the local store.
 *
 * @module
 */
import { BadInputError, UnsupportedError } from "../errors.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { OciArchiveSource } from "./oci_archive.ts";
import { OciLayoutSource } from "./oci_layout.ts";
import { RegistrySource, type RegistrySourceOptions } from "./registry_source.ts";
import type { ImageSource } from "./source.ts";
import { StoreSource } from "./store_source.ts";

/** What opening a reference may need. */
export interface OpenImageOptions {
  /** The local store, for bare names. */
  store?: ArtifactStore;
  /** Registry options (credentials, TLS, timeout), for `docker://`. */
  registry?: RegistrySourceOptions & { user?: string; configDir?: string };
}

/**
 * The transport of a reference: `oci`, `oci-archive`, `docker`,
 * `containerd`, or `store` for a bare name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transportOf } from "./open.ts";
 * assert.ok(transportOf("oci:./layout:app") === "oci");
 * assert.ok(transportOf("docker://127.0.0.1:5000/app:1") === "docker");
 * assert.ok(transportOf("app:1") === "store");
 * ```
 */
export function transportOf(reference: string): string {
  if (reference.startsWith("docker://")) return "docker";
  const m = /^([a-z-]+):/.exec(reference);
  if (m && ["oci", "oci-archive", "containerd", "docker-archive", "docker-daemon"].includes(m[1])) {
    return m[1];
  }
  return "store";
}

/**
 * Opens an image reference. Nothing is read until the source is used.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openImage } from "./open.ts";
 * const src = await openImage("oci:/tmp/layout:app");
 * assert.ok(src.storeName === "app");
 * ```
 */
export async function openImage(
  reference: string,
  options: OpenImageOptions = {},
): Promise<ImageSource> {
  switch (transportOf(reference)) {
    case "oci":
      return OciLayoutSource.fromReference(reference);
    case "oci-archive":
      return OciArchiveSource.fromReference(reference);
    case "docker":
      return await RegistrySource.open(reference, options.registry ?? {});
    case "store":
      if (reference === "") throw new BadInputError("source image needs to be specified");
      if (options.store === undefined) {
        throw new BadInputError(`${reference}: a bare name needs the local store`);
      }
      return new StoreSource(options.store, reference);
    default:
      throw new UnsupportedError(
        `unsupported image transport in ${reference} (use oci:, oci-archive:, docker:// or a ` +
          `name in the local store)`,
      );
  }
}
