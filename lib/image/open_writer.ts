/**
 * Image destinations, spelled as sources are (`open.ts`): `oci:DIR[:TAG]`,
 * `oci-archive:FILE[:TAG]`, `docker://HOST[:PORT]/REPO:TAG`,
 * `containerd:NAME`, or a bare name for the local store (or for containerd,
 * with {@link OpenWriterOptions.bareNames}).
 *
 * @module
 */
import { UnsupportedError } from "../errors.ts";
import { parseDockerReference } from "../oci/reference.ts";
import { CONTAINERD_TRANSPORT, type ContainerdSourceOptions } from "./containerd_source.ts";
import { ContainerdImageWriter } from "./containerd_writer.ts";
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
  /**
   * containerd's socket, namespace and timeout (or a client, which the
   * writer does not close), for `containerd:NAME`. The writer makes its own
   * client otherwise (a source's client may be closed before the writer).
   */
  containerd?: ContainerdSourceOptions;
  /**
   * Where a bare name goes: `store`, the local store (default), or
   * `containerd`, an image record of containerd (as `containerd:NAME`).
   */
  bareNames?: "store" | "containerd";
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
    case "containerd":
      return await ContainerdImageWriter.open(reference, options.containerd);
    case "store":
      if (options.bareNames === "containerd" && reference !== "") {
        return await ContainerdImageWriter.open(CONTAINERD_TRANSPORT + reference, {
          ...options.containerd,
          reference,
        });
      }
      return new StoreImageWriter(reference);
    default:
      throw new UnsupportedError(
        `unsupported destination ${reference} (use oci:, oci-archive:, docker://, ` +
          `containerd: or a name for the local store)`,
      );
  }
}
