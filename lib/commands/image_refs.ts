/**
 * Names of the images tagged in the local store, and the manifests of a
 * named image, for the listing commands.
 *
 * @module
 */
import { imagePlatforms, selectManifest } from "../image/select.ts";
import { StoreSource } from "../image/store_source.ts";
import type { Platform } from "../oci/descriptor.ts";
import { ANNOTATION_REF_NAME } from "../oci/media_types.ts";
import { formatPlatform } from "../oci/platform.ts";
import type { ContentStore } from "../store/content_store.ts";
import { NotFoundError } from "../errors.ts";

/** Image names tagged in the store, by target digest. */
export async function namesByDigest(store: ContentStore): Promise<Map<string, string[]>> {
  const names = new Map<string, string[]>();
  for (const d of (await store.readIndexJson()).manifests) {
    const name = d.annotations?.[ANNOTATION_REF_NAME];
    if (name === undefined) continue;
    names.set(d.digest, [...(names.get(d.digest) ?? []), name]);
  }
  return names;
}

/**
 * The manifest digests of a stored image, for the given platforms or all
 * of its platforms (upstream's `--ref` semantics). Without `platforms`,
 * platforms whose manifest is not in the store are left out: `create` stores
 * only the manifests of the platforms it indexed, so those have no indexes.
 */
export async function imageManifests(
  store: ContentStore,
  name: string,
  platforms?: Platform[],
): Promise<{ target: string; manifests: string[] }> {
  const source = new StoreSource(store, name);
  const target = await source.resolve();
  const wanted = platforms ?? await imagePlatforms(source, target);
  const manifests: string[] = [];
  for (const p of wanted) {
    try {
      manifests.push((await selectManifest(source, target, p)).descriptor.digest);
    } catch (e) {
      if (e instanceof NotFoundError) {
        // A platform the image lists (so its child exists) whose manifest was never stored.
        if (platforms === undefined) continue;
        throw new NotFoundError(`image manifest for platform ${formatPlatform(p)}: not found`);
      }
      throw e;
    }
  }
  return { target: target.digest, manifests };
}
