/**
 * The store sink: what the stages make goes into an artifact store
 * transaction — each new zTOC as it comes (a stage that passes the layers
 * on, lighter: the zTOC bytes are dropped once staged), then the SOCI index
 * with its `{}` config and its DB row.
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";
import { EMPTY_CONFIG_BYTES, EMPTY_CONFIG_DIGEST } from "../oci/media_types.ts";
import type { ArtifactTransaction } from "../store/artifact_store.ts";
import { indexRecord, prefetchRecord, ztocRecord } from "../store/artifact_record.ts";
import type { SociIndex } from "./index.ts";
import { isIterable, type LayerResult, type StageInput } from "./layer_result.ts";
import type { ZtocOutput } from "./ztoc.ts";

/** Options of {@link storeZtocs}. */
export interface StoreZtocsOptions {
  /** Keep the zTOC bytes and decoded zTOC in the results (default: drop them once staged). */
  keepBytes?: boolean;
  /** Called with each layer once its zTOC is staged (a write may end after later layers came through). */
  onStored?: (r: ZtocOutput) => void;
}

/** A store-sink stage waiting for its input, for `pipe()`. */
export type StoreZtocsStage = (input: StageInput<ZtocOutput>) => AsyncGenerator<ZtocOutput>;

/**
 * Stages every newly built zTOC (not the reused ones) in `tx` with its DB
 * row (`soci_layer`), and passes the layers on. A zTOC staged once is not
 * staged again (a layer shared by two platforms). Writes run while the
 * next layers come through; the stage ends once all of them are done, and
 * fails with the first that failed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileLayer } from "../image/file_layer.ts";
 * import { spans } from "./spans.ts";
 * import { ztoc } from "./ztoc.ts";
 * import { storeZtocs } from "./store_sink.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * import { gzipSync } from "node:zlib";
 * const root = await Deno.makeTempDir();
 * const path = `${root}/layer.tar.gz`;
 * await Deno.writeFile(path, gzipSync(new Uint8Array(1024)));
 * const store = LocalStore.open(root);
 * const tx = store.begin();
 * let digest = "";
 * for await (const r of storeZtocs(tx, ztoc(spans([{ layer: await fileLayer(path) }],
 *   { concurrency: 0 })))) digest = r.ztoc!.digest;
 * await tx.commit();
 * assert.equal(store.db.get(digest)?.type, "soci_layer");
 * assert.equal(await store.has(digest), true);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function storeZtocs(tx: ArtifactTransaction, options?: StoreZtocsOptions): StoreZtocsStage;
/** Stages the zTOCs of `input` (see above). */
export function storeZtocs(
  tx: ArtifactTransaction,
  input: StageInput<ZtocOutput>,
  options?: StoreZtocsOptions,
): AsyncGenerator<ZtocOutput>;
export function storeZtocs(
  tx: ArtifactTransaction,
  a?: StageInput<ZtocOutput> | StoreZtocsOptions,
  b?: StoreZtocsOptions,
): AsyncGenerator<ZtocOutput> | StoreZtocsStage {
  if (!isIterable<ZtocOutput>(a)) return (input) => storeZtocsOf(tx, input, a);
  return storeZtocsOf(tx, a, b);
}

async function* storeZtocsOf(
  tx: ArtifactTransaction,
  input: StageInput<ZtocOutput>,
  options: StoreZtocsOptions = {},
): AsyncGenerator<ZtocOutput> {
  const staged = new Set<string>();
  // A zTOC is written while the layers after it are built (the write and
  // its fsync run off this thread); the stage ends, or fails, only once
  // every write is done, so nothing is left writing into the transaction.
  const writes: Promise<void>[] = [];
  try {
    for await (const r of input) {
      const g = r as LayerResult;
      const blob = g.ztoc;
      const out = blob && !options.keepBytes
        ? { ...r, ztoc: { ...blob, bytes: undefined, ztoc: undefined } } as ZtocOutput
        : r;
      if (blob && !blob.reused && blob.bytes && !staged.has(blob.digest)) {
        const spanSize = blob.spanSize ?? 0;
        tx.putRecord(ztocRecord(blob.digest, blob.size, r.layer.descriptor.digest, spanSize));
        staged.add(blob.digest);
        const write = tx.putBlob(blob.bytes, { digest: blob.digest, size: blob.size })
          .then(() => options.onStored?.(out));
        write.catch(() => {}); // awaited below
        writes.push(write);
      } else options.onStored?.(out);
      yield out;
    }
    await Promise.all(writes);
  } finally {
    await Promise.allSettled(writes);
  }
}

/** What {@link writeIndex} records about the index. */
export interface WriteIndexOptions {
  /** The image manifest the index was built for (the DB's location and original digest). */
  manifest: Descriptor;
  /**
   * The manifest the index is bound to, when that is not `manifest`: a v2
   * index is bound to the rewritten manifest of the SOCI-enabled image
   * (F§8 step 7: the DB's original digest; the location keeps `manifest`).
   */
  boundManifest?: string;
  /** The image's target (manifest or index) it belongs to; for v2, the SOCI-enabled image. */
  image: Descriptor;
  /** `os/arch[/variant]` as recorded in the DB. */
  platform: string;
  /** The image's name in the store (stores keep the index while it exists). */
  imageName?: string;
  /** When the index was made (default now). */
  createdAt?: Date;
}

/**
 * Stages a built SOCI index in `tx`: the `{}` config, its prefetch
 * artifacts with their DB rows (`soci_prefetch`), the index blob, the index
 * itself as a store root, and its DB row (`soci_index`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { index } from "./index.ts";
 * import { writeIndex } from "./store_sink.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const root = await Deno.makeTempDir();
 * const store = LocalStore.open(root);
 * const soci = await index([], { version: 2, allowEmpty: true });
 * const manifest = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + "1".repeat(64), size: 1 };
 * const tx = store.begin();
 * await writeIndex(tx, soci, { manifest, image: manifest, platform: "linux/amd64" });
 * await tx.commit();
 * assert.equal(store.db.get(soci.descriptor.digest)?.platform, "linux/amd64");
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function writeIndex(
  tx: ArtifactTransaction,
  soci: SociIndex,
  options: WriteIndexOptions,
): Promise<void> {
  await tx.putBlob(EMPTY_CONFIG_BYTES, { digest: EMPTY_CONFIG_DIGEST, size: 2 });
  for (const p of soci.prefetch ?? []) {
    await tx.putBlob(p.bytes, p.descriptor);
    tx.putRecord(prefetchRecord(p.descriptor.digest, p.descriptor.size, p.layerDigest));
  }
  await tx.putBlob(soci.bytes, soci.descriptor);
  tx.addIndex(soci.descriptor, { image: options.imageName });
  const rec = indexRecord(
    soci.descriptor.digest,
    soci.descriptor.size,
    options.manifest.digest,
    options.image.digest,
    options.platform,
    soci.manifest.config.mediaType,
    options.createdAt,
  );
  if (options.boundManifest !== undefined) rec.originalDigest = options.boundManifest;
  tx.putRecord(rec);
}
