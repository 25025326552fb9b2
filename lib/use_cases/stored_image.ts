/**
 * An image of the local store with its layers: the store keeps an image's
 * documents, never its layers, so layers are read from where the image
 * came from (the source recorded with its name by `create` and
 * `convert`). For commands that need layer bytes of a stored image
 * (`convert NAME …`).
 *
 * @module
 */
import { NotFoundError } from "../errors.ts";
import { openImage, type OpenImageOptions } from "../image/open.ts";
import type { ImageSource } from "../image/source.ts";
import { StoreSource } from "../image/store_source.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { ANNOTATION_SOURCE } from "./image_names.ts";

/** An image source that can tell whether it has a blob without reading it. */
export interface BlobPresence {
  /** True when the source has the blob. */
  hasBlob(desc: Descriptor): Promise<boolean>;
}

/**
 * True when `source` has `desc`: asked of sources that can tell (layouts,
 * stored images); others (registries) are taken to have every blob of
 * their images.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sourceHas } from "./stored_image.ts";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const target = await image.resolve();
 * assert.equal(await sourceHas(image, target), true);
 * assert.equal(await sourceHas(image, { ...target, digest: "sha256:" + "0".repeat(64) }), false);
 * ```
 */
export async function sourceHas(source: ImageSource, desc: Descriptor): Promise<boolean> {
  const s = source as Partial<BlobPresence>;
  return typeof s.hasBlob === "function" ? await s.hasBlob(desc) : true;
}

/**
 * A stored image whose layers come from its recorded origin (see the
 * module documentation). The origin is opened on the first layer read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StoredImageSource } from "./stored_image.ts";
 * import { createIndexes } from "./create.ts";
 * import { openImage } from "../image/open.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = LocalStore.open(root);
 * await createIndexes(await openImage("oci:./fixtures/sample-image:latest"), store,
 *   { minLayerSize: 0, sourceAnnotation: "oci:" + Deno.cwd() + "/fixtures/sample-image:latest" });
 * const src = new StoredImageSource(store, "latest");
 * const [layer] = (JSON.parse(new TextDecoder().decode(await src.fetchBytes(await src.resolve())))).layers;
 * const first = await src.readRange(layer, 0, 2);
 * assert.deepEqual([...first], [0x1f, 0x8b]);
 * await src.close();
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class StoredImageSource implements ImageSource, BlobPresence {
  /** The name as given. */
  readonly reference: string;
  /** The image's name in the store. */
  readonly storeName: string;
  readonly #store: ArtifactStore;
  readonly #documents: StoreSource;
  readonly #options: OpenImageOptions;
  #origin?: Promise<ImageSource | undefined>;

  /** The image named `name` in `store`; `options` open its origin (registry credentials). */
  constructor(store: ArtifactStore, name: string, options: OpenImageOptions = {}) {
    this.#store = store;
    this.#documents = new StoreSource(store, name);
    this.reference = name;
    this.storeName = name;
    this.#options = options;
  }

  /** The image's target (`NotFoundError` when no image has that name). */
  resolve(): Promise<Descriptor> {
    return this.#documents.resolve();
  }

  /** A stored document, else the origin's blob. */
  async fetchBytes(desc: Descriptor): Promise<Uint8Array> {
    if (await this.#store.has(desc.digest)) return await this.#documents.fetchBytes(desc);
    return await (await this.#need(desc)).fetchBytes(desc);
  }

  /** A stored blob, else the origin's. */
  async openBlob(desc: Descriptor): Promise<ReadableStream<Uint8Array>> {
    if (await this.#store.has(desc.digest)) return await this.#documents.openBlob(desc);
    return await (await this.#need(desc)).openBlob(desc);
  }

  /** The origin's chunks for a layer (reused buffers where the origin has them). */
  async *readChunks(desc: Descriptor): AsyncGenerator<Uint8Array> {
    const origin = await this.#need(desc);
    if (origin.readChunks) yield* origin.readChunks(desc);
    else yield* await origin.openBlob(desc) as AsyncIterable<Uint8Array>;
  }

  /** Bytes `[start, end)` of a stored blob or of the origin's. */
  async readRange(desc: Descriptor, start: number, end: number): Promise<Uint8Array> {
    if (await this.#store.has(desc.digest)) {
      return await this.#documents.readRange(desc, start, end);
    }
    const origin = await this.#need(desc);
    if (origin.readRange) return await origin.readRange(desc, start, end);
    const out = new Uint8Array(end - start);
    let pos = 0;
    for await (const c of await origin.openBlob(desc) as AsyncIterable<Uint8Array>) {
      const a = Math.max(start, pos);
      const b = Math.min(end, pos + c.length);
      if (b > a) out.set(c.subarray(a - pos, b - pos), a - start);
      pos += c.length;
      if (pos >= end) break;
    }
    return out;
  }

  /** True when the store or the origin has the blob. */
  async hasBlob(desc: Descriptor): Promise<boolean> {
    if (await this.#store.has(desc.digest)) return true;
    const origin = await this.#origin_();
    return origin !== undefined && await sourceHas(origin, desc);
  }

  /** Closes the origin if it was opened. */
  async close(): Promise<void> {
    const origin = await this.#origin?.catch(() => undefined);
    await origin?.close?.();
  }

  #origin_(): Promise<ImageSource | undefined> {
    this.#origin ??= (async () => {
      const img = await this.#store.image(this.storeName);
      const from = img?.annotations[ANNOTATION_SOURCE];
      if (!from) return undefined;
      return await openImage(from, this.#options);
    })();
    return this.#origin;
  }

  async #need(desc: Descriptor): Promise<ImageSource> {
    const origin = await this.#origin_();
    if (origin === undefined) {
      throw new NotFoundError(
        `blob ${desc.digest} is not in the local store and the image ${this.storeName} ` +
          "records no source to read it from",
      );
    }
    return origin;
  }
}
