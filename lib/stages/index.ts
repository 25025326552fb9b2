/**
 * The last stage: the zTOC descriptors, in layer order, become a SOCI index
 * manifest (`soci-format.md` §7), v1 (bound to its image manifest by
 * `subject`) or v2 (bound by the SOCI-enabled image, `soci/`).
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Descriptor, ImageManifest } from "../oci/descriptor.ts";
import { sha256Digest } from "../oci/digest.ts";
import { encodeManifest } from "../oci/json_encode.ts";
import { OCI_MANIFEST } from "../oci/media_types.ts";
import type { PrefetchBlob } from "../soci/prefetch.ts";
import { sociIndexManifest, type SociIndexVersion } from "../soci/soci_index.ts";
import {
  type IndexedLayer,
  isIterable,
  type LayerResult,
  type SettledLayer,
  type StageInput,
} from "./layer_result.ts";

/** What {@link index} takes. */
export type IndexInput = IndexedLayer | SettledLayer;

/** Options of {@link index}. */
export interface IndexOptions {
  /**
   * `v1`/`1` (with `subject`, for `create`/`push`) or `v2`/`2` (no subject,
   * for `convert`); default v1.
   */
  version?: SociIndexVersion | 1 | 2;
  /** The image manifest the index is for (v1 subject); default the layers' own. */
  subject?: Descriptor;
  /**
   * Prefetch artifacts appended after the zTOCs (F§6): descriptors, or
   * blobs (`stages/prefetch.ts`), or a function that gives them once every
   * layer has come through (a prefetch stage earlier in the pipe).
   */
  prefetch?: PrefetchInput | (() => PrefetchInput);
  /** Called for every layer result, in order (progress lines, sinks). */
  onLayer?: (r: IndexInput) => void | Promise<void>;
  /** Write an index even when no layer got a zTOC. */
  allowEmpty?: boolean;
}

/** Prefetch artifacts for {@link IndexOptions.prefetch}. */
export type PrefetchInput = ReadonlyArray<Descriptor | PrefetchBlob>;

/** A built SOCI index. */
export interface SociIndex {
  /** The index manifest. */
  manifest: ImageManifest;
  /** The exact JSON bytes (Go encoding). */
  bytes: Uint8Array;
  /** The index's descriptor (OCI manifest media type, artifact type). */
  descriptor: Descriptor;
  /** Every layer's result, in layer order. */
  layers: IndexInput[];
  /** The prefetch artifacts listed whose bytes are at hand (to be stored with the index). */
  prefetch: PrefetchBlob[];
}

/**
 * Collects the zTOC descriptors, in layer order, into a SOCI index
 * manifest. Fails with upstream's messages when any layer failed
 * (`errors encountered while building soci layers; …`) or when no layer
 * got a zTOC (`no ztocs created, …`), unless `allowEmpty`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileLayer } from "../image/file_layer.ts";
 * import { index } from "./index.ts";
 * import { spans } from "./spans.ts";
 * import { ztoc } from "./ztoc.ts";
 * import { gzipSync } from "node:zlib";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, gzipSync(new Uint8Array(1024)));
 * const subject = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + "0".repeat(64), size: 2 };
 * const soci = await index(ztoc(spans([{ layer: await fileLayer(path) }], { concurrency: 0 })),
 *   { subject });
 * assert.equal(soci.manifest.layers.length, 1);
 * assert.deepEqual(soci.manifest.subject, subject);
 * const v2 = await index(soci.layers, { version: 2 });
 * assert.equal(v2.manifest.subject, undefined);
 * assert.equal(v2.descriptor.artifactType, "application/vnd.amazon.soci.index.v2+json");
 * await Deno.remove(path);
 * ```
 */
export function index(
  options?: IndexOptions,
): (input: StageInput<IndexInput>) => Promise<SociIndex>;
/** Collects the layers of `input` into a SOCI index (see above). */
export function index(input: StageInput<IndexInput>, options?: IndexOptions): Promise<SociIndex>;
export function index(
  a?: StageInput<IndexInput> | IndexOptions,
  b?: IndexOptions,
): Promise<SociIndex> | ((input: StageInput<IndexInput>) => Promise<SociIndex>) {
  if (!isIterable<IndexInput>(a)) return (input) => indexOf(input, a);
  return indexOf(a, b);
}

async function indexOf(
  input: StageInput<IndexInput>,
  options: IndexOptions = {},
): Promise<SociIndex> {
  const results: IndexInput[] = [];
  for await (const r of input) {
    results.push(r);
    await options.onLayer?.(r);
  }
  const all = results as LayerResult[];
  const errors = all.filter((r) => r.error !== undefined).map((r) => r.error!.message);
  if (errors.length > 0) {
    // (an error shared by every layer, like a damaged DB, is said once)
    const text = [...new Set(errors)].join("; ");
    throw new BadInputError(`errors encountered while building soci layers; ${text}`);
  }
  const blobs = all.filter((r) => r.descriptor !== undefined).map((r) => r.descriptor!);
  const given = typeof options.prefetch === "function"
    ? options.prefetch()
    : options.prefetch ?? [];
  const prefetchBlobs = given.filter((p): p is PrefetchBlob => "bytes" in p);
  const prefetch = given.map((p) => "bytes" in p ? p.descriptor : p);
  if (blobs.length === 0 && prefetch.length === 0 && !options.allowEmpty) {
    throw new BadInputError("no ztocs created, all layers either skipped or produced errors");
  }
  const version: SociIndexVersion = options.version === 2 || options.version === "v2" ? "v2" : "v1";
  const subject = version === "v1"
    ? options.subject ?? all.find((r) => r.layer.image)?.layer.image?.descriptor
    : undefined;
  const manifest = sociIndexManifest(version, [...blobs, ...prefetch], subject);
  const bytes = encodeManifest(manifest);
  return {
    manifest,
    bytes,
    descriptor: {
      mediaType: OCI_MANIFEST,
      digest: sha256Digest(bytes),
      size: bytes.length,
      artifactType: manifest.config.mediaType,
    },
    layers: results,
    prefetch: prefetchBlobs,
  };
}
