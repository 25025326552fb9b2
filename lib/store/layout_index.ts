/**
 * The local store's `index.json` (`soci-format.md` §10.2): a view of the
 * artifacts DB, written for other OCI tools (skopeo, oras, umoci). It lists
 * every named image (tagged with `org.opencontainers.image.ref.name`, by
 * name) and then every SOCI index (with its `artifactType`, oldest first).
 * Nothing of ours reads it back, except once: the tags of a store made
 * before the DB named images.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Descriptor, ImageIndex } from "../oci/descriptor.ts";
import { encodeIndex } from "../oci/json_encode.ts";
import { decodeIndex } from "../oci/json_decode.ts";
import { ANNOTATION_REF_NAME, OCI_INDEX, OCI_MANIFEST } from "../oci/media_types.ts";
import type { ArtifactsDb, StoredImage } from "./artifacts_db.ts";

/** An empty OCI index: what `index.json` holds in an empty store. */
export function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
}

/**
 * The `index.json` the DB calls for (Go-encoded bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ArtifactsDb } from "./artifacts_db.ts";
 * import { layoutIndexOf } from "./layout_index.ts";
 * const db = ArtifactsDb.open(":memory:");
 * const target = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + "1".repeat(64), size: 10 };
 * db.putImage({ name: "app", target, annotations: {}, createdAt: new Date() });
 * assert.equal(
 *   new TextDecoder().decode(layoutIndexOf(db)),
 *   '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":' +
 *     '[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"' + target.digest +
 *     '","size":10,"annotations":{"org.opencontainers.image.ref.name":"app"}}]}',
 * );
 * db.close();
 * ```
 */
export function layoutIndexOf(db: ArtifactsDb): Uint8Array {
  const index = emptyIndex();
  for (const img of db.listImages()) index.manifests.push(tagEntry(img));
  const indexes = db.listIndexes().sort((a, b) =>
    a.createdAt.getTime() - b.createdAt.getTime() || (a.digest < b.digest ? -1 : 1)
  ); // oldest first
  for (const r of indexes) {
    const entry: Descriptor = { mediaType: OCI_MANIFEST, digest: r.digest, size: r.size };
    if (r.artifactType) entry.artifactType = r.artifactType;
    index.manifests.push(entry);
  }
  return encodeIndex(index);
}

function tagEntry(img: StoredImage): Descriptor {
  const t = img.target;
  const entry: Descriptor = {
    mediaType: t.mediaType,
    digest: t.digest,
    size: t.size,
    annotations: { ...img.annotations, [ANNOTATION_REF_NAME]: img.name },
  };
  if (t.platform) entry.platform = t.platform;
  if (t.artifactType) entry.artifactType = t.artifactType;
  return entry;
}

/**
 * The images tagged in an `index.json` (entries with a ref name), as a
 * store made before the DB named images kept them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { taggedImages } from "./layout_index.ts";
 * const json = '{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:' +
 *   "1".repeat(64) + '","size":3,"annotations":{"org.opencontainers.image.ref.name":"app",' +
 *   '"dev.soci.source":"oci:/x"}}]}';
 * const [img] = taggedImages(new TextEncoder().encode(json), "index.json");
 * assert.equal(img.name, "app");
 * assert.deepEqual(img.annotations, { "dev.soci.source": "oci:/x" });
 * ```
 */
export function taggedImages(bytes: Uint8Array, path: string): StoredImage[] {
  let index: ImageIndex;
  try {
    index = decodeIndex(bytes);
  } catch (e) {
    throw new BadInputError(`${path}: ${(e as Error).message}`, { cause: e });
  }
  const out: StoredImage[] = [];
  for (const d of index.manifests ?? []) {
    const name = d.annotations?.[ANNOTATION_REF_NAME];
    if (name === undefined) continue;
    const annotations = { ...d.annotations };
    delete annotations[ANNOTATION_REF_NAME];
    const target: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    if (d.platform) target.platform = d.platform;
    if (d.artifactType) target.artifactType = d.artifactType;
    out.push({ name, target, annotations, createdAt: new Date(0) });
  }
  return out;
}
