/**
 * An image in an artifact store, named by a bare name (the name `create`
 * recorded it under, or, in the containerd store, an image record's name).
 * The local store keeps only manifests, indexes and configs, never layers.
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { sha256Digest } from "../oci/digest.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import type { ImageSource } from "./source.ts";

/**
 * `ImageSource` over an artifact store: `resolve()` looks the name up
 * among the store's images; blobs come from the store.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StoreSource } from "./store_source.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const root = await Deno.makeTempDir();
 * const src = new StoreSource(LocalStore.open(root, { readOnly: true }), "app");
 * let missing = false;
 * try { await src.resolve(); } catch { missing = true; }
 * assert.ok(missing && src.storeName === "app");
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class StoreSource implements ImageSource {
  /** The bare name as given. */
  readonly reference: string;
  /** Same as `reference`: the image's name in the store. */
  readonly storeName: string;
  /** The store the image is read from. */
  readonly store: ArtifactStore;
  readonly #alsoAsked?: string;

  /**
   * A source for the image named `name` in `store`. `options.alsoAsked`
   * says where else the name was looked for (e.g. `nor in containerd
   * namespace default (/run/containerd/containerd.sock)`), for the
   * not-found message.
   */
  constructor(store: ArtifactStore, name: string, options: { alsoAsked?: string } = {}) {
    this.store = store;
    this.reference = name;
    this.storeName = name;
    this.#alsoAsked = options.alsoAsked;
  }

  /**
   * The image's target (`NotFoundError` when no image has that name in the
   * store: `image <name>: not found in the local store (<dir>)`, then where
   * else it was looked for, then a hint).
   */
  async resolve(): Promise<Descriptor> {
    const img = await this.store.image(this.storeName);
    if (!img) {
      throw new NotFoundError(await notFoundText(this.storeName, this.store, this.#alsoAsked));
    }
    return img.target;
  }

  /**
   * A stored blob, verified against `desc` (size and sha256 digest);
   * `NotFoundError` `blob <d> is not in the local store` when absent.
   */
  async fetchBytes(desc: Descriptor): Promise<Uint8Array> {
    const bytes = await this.store.readBlob(desc.digest);
    if (bytes.length !== desc.size) {
      const where = this.store.kind === "containerd" ? this.store.location : "the local store";
      throw new BadInputError(
        `blob ${desc.digest} in ${where} has ${bytes.length} bytes, expected ${desc.size}`,
      );
    }
    if (desc.digest.startsWith("sha256:")) {
      const got = sha256Digest(bytes);
      if (got !== desc.digest) {
        throw new BadInputError(`blob digest mismatch: expected ${desc.digest}, got ${got}`);
      }
    }
    return bytes;
  }

  /** A stored blob as a stream (`NotFoundError` for layers, which are not stored). */
  async openBlob(desc: Descriptor): Promise<ReadableStream<Uint8Array>> {
    if (!(await this.store.has(desc.digest))) throw this.#notStored(desc);
    return await this.store.openBlob(desc.digest);
  }

  /** Bytes `[start, end)` of a stored blob. */
  async readRange(desc: Descriptor, start: number, end: number): Promise<Uint8Array> {
    if (!(await this.store.has(desc.digest))) throw this.#notStored(desc);
    return await this.store.readRange(desc.digest, start, end);
  }

  #notStored(desc: Descriptor): NotFoundError {
    if (this.store.kind === "containerd") {
      return new NotFoundError(`blob ${desc.digest} is not in ${this.store.location}`);
    }
    return new NotFoundError(
      `blob ${desc.digest} is not in the local store ` +
        `(layers are not stored; give the image's original source)`,
    );
  }
}

/**
 * What to say when a bare name is not in the store: a path that exists is
 * most likely meant as a layout or an archive; otherwise the transports.
 */
async function notFoundText(
  name: string,
  store: ArtifactStore,
  alsoAsked: string | undefined,
): Promise<string> {
  let head = store.kind === "containerd"
    ? `image ${name}: not found in ${store.location}`
    : `image ${name}: not found in the local store (${store.location})`;
  if (alsoAsked) head += `, ${alsoAsked}`;
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(name);
  } catch {
    info = undefined; // no such path, or we may not look: no hint
  }
  if (info?.isDirectory) return `${head}; to read the OCI layout at ${name}, write oci:${name}`;
  if (info?.isFile) return `${head}; to read the OCI archive ${name}, write oci-archive:${name}`;
  return `${head}; give the image as oci:DIR[:TAG], oci-archive:FILE[:TAG] or ` +
    "docker://HOST/REPO[:TAG], or a name that create stored";
}
