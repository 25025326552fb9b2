/**
 * Image destinations, spelled as sources are (`open.ts`): `oci:DIR[:TAG]`,
 * `oci-archive:FILE[:TAG]`, `docker://HOST[:PORT]/REPO:TAG`, or a bare name
 * for the local store.
 *
 * @module
 */
import { UnsupportedError } from "../errors.ts";
import { parseDockerReference } from "../oci/reference.ts";
import { splitPathAndTag } from "./layout_core.ts";
import { OciArchiveWriter } from "./oci_archive_writer.ts";
import { OciLayoutWriter } from "./oci_layout_writer.ts";
import { transportOf } from "./open.ts";
import { RegistrySource, type RegistrySourceOptions } from "./registry_source.ts";
import { RegistryWriter } from "./registry_writer.ts";
import type { ImageSource } from "./source.ts";
import { StoreImageWriter } from "./store_writer.ts";
import type { ImageWriter } from "./writer.ts";

/** What opening a destination may need. */
export interface OpenWriterOptions {
  /** Registry options (credentials, TLS, timeout), for `docker://`. */
  registry?: RegistrySourceOptions & { user?: string; configDir?: string };
  /**
   * The image's source: a registry source on the same host lends its
   * client, and its repository is where blobs are mounted from.
   */
  source?: ImageSource;
  /** For `oci:`: replace the directory by a layout holding only the new image. */
  replace?: boolean;
}

/**
 * Opens a destination; a malformed or unusable one (an untagged or digest
 * registry reference, a missing parent directory, a non-layout directory)
 * fails here, before any work.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openImageWriter } from "./open_writer.ts";
 * const w = await openImageWriter("oci:/tmp/soci-doc-example-layout:v1");
 * assert.equal(w.storeName, "v1");
 * await assert.rejects(openImageWriter("docker://127.0.0.1:5000/app@sha256:" + "0".repeat(64)),
 *   /reference must not contain a digest/);
 * ```
 */
export async function openImageWriter(
  reference: string,
  options: OpenWriterOptions = {},
): Promise<ImageWriter> {
  switch (transportOf(reference)) {
    case "oci": {
      const { path, tag } = splitPathAndTag(reference, "oci", "directory");
      return await OciLayoutWriter.open(path, tag, { reference, replace: options.replace });
    }
    case "oci-archive": {
      const { path, tag } = splitPathAndTag(reference, "oci-archive", "file");
      return await OciArchiveWriter.open(path, tag, { reference });
    }
    case "docker": {
      const src = options.source;
      let shared: RegistrySource | undefined;
      if (src instanceof RegistrySource) {
        try {
          if (parseDockerReference(reference).registry === src.client.registry) shared = src;
        } catch {
          // RegistryWriter.open reports the malformed reference
        }
      }
      return await RegistryWriter.open(reference, {
        ...options.registry,
        client: shared?.client,
        mountFrom: shared?.repository,
      });
    }
    case "store":
      return new StoreImageWriter(reference);
    default:
      throw new UnsupportedError(
        `unsupported destination ${reference} (use oci:, oci-archive:, docker:// or a name ` +
          `for the local store)`,
      );
  }
}
