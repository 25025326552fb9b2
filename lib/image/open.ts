/**
 * Image references, skopeo-style: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
 * `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`, `containerd:NAME`, or a bare
 * name: an image of the artifact store (with the local store, one it
 * recorded, else one in containerd; with the containerd store, an image
 * record of containerd).
 *
 * @module
 */
import { BadInputError, NotFoundError, UnsupportedError } from "../errors.ts";
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE, socketPath } from "../containerd/client.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { ContainerdStore } from "../store/containerd_store.ts";
import { ContainerdSource, type ContainerdSourceOptions } from "./containerd_source.ts";
import { OciArchiveSource } from "./oci_archive.ts";
import { OciLayoutSource } from "./oci_layout.ts";
import { RegistrySource, type RegistrySourceOptions } from "./registry_source.ts";
import type { ImageSource } from "./source.ts";
import { StoreSource } from "./store_source.ts";
import { transportOf } from "./transport.ts";

export { transportOf } from "./transport.ts";

/** What opening a reference may need. */
export interface OpenImageOptions {
  /** The artifact store, for bare names. */
  store?: ArtifactStore;
  /** Registry options (credentials, TLS, timeout), for `docker://`. */
  registry?: RegistrySourceOptions & { user?: string; configDir?: string };
  /**
   * containerd's socket and namespace, for `containerd:NAME` (default: the
   * containerd store's client when `store` is one, else containerd's
   * defaults) and for bare names the local store does not have (asked only
   * when this is given); `directRead` for every containerd source.
   */
  containerd?: ContainerdSourceOptions;
}

/**
 * Opens an image reference. Nothing is read until the source is used,
 * except for a bare name with the local store: the store is asked first,
 * then (with `options.containerd`, when containerd's socket is there)
 * containerd; a name neither has gives the store source, whose `resolve()`
 * says where it looked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openImage } from "./open.ts";
 * const src = await openImage("oci:/tmp/layout:app");
 * assert.ok(src.storeName === "app");
 * const ctrd = await openImage("containerd:app:1", { containerd: { address: "/none.sock" } });
 * assert.ok(ctrd.storeName === "docker.io/library/app:1");
 * await ctrd.close?.();
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
    case "containerd":
      return new ContainerdSource(reference, containerdSourceOptions(options));
    case "store":
      if (reference === "") throw new BadInputError("source image needs to be specified");
      if (options.store === undefined) {
        throw new BadInputError(`${reference}: a bare name needs the local store`);
      }
      return await openStoredImage(reference, options.store, options.containerd);
    default:
      throw new UnsupportedError(
        `unsupported image transport in ${reference} (use oci:, oci-archive:, docker://, ` +
          "containerd: or a name in the local store)",
      );
  }
}

/** The client of a containerd source: the containerd store's, else one made from the options. */
function containerdSourceOptions(options: OpenImageOptions): ContainerdSourceOptions {
  const store = options.store;
  const wanted = options.containerd;
  if (
    store instanceof ContainerdStore &&
    (wanted === undefined ||
      (socketPath(wanted.address ?? DEFAULT_ADDRESS) === store.client.socket &&
        (wanted.namespace ?? DEFAULT_NAMESPACE) === store.client.namespace))
  ) {
    return { client: store.client, directRead: wanted?.directRead };
  }
  return { ...(wanted ?? {}) };
}

/** A bare name: see {@linkcode openImage}. */
async function openStoredImage(
  name: string,
  store: ArtifactStore,
  containerd: ContainerdSourceOptions | undefined,
): Promise<ImageSource> {
  if (store instanceof ContainerdStore) {
    return new ContainerdSource(name, { client: store.client, directRead: containerd?.directRead });
  }
  if (containerd === undefined || (await store.image(name)) !== undefined) {
    return new StoreSource(store, name);
  }
  const socket = socketPath(containerd.address ?? DEFAULT_ADDRESS);
  const namespace = containerd.namespace ?? DEFAULT_NAMESPACE;
  switch (socketState(socket)) {
    case "absent":
      return new StoreSource(store, name);
    case "not-allowed":
      return new StoreSource(store, name, {
        alsoAsked: `containerd (${socket}) was not asked: that needs --allow-read=${socket}`,
      });
  }
  const source = new ContainerdSource(name, containerd);
  try {
    await source.resolve();
    return source;
  } catch (e) {
    await source.close();
    if (!(e instanceof NotFoundError || e instanceof BadInputError)) throw e;
    const why = e instanceof NotFoundError && /^containerd namespace /.test(e.message)
      ? ` (which does not exist)`
      : "";
    return new StoreSource(store, name, {
      alsoAsked: `nor in containerd namespace ${namespace}${why} (${socket})`,
    });
  }
}

/** Whether a socket is there to ask: asked without a prompt, looked at only when allowed. */
function socketState(socket: string): "present" | "absent" | "not-allowed" {
  let state: Deno.PermissionState;
  try {
    state = Deno.permissions.querySync({ name: "read", path: socket }).state;
  } catch {
    return "absent";
  }
  if (state !== "granted") return "not-allowed";
  try {
    return Deno.statSync(socket).isSocket ? "present" : "absent";
  } catch {
    return "absent";
  }
}
