/**
 * A bare name as a destination: the image goes to the local store under
 * that name. The store keeps an image's documents (manifests, indexes,
 * configs) and never its layers, so this writer writes nothing itself: the
 * use case stages the documents with the SOCI artifacts in the store's
 * transaction and names the image there (one commit point for all).
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import type { BlobSink, ImageWriter } from "./writer.ts";

/**
 * The local store as a destination (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StoreImageWriter } from "./store_writer.ts";
 * const w = new StoreImageWriter("app:soci");
 * assert.equal(w.storeName, "app:soci");
 * assert.equal(await w.obtain({ mediaType: "x", digest: "sha256:" + "0".repeat(64), size: 1 }), true);
 * ```
 */
export class StoreImageWriter implements ImageWriter {
  /** The name as given. */
  readonly reference: string;
  /** The name the image gets in the store. */
  readonly storeName: string;
  /** Layers stay where they came from. */
  readonly layerSource: string | undefined = undefined;
  /** The store may list an image whose manifests it lacks. */
  readonly allowsPartial = true;

  /** A destination naming the image `name` in the local store. */
  constructor(name: string) {
    if (name === "") throw new BadInputError("destination needs to be specified");
    this.reference = name;
    this.storeName = name;
  }

  /** The store keeps no layers: nothing to write. */
  has(_desc: Descriptor): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** The store keeps no layers: nothing to write. */
  obtain(_desc: Descriptor): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** Never needed (every blob is "there"). */
  openBlob(desc: Descriptor): Promise<BlobSink> {
    return Promise.reject(new BadInputError(`the local store keeps no layers (${desc.digest})`));
  }

  /** Nothing to write: the use case names the image in the store's transaction. */
  commit(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing was written. */
  abort(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
