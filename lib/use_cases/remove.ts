/**
 * `index rm` as a library function: SOCI indexes leave the store and its
 * DB in one transaction, and what only they used is collected with it
 * (zTOCs keep their DB rows, for reuse, until `rebuild-db`).
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import type { ArtifactStore } from "../store/artifact_store.ts";
import { imageManifests, resolveDigest } from "./lookup.ts";

/**
 * The index digests to remove: those given (each must be a recorded
 * index: `the index of the digest <d> doesn't exist`, `the digest <d> does
 * not correspond to an index`), or every index of the image named `ref`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indexesToRemove } from "./remove.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const store = LocalStore.open(await Deno.makeTempDir(), { readOnly: true });
 * await assert.rejects(indexesToRemove(store, { digests: ["sha256:" + "0".repeat(64)] }),
 *   /doesn't exist/);
 * store.close();
 * ```
 */
export async function indexesToRemove(
  store: ArtifactStore,
  what: { digests?: string[]; ref?: string },
): Promise<string[]> {
  if (what.ref) {
    const { target } = await imageManifests(store, what.ref, []);
    return store.db.indexesByImage(target.digest).map((r) => r.digest);
  }
  const digests: string[] = [];
  for (const arg of what.digests ?? []) {
    const d = resolveDigest(store.db, arg);
    digests.push(d);
    const rec = store.db.get(d);
    if (rec === undefined) throw new NotFoundError(`the index of the digest ${d} doesn't exist`);
    if (rec.type !== "soci_index") {
      throw new BadInputError(`the digest ${d} does not correspond to an index`);
    }
  }
  return digests;
}

/**
 * Removes the indexes `digests` (see the module documentation) and
 * returns what went wrong after the removal without undoing it (the
 * collection of what they used; the store catches up later). Nothing
 * changes when the commit fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeIndexes } from "./remove.ts";
 * import { createIndexes } from "./create.ts";
 * import { openImage } from "../image/open.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = LocalStore.open(root);
 * const made = await createIndexes(await openImage("oci:./fixtures/sample-image:latest"),
 *   store, { minLayerSize: 0 });
 * const digest = made.indexes[0].index.descriptor.digest;
 * await removeIndexes(store, [digest]);
 * assert.equal(store.db.get(digest), undefined);
 * assert.equal(await store.has(digest), false);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function removeIndexes(
  store: ArtifactStore,
  digests: string[],
): Promise<readonly string[]> {
  if (digests.length === 0) return [];
  await using tx = store.begin();
  for (const d of digests) tx.removeIndex(d);
  await tx.commit();
  return tx.warnings;
}
