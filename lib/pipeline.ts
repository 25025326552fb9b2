/**
 * The stages of SOCI indexing, as plain functions over async iterables:
 *
 * ```
 * layers(image) → spans() → ztoc() → index()
 * ```
 *
 * Every stage passes along one {@link LayerResult} per layer, in layer
 * order, enriched as it goes: a layer that gets no zTOC carries its `skip`
 * reason, a layer that failed carries its `error`, so that a stage can be
 * used alone (`for await (const l of layers(img))` lists the layers and
 * what will happen to them) and the last stage can report every failure.
 *
 * @module
 */
import { BadInputError, SociError, withContext } from "./errors.ts";
import type { ImageSource } from "./image/source.ts";
import { type SelectedManifest, selectManifest } from "./image/select.ts";
import type { Descriptor, ImageManifest, Platform } from "./oci/descriptor.ts";
import { sha256Digest } from "./oci/digest.ts";
import { encodeManifest } from "./oci/json_encode.ts";
import { isLayerMediaType, layerCompression } from "./oci/layer_types.ts";
import {
  DEFAULT_MIN_LAYER_SIZE,
  DEFAULT_SPAN_SIZE,
  OCI_LAYER_GZIP,
  OCI_LAYER_TAR,
  OCI_MANIFEST,
  PREFETCH_MEDIA_TYPE,
} from "./oci/media_types.ts";
import { hostPlatform } from "./oci/platform.ts";
import {
  canDisableXattrs,
  sociIndexManifest,
  type SociIndexVersion,
  ztocDescriptor,
} from "./soci/soci_index.ts";
import { buildZtoc } from "./ztoc/builder.ts";
import { decodeZtoc, encodeZtoc } from "./ztoc/codec.ts";
import type { Ztoc } from "./ztoc/model.ts";
import { type LayerCompression, type LayerScan, scanLayer } from "./ztoc/scan.ts";
import { ScanPool } from "./ztoc/scan_pool.ts";

/** One image layer (or a layer file) on its way through the stages. */
export interface Layer {
  /** The layer's descriptor (for a local file: the digest is only known after the scan). */
  descriptor: Descriptor;
  /** Position among the manifest's layers. */
  index: number;
  /** Compression as the zTOC sees it; `detect` sniffs the bytes (layer files). */
  compression: LayerCompression | "detect";
  /** The image manifest the layer belongs to, when it comes from an image. */
  image?: SelectedManifest;
  /** Streams the layer's bytes from the first. */
  open(): Promise<AsyncIterable<Uint8Array>>;
}

/** A zTOC blob: its bytes and digest, and the decoded zTOC when at hand. */
export interface ZtocBlob {
  /** Digest of the zTOC blob. */
  digest: string;
  /** Size of the zTOC blob in bytes. */
  size: number;
  /** The encoded zTOC (absent for a reused zTOC whose bytes were not loaded). */
  bytes?: Uint8Array;
  /** The zTOC (absent when reused and not decoded). */
  ztoc?: Ztoc;
  /** True when an existing zTOC was reused instead of built. */
  reused?: boolean;
}

/** A layer and what the stages made of it so far. */
export interface LayerResult {
  /** The layer. */
  layer: Layer;
  /** Why this layer gets no zTOC (upstream's message), when it gets none. */
  skip?: string;
  /** Why this layer failed. */
  error?: Error;
  /** The one-pass scan (from `spans()`; dropped by `ztoc()` once encoded). */
  scan?: LayerScan;
  /** The zTOC (from `ztoc()`, or reused). */
  ztoc?: ZtocBlob;
  /** The zTOC's descriptor in the index, with its annotations (from `ztoc()`). */
  descriptor?: Descriptor;
}

/** What a stage reads: an async or sync iterable. */
export type StageInput<T> = AsyncIterable<T> | Iterable<T>;

/** A stage waiting for its input (`spans(options)`, `ztoc()`), for {@link pipe}. */
export type Stage = (input: StageInput<LayerResult>) => AsyncGenerator<LayerResult>;

function isIterable(x: unknown): x is StageInput<LayerResult> {
  return typeof x === "object" && x !== null &&
    (Symbol.asyncIterator in x || Symbol.iterator in x);
}

/** Options of {@link layers}. */
export interface LayersOptions {
  /** Platform whose manifest is used; default the host's. */
  platform?: Platform;
  /** Layers smaller than this get no zTOC; default 10 MiB. */
  minLayerSize?: number;
}

/**
 * The layers of an image's manifest for one platform, with upstream's skip
 * rules (`soci-format.md` §7.3): prefetch blobs are left out, a
 * descriptor that is not a layer fails, small layers and layers in an
 * unsupported compression (zstd) are skipped with upstream's message.
 *
 * Called with options only, it returns the stage for {@link pipe}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layers } from "./pipeline.ts";
 * import { OciLayoutSource } from "./image/oci_layout.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const seen = [];
 * for await (const l of layers(image, { minLayerSize: 100_000 })) seen.push(l.skip ?? "indexed");
 * assert.equal(seen[0], "indexed");
 * assert.match(seen[1], /^ztoc skipped - layer sha256:\w+ \(.*\) size \d+ is less than/);
 * ```
 */
export function layers(options?: LayersOptions): (image: ImageSource) => AsyncGenerator<
  LayerResult
>;
/** The layers of `image` (see above). */
export function layers(image: ImageSource, options?: LayersOptions): AsyncGenerator<LayerResult>;
export function layers(
  a?: ImageSource | LayersOptions,
  b?: LayersOptions,
): AsyncGenerator<LayerResult> | ((image: ImageSource) => AsyncGenerator<LayerResult>) {
  if (a === undefined || !("resolve" in a)) {
    return (image) => layersOf(image, a as LayersOptions | undefined);
  }
  return layersOf(a, b);
}

async function* layersOf(
  image: ImageSource,
  options: LayersOptions = {},
): AsyncGenerator<LayerResult> {
  const target = await image.resolve();
  const selected = await selectManifest(image, target, options.platform ?? hostPlatform());
  yield* manifestLayers(image, selected, options.minLayerSize ?? DEFAULT_MIN_LAYER_SIZE);
}

/**
 * The layers of an already selected manifest ({@link layers} without
 * resolving the image again).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestLayers } from "./pipeline.ts";
 * import { OciLayoutSource } from "./image/oci_layout.ts";
 * import { selectManifest } from "./image/select.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const selected = await selectManifest(image, await image.resolve(), {
 *   os: "linux",
 *   architecture: "amd64",
 * });
 * assert.equal([...manifestLayers(image, selected, 0)].length, 2);
 * ```
 */
export function* manifestLayers(
  image: ImageSource,
  selected: SelectedManifest,
  minLayerSize: number,
): Generator<LayerResult> {
  const descriptors = selected.manifest.layers ?? [];
  for (let index = 0; index < descriptors.length; index++) {
    const d = descriptors[index];
    if (d.mediaType === PREFETCH_MEDIA_TYPE) continue;
    const layer: Layer = {
      descriptor: d,
      index,
      compression: "uncompressed",
      image: selected,
      open: async () => image.readChunks?.(d) ?? (await image.openBlob(d)),
    };
    if (!isLayerMediaType(d.mediaType)) {
      yield { layer, error: new BadInputError(`not a layer mediaType: ${d.mediaType}`) };
      continue;
    }
    if (d.size < minLayerSize) {
      yield {
        layer,
        skip: `ztoc skipped - layer ${d.digest} (${d.mediaType}) size ${d.size} ` +
          `is less than min-layer-size ${minLayerSize}`,
      };
      continue;
    }
    let compression;
    try {
      compression = layerCompression(d.mediaType);
    } catch (e) {
      yield { layer, error: e as Error };
      continue;
    }
    if (compression === "gzip") layer.compression = "gzip";
    else if (compression === "uncompressed" || compression === "unknown") {
      layer.compression = "uncompressed";
    } else {
      yield {
        layer,
        skip: `ztoc skipped - layer ${d.digest} (${d.mediaType}) is compressed in an ` +
          `unsupported format. expect: [tar, gzip, unknown] but got "${compression}"`,
      };
      continue;
    }
    yield { layer };
  }
}

/** Options of {@link spans}. */
export interface SpansOptions {
  /** Span size; default 4 MiB. */
  spanSize?: number;
  /**
   * Layers scanned at once, each decoded on its own Worker; default the
   * number of CPUs. 0 scans in the calling thread, one layer at a time.
   */
  concurrency?: number;
  /** Bytes of a layer read so far. */
  onProgress?: (layer: Layer, bytes: number) => void;
  /** An existing zTOC to reuse instead of scanning (looked up before a layer is read). */
  existing?: (layer: Layer) => Promise<ZtocBlob | undefined>;
  /** Stops every scan; the stage then fails with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Scans every layer that is to get a zTOC, once each (digest verified
 * against the descriptor, checkpoints, span digests, tar TOC), several at
 * a time, and passes the results on in layer order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileLayer } from "./image/file_layer.ts";
 * import { spans } from "./pipeline.ts";
 * import { gzipSync } from "node:zlib";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, gzipSync(new Uint8Array(1024)));
 * for await (const r of spans([{ layer: await fileLayer(path) }], { concurrency: 0 })) {
 *   assert.equal(r.scan?.compression, "gzip");
 *   assert.equal(r.scan?.uncompressedSize, 1024);
 * }
 * await Deno.remove(path);
 * ```
 */
export function spans(options?: SpansOptions): Stage;
/** Scans the layers of `input` (see above). */
export function spans(input: StageInput<LayerResult>, options?: SpansOptions): AsyncGenerator<
  LayerResult
>;
export function spans(
  a?: StageInput<LayerResult> | SpansOptions,
  b?: SpansOptions,
): AsyncGenerator<LayerResult> | Stage {
  if (!isIterable(a)) return (input) => spansOf(input, a);
  return spansOf(a, b);
}

async function* spansOf(
  input: StageInput<LayerResult>,
  options: SpansOptions = {},
): AsyncGenerator<LayerResult> {
  const spanSize = options.spanSize ?? DEFAULT_SPAN_SIZE;
  const concurrency = options.concurrency ?? navigator.hardwareConcurrency ?? 2;
  const pool = concurrency > 0 ? new ScanPool(concurrency) : undefined;
  // Stops the scans still running when the consumer leaves early.
  const abort = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
  const window: Promise<LayerResult>[] = [];
  const limit = Math.max(1, concurrency);

  const scanOne = async (r: LayerResult): Promise<LayerResult> => {
    if (r.skip !== undefined || r.error !== undefined || r.ztoc !== undefined) return r;
    const layer = r.layer;
    try {
      const found = await options.existing?.(layer);
      if (found) return { ...r, ztoc: found };
      const d = layer.descriptor;
      const scanOptions = {
        compression: layer.compression,
        spanSize,
        expectedDigest: d.digest || undefined,
        expectedSize: d.digest ? d.size : undefined,
        onProgress: options.onProgress && ((n: number) => options.onProgress!(layer, n)),
        signal,
      };
      const chunks = await layer.open();
      const scan = pool
        ? await pool.scan(chunks, scanOptions)
        : await scanLayer(chunks, scanOptions);
      if (!d.digest) {
        // A layer file: its descriptor is known now.
        const mediaType = d.mediaType ||
          (scan.compression === "gzip" ? OCI_LAYER_GZIP : OCI_LAYER_TAR);
        const descriptor = { ...d, mediaType, digest: scan.digest, size: scan.size };
        return { ...r, layer: { ...layer, descriptor }, scan };
      }
      return { ...r, scan };
    } catch (e) {
      // Stopped from outside: that is the stage's failure, not the layer's.
      if (options.signal?.aborted) throw options.signal.reason;
      const digest = layer.descriptor.digest;
      return { ...r, error: digest ? withContext(e, `layer ${digest}`) : e as Error };
    }
  };

  try {
    for await (const r of input) {
      options.signal?.throwIfAborted();
      window.push(scanOne(r));
      if (window.length >= limit) yield await window.shift()!;
    }
    while (window.length > 1) yield await window.shift()!;
    if (window.length === 1) {
      // Stop the workers before the last result is handed on, so that what
      // follows (encoding the zTOC) does not run beside idle workers' memory.
      const last = await window.shift()!;
      pool?.close();
      yield last;
    }
  } finally {
    // Left early (the consumer stopped or failed): stop reading, let the
    // scans still running end, then stop the workers.
    abort.abort(new SociError("scan stopped"));
    pool?.close();
    await Promise.allSettled(window);
  }
}

/** Options of {@link ztoc}. */
export interface ZtocOptions {
  /** Build tool identifier written into each zTOC; default `AWS SOCI CLI v0.2`. */
  buildToolIdentifier?: string;
  /**
   * Span size recorded in the descriptors of reused zTOCs (the span size
   * they were looked up with); scanned layers record their own. Default 4 MiB.
   */
  spanSize?: number;
  /** The `xattr` optimization (F§7.5): mark zTOCs without xattrs. */
  disableXattrs?: boolean;
  /** Loads a reused zTOC's bytes when the xattr optimization needs its TOC. */
  loadZtoc?: (blob: ZtocBlob) => Promise<Uint8Array>;
}

/**
 * Builds and encodes the zTOC of every scanned layer (byte-compatible with
 * upstream) and its descriptor for the index.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileLayer } from "./image/file_layer.ts";
 * import { spans, ztoc } from "./pipeline.ts";
 * import { gzipSync } from "node:zlib";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, gzipSync(new Uint8Array(1024)));
 * for await (const r of ztoc(spans([{ layer: await fileLayer(path) }], { concurrency: 0 }))) {
 *   assert.match(r.ztoc!.digest, /^sha256:[0-9a-f]{64}$/);
 *   assert.equal(r.ztoc!.size, r.ztoc!.bytes?.length);
 * }
 * await Deno.remove(path);
 * ```
 */
export function ztoc(options?: ZtocOptions): Stage;
/** Builds the zTOCs of the layers of `input` (see above). */
export function ztoc(input: StageInput<LayerResult>, options?: ZtocOptions): AsyncGenerator<
  LayerResult
>;
export function ztoc(
  a?: StageInput<LayerResult> | ZtocOptions,
  b?: ZtocOptions,
): AsyncGenerator<LayerResult> | Stage {
  if (!isIterable(a)) return (input) => ztocOf(input, a);
  return ztocOf(a, b);
}

async function* ztocOf(
  input: StageInput<LayerResult>,
  options: ZtocOptions = {},
): AsyncGenerator<LayerResult> {
  for await (const r of input) {
    if (r.skip !== undefined || r.error !== undefined) {
      yield r;
      continue;
    }
    try {
      let blob = r.ztoc;
      if (blob === undefined) {
        if (r.scan === undefined) throw new Error("ztoc(): layer was not scanned");
        const z = buildZtoc(r.scan, { buildToolIdentifier: options.buildToolIdentifier });
        const bytes = encodeZtoc(z);
        blob = { digest: sha256Digest(bytes), size: bytes.length, bytes, ztoc: z };
      }
      let disable = false;
      if (options.disableXattrs) {
        let z = blob.ztoc;
        if (z === undefined) {
          const bytes = blob.bytes ?? await options.loadZtoc!(blob);
          z = decodeZtoc(bytes);
        }
        disable = canDisableXattrs(z.toc);
      }
      const descriptor = ztocDescriptor({
        digest: blob.digest,
        size: blob.size,
        layer: r.layer.descriptor,
        // The span size the layer was scanned with; for a reused zTOC, the one asked for.
        spanSize: r.scan?.spanSize ?? options.spanSize ?? DEFAULT_SPAN_SIZE,
        disableXattrs: disable,
      });
      yield { layer: r.layer, ztoc: blob, descriptor };
    } catch (e) {
      yield { layer: r.layer, error: e as Error };
    }
  }
}

/** Options of {@link index}. */
export interface IndexOptions {
  /** `v1` (with `subject`, for `create`/`push`) or `v2` (for `convert`); default v1. */
  version?: SociIndexVersion;
  /** The image manifest the index is for (v1 subject); default the layers' own. */
  subject?: Descriptor;
  /** Prefetch descriptors appended after the zTOCs. */
  prefetch?: Descriptor[];
  /** Called for every layer result, in order (progress lines, stores). */
  onLayer?: (r: LayerResult) => void | Promise<void>;
  /** Write an index even when no layer got a zTOC. */
  allowEmpty?: boolean;
}

/** A built SOCI index. */
export interface SociIndex {
  /** The index manifest. */
  manifest: ImageManifest;
  /** The exact JSON bytes (Go encoding). */
  bytes: Uint8Array;
  /** The index's descriptor (OCI manifest media type, artifact type). */
  descriptor: Descriptor;
  /** Every layer's result, in layer order. */
  layers: LayerResult[];
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
 * import { fileLayer } from "./image/file_layer.ts";
 * import { index, spans, ztoc } from "./pipeline.ts";
 * import { gzipSync } from "node:zlib";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, gzipSync(new Uint8Array(1024)));
 * const subject = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + "0".repeat(64), size: 2 };
 * const soci = await index(ztoc(spans([{ layer: await fileLayer(path) }], { concurrency: 0 })),
 *   { subject });
 * assert.equal(soci.manifest.layers.length, 1);
 * assert.deepEqual(soci.manifest.subject, subject);
 * await Deno.remove(path);
 * ```
 */
export function index(
  options?: IndexOptions,
): (input: StageInput<LayerResult>) => Promise<SociIndex>;
/** Collects the layers of `input` into a SOCI index (see above). */
export function index(input: StageInput<LayerResult>, options?: IndexOptions): Promise<SociIndex>;
export function index(
  a?: StageInput<LayerResult> | IndexOptions,
  b?: IndexOptions,
): Promise<SociIndex> | ((input: StageInput<LayerResult>) => Promise<SociIndex>) {
  if (!isIterable(a)) return (input) => indexOf(input, a);
  return indexOf(a, b);
}

async function indexOf(
  input: StageInput<LayerResult>,
  options: IndexOptions = {},
): Promise<SociIndex> {
  const results: LayerResult[] = [];
  for await (const r of input) {
    results.push(r);
    await options.onLayer?.(r);
  }
  const errors = results.filter((r) => r.error !== undefined).map((r) => r.error!.message);
  if (errors.length > 0) {
    throw new BadInputError(`errors encountered while building soci layers; ${errors.join("; ")}`);
  }
  const blobs = results.filter((r) => r.descriptor !== undefined).map((r) => r.descriptor!);
  const prefetch = options.prefetch ?? [];
  if (blobs.length === 0 && prefetch.length === 0 && !options.allowEmpty) {
    throw new BadInputError("no ztocs created, all layers either skipped or produced errors");
  }
  const version = options.version ?? "v1";
  const subject = options.subject ?? results.find((r) => r.layer.image)?.layer.image?.descriptor;
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
  };
}

/**
 * Chains stages: `pipe(image, f, g, h)` is `h(g(f(image)))`. Every stage
 * called with its options only (`layers(opts)`, `spans(opts)`, `ztoc()`,
 * `index(opts)`) returns the function `pipe` needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { index, layers, pipe, spans, ztoc } from "./pipeline.ts";
 * import { OciLayoutSource } from "./image/oci_layout.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const soci = await pipe(
 *   image,
 *   layers({ minLayerSize: 0 }),
 *   spans({ spanSize: 1 << 18 }),
 *   ztoc(),
 *   index(),
 * );
 * assert.equal(soci.manifest.layers.length, 2);
 * assert.equal(soci.manifest.layers[0].annotations?.["com.amazon.soci.span-size"], "262144");
 * ```
 */
export function pipe<A, B>(a: A, f: (a: A) => B): B;
/** `pipe(a, f, g)` is `g(f(a))`. */
export function pipe<A, B, C>(a: A, f: (a: A) => B, g: (b: B) => C): C;
/** `pipe(a, f, g, h)` is `h(g(f(a)))`. */
export function pipe<A, B, C, D>(a: A, f: (a: A) => B, g: (b: B) => C, h: (c: C) => D): D;
/** `pipe(a, f, g, h, i)` is `i(h(g(f(a))))`. */
export function pipe<A, B, C, D, E>(
  a: A,
  f: (a: A) => B,
  g: (b: B) => C,
  h: (c: C) => D,
  i: (d: D) => E,
): E;
export function pipe(a: unknown, ...fns: Array<(x: unknown) => unknown>): unknown {
  return fns.reduce((x, f) => f(x), a);
}
