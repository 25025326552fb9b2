/**
 * Names of images in a store: choosing a name that does not silently take
 * another image's, and the names by target digest for listings.
 *
 * @module
 */
import type { ArtifactStore } from "../store/artifact_store.ts";

/** Annotation with which a named image records where it came from. */
export const ANNOTATION_SOURCE = "dev.soci.source";

/**
 * Annotation on a named image whose registry was read over plain HTTP
 * (`--plain-http`): later reads of its layers do the same.
 */
export const ANNOTATION_PLAIN_HTTP = "dev.soci.plain-http";

/**
 * The name to record an image under: `wanted` itself when it is free, when
 * it already names an image from the same source, or when it was asked for
 * explicitly (`--name`); otherwise the first free `wanted-2`, `wanted-3`, …,
 * so that creating from `oci:A:v1` and then `oci:B:v1` keeps both images.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nameImage } from "./image_names.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = LocalStore.open(root);
 * const tx = store.begin();
 * const m = await tx.putBlob(new TextEncoder().encode("{}"));
 * tx.tagImage("v1", { mediaType: "x", ...m }, { "dev.soci.source": "oci:/a:v1" });
 * await tx.commit();
 * assert.equal(await nameImage(store, "v1", "oci:/a:v1"), "v1");
 * assert.equal(await nameImage(store, "v1", "oci:/b:v1"), "v1-2");
 * assert.equal(await nameImage(store, "v1", "oci:/b:v1", true), "v1");
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function nameImage(
  store: ArtifactStore,
  wanted: string,
  from: string,
  explicit = false,
): Promise<string> {
  if (explicit) return wanted;
  const taken = new Map((await store.images()).map((i) => [i.name, i]));
  for (let n = 1;; n++) {
    const name = n === 1 ? wanted : `${wanted}-${n}`;
    const img = taken.get(name);
    if (img === undefined || img.annotations[ANNOTATION_SOURCE] === from) return name;
  }
}

/**
 * The names of the images of a store, by target digest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { namesByDigest } from "./image_names.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const store = LocalStore.open(await Deno.makeTempDir(), { readOnly: true });
 * assert.equal((await namesByDigest(store)).size, 0);
 * store.close();
 * ```
 */
export async function namesByDigest(store: ArtifactStore): Promise<Map<string, string[]>> {
  const names = new Map<string, string[]>();
  for (const img of await store.images()) {
    names.set(img.target.digest, [...(names.get(img.target.digest) ?? []), img.name]);
  }
  return names;
}
