/**
 * `verify`: is an image's SOCI index right, so that the snapshotter will
 * use it rather than fall back to a full pull? For the index document
 * (`soci-format.md` §7.1–7.4): Go's exact JSON, the SOCI config, the
 * subject, one well-annotated zTOC per layer in layer order. For every
 * zTOC, in one streaming pass over its layer (`ztoc/verify_layer.ts`): it
 * loads by the snapshotter's rules (§3.5, §5.8), every span digest matches
 * the layer, every checkpoint's window is the layer's bytes and resuming
 * there reproduces them, and the TOC equals the layer's real tar entries.
 * The layer is hashed in the calling thread and decoded on a worker
 * (`ztoc/verify_pool.ts`), which compares the tar entries with the TOC as
 * it reads them (`ztoc/toc_check.ts`): the zTOC is opened here as a
 * `ZtocView` (its checks, none of its entries decoded) and its bytes sent
 * to the worker.
 *
 * A layer that cannot be checked (its blob or its zTOC's is missing, or
 * is not what its descriptor says) is that layer's failure: its report
 * says why and the other layers are still checked. Errors that are not
 * one layer's (registry trouble, an abort) stop the whole check.
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import type { ImageSource } from "../image/source.ts";
import type { Descriptor, ImageManifest, Platform } from "../oci/descriptor.ts";
import { decodeManifest } from "../oci/json_decode.ts";
import { encodeManifest } from "../oci/json_encode.ts";
import {
  ANNOTATION_LAYER_DIGEST,
  ANNOTATION_LAYER_MEDIA_TYPE,
  ANNOTATION_SPAN_SIZE,
  EMPTY_CONFIG_DIGEST,
  OCI_MANIFEST,
  PREFETCH_MEDIA_TYPE,
  ZTOC_MEDIA_TYPE,
} from "../oci/media_types.ts";
import type { ZtocHeader } from "../ztoc/model.ts";
import { validateZtocHeader, type Zinfo } from "../ztoc/spans.ts";
import type { LayerCheck } from "../ztoc/verify_layer.ts";
import { VerifyPool } from "../ztoc/verify_pool.ts";
import { ZtocView } from "../ztoc/ztoc_view.ts";
import type { FoundIndex, IndexVia } from "./index_discovery.ts";
import { ImageFiles, type ImageLayer, type ReadImageOptions } from "./read_files.ts";

/** Most problems of one kind listed for a layer before "… and N more". */
const MAX_LISTED = 5;
/**
 * zTOCs at least this large are read afresh by `ImageFiles.blob` (only
 * smaller documents are remembered by the sources), so their buffer is
 * this check's to hand to the worker.
 */
const OWN_ZTOC_MIN = (1 << 20) + 1;

/** Options of {@link verifyImage}. */
export interface VerifyOptions extends ReadImageOptions {
  /** Bytes compared after each checkpoint (default 32 KiB). */
  resumeBytes?: number;
  /**
   * Called once the index is found and its document checked, before the
   * layers: the index, the document's problems, and the number of layers.
   */
  onIndex?: (
    index: { digest: string; version: "v1" | "v2"; via: IndexVia },
    problems: string[],
    layers: number,
  ) => void;
  /** Called with each layer's report as soon as it is known, in layer order. */
  onLayer?: (report: LayerReport) => void;
  /** Stops the work between chunks. */
  signal?: AbortSignal;
  /** Layers checked at the same time, each on its own worker (default 2). */
  concurrency?: number;
}

/** What was found about one layer. */
export interface LayerReport {
  /** Position in the manifest (0 = lowest). */
  index: number;
  /** The layer's descriptor. */
  layer: Descriptor;
  /** The zTOC's descriptor in the index, if the index has one for the layer. */
  ztoc?: Descriptor;
  /** `ok`, `failed`, or `no-ztoc` (nothing to check: the layer is pulled in full). */
  status: "ok" | "failed" | "no-ztoc";
  /**
   * One line per problem, naming the span, checkpoint or entry, or the
   * blob (layer or zTOC) that could not be read.
   */
  problems: string[];
  /** Spans checked. */
  spans: number;
  /** Checkpoints whose window and resume were checked. */
  checkpoints: number;
  /** TOC entries compared. */
  entries: number;
}

/** The result of {@link verifyImage}. */
export interface VerifyReport {
  /** The image's target. */
  target: Descriptor;
  /** The platform's manifest. */
  manifest: Descriptor;
  /** Its platform. */
  platform: Platform;
  /** The SOCI index checked. */
  index: Descriptor;
  /** `v1` or `v2`. */
  version: "v1" | "v2";
  /** How the index was found. */
  via: IndexVia;
  /** Problems of the index document itself. */
  indexProblems: string[];
  /** One report per layer, in layer order. */
  layers: LayerReport[];
  /** True when the index and every zTOC passed every check. */
  ok: boolean;
}

function capped(list: string[], what: string): string[] {
  if (list.length <= MAX_LISTED) return list;
  return [...list.slice(0, MAX_LISTED), `… and ${list.length - MAX_LISTED} more ${what}`];
}

/**
 * What an error met while reading one layer's blobs (the layer, its zTOC)
 * says about that layer: a blob missing (`NotFoundError`) or not what its
 * descriptor says (`BadInputError`) is the layer's failure. Anything else
 * (registry trouble, an abort, a crashed worker) is not: `undefined`.
 */
function blobProblem(e: unknown): string | undefined {
  return e instanceof NotFoundError || e instanceof BadInputError ? e.message : undefined;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/**
 * The problems of a SOCI index document for an image manifest
 * (`soci-format.md` §7.1–7.4); empty when it is right.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkIndexDocument } from "./verify.ts";
 * import { sociIndexManifest } from "../soci/soci_index.ts";
 * import { encodeManifest } from "../oci/json_encode.ts";
 * import { decodeManifest } from "../oci/json_decode.ts";
 * const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   digest: "sha256:" + "1".repeat(64), size: 10 };
 * const image = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config: { mediaType: "application/vnd.oci.image.config.v1+json",
 *     digest: "sha256:" + "2".repeat(64), size: 3 }, layers: [layer] };
 * const subject = { mediaType: image.mediaType, digest: "sha256:" + "3".repeat(64), size: 99 };
 * const doc = sociIndexManifest("v1", [], subject);
 * const bytes = encodeManifest(doc);
 * assert.deepEqual(checkIndexDocument(bytes, decodeManifest(bytes), "v1", subject, image), []);
 * const spaced = new TextEncoder().encode(new TextDecoder().decode(bytes).replace(",", ", "));
 * assert.match(checkIndexDocument(spaced, doc, "v1", subject, image)[0], /not what Go/);
 * ```
 */
export function checkIndexDocument(
  bytes: Uint8Array,
  doc: ImageManifest,
  version: "v1" | "v2",
  manifest: Descriptor,
  image: ImageManifest,
): string[] {
  const problems: string[] = [];
  let canonical: Uint8Array | undefined;
  try {
    canonical = encodeManifest(decodeManifest(bytes));
  } catch (e) {
    problems.push(`the index JSON does not re-encode: ${(e as Error).message}`);
  }
  if (canonical !== undefined && firstDifference(canonical, bytes) !== bytes.length) {
    problems.push(
      `the index JSON is not what Go's encoder writes (first difference at byte ${
        firstDifference(canonical, bytes)
      }): the snapshotter re-encodes it and cannot store it under its digest`,
    );
  } else if (canonical !== undefined && canonical.length !== bytes.length) {
    problems.push("the index JSON is not what Go's encoder writes (its length differs)");
  }
  if (doc.schemaVersion !== 2) problems.push(`schemaVersion is ${doc.schemaVersion}, not 2`);
  if (doc.mediaType !== OCI_MANIFEST) {
    problems.push(`mediaType is ${JSON.stringify(doc.mediaType ?? "")}, not ${OCI_MANIFEST}`);
  }
  if (doc.config.digest !== EMPTY_CONFIG_DIGEST || doc.config.size !== 2) {
    problems.push(`config is ${doc.config.digest} (${doc.config.size} bytes), not the {} blob`);
  }
  if (version === "v1") {
    const s = doc.subject;
    if (s === undefined) problems.push("a v1 index has no subject");
    else if (s.digest !== manifest.digest || s.size !== manifest.size) {
      problems.push(`its subject is ${s.digest}, not the image manifest ${manifest.digest}`);
    } else if (s.mediaType !== manifest.mediaType) {
      problems.push(`its subject's mediaType ${s.mediaType} is not the manifest's`);
    }
  } else if (doc.subject !== undefined) problems.push("a v2 index has a subject");

  const positions = new Map<string, number>();
  (image.layers ?? []).forEach((l, i) => {
    if (!positions.has(l.digest)) positions.set(l.digest, i);
  });
  const seen = new Set<string>();
  let lastLayer = -1;
  let prefetchSeen = false;
  (doc.layers ?? []).forEach((d, k) => {
    const at = `layers[${k}] (${d.digest})`;
    const target = d.annotations?.[ANNOTATION_LAYER_DIGEST];
    if (d.mediaType === PREFETCH_MEDIA_TYPE) {
      prefetchSeen = true;
      if (!target || !positions.has(target)) {
        problems.push(
          `${at}: a prefetch blob for ${target ?? "no layer"}, not a layer of the image`,
        );
      }
      return;
    }
    if (d.mediaType !== ZTOC_MEDIA_TYPE) {
      problems.push(`${at}: unexpected mediaType ${d.mediaType}`);
      return;
    }
    if (prefetchSeen) problems.push(`${at}: a zTOC after prefetch blobs`);
    if (!target) {
      problems.push(`${at}: no ${ANNOTATION_LAYER_DIGEST} annotation`);
      return;
    }
    const pos = positions.get(target);
    if (pos === undefined) {
      problems.push(`${at}: its layer ${target} is not a layer of the image`);
      return;
    }
    if (seen.has(target)) problems.push(`${at}: a second zTOC for layer ${target}`);
    seen.add(target);
    if (pos < lastLayer) problems.push(`${at}: zTOCs are not in the image's layer order`);
    lastLayer = Math.max(lastLayer, pos);
    const mt = d.annotations?.[ANNOTATION_LAYER_MEDIA_TYPE];
    if (mt !== image.layers[pos].mediaType) {
      problems.push(
        `${at}: ${ANNOTATION_LAYER_MEDIA_TYPE} is ${JSON.stringify(mt ?? "")}, the layer's is ` +
          image.layers[pos].mediaType,
      );
    }
    const span = d.annotations?.[ANNOTATION_SPAN_SIZE];
    if (span === undefined || !/^[0-9]+$/.test(span)) {
      problems.push(`${at}: ${ANNOTATION_SPAN_SIZE} is ${JSON.stringify(span ?? "")}`);
    }
  });
  return problems;
}

/**
 * Checks the layers, up to {@link VerifyOptions.concurrency} at a time
 * (each with its own decoding worker), and reports them in layer order.
 * A layer that cannot be checked gets a failed report; an error that is
 * not one layer's stops the others.
 */
async function verifyLayers(files: ImageFiles, options: VerifyOptions): Promise<LayerReport[]> {
  const todo = files.layers;
  const limit = Math.max(1, Math.min(options.concurrency ?? 2, todo.length));
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const slots = todo.map(() => Promise.withResolvers<LayerReport>());
  // Awaited in layer order below; one that fails first stops the others.
  for (const s of slots) s.promise.catch(() => {});
  let failure: { error: unknown } | undefined;
  let next = 0;
  const anyZtoc = todo.some((l) => l.ztoc !== undefined);
  const runner = async () => {
    const pool = new VerifyPool();
    // Its worker starts while the first zTOC is read.
    if (anyZtoc) pool.start();
    try {
      while (next < todo.length && failure === undefined) {
        const i = next++;
        try {
          slots[i].resolve(await verifyLayer(files, todo[i], pool, { ...options, signal }));
        } catch (e) {
          failure ??= { error: e };
          stop.abort();
          slots[i].reject(e);
        }
      }
    } finally {
      pool.close();
    }
  };
  const runners = Array.from({ length: limit }, runner);
  const out: LayerReport[] = [];
  try {
    for (let i = 0; i < todo.length; i++) {
      let r: LayerReport;
      try {
        r = await slots[i].promise;
      } catch (e) {
        // The error that stopped the others, not the abort it caused.
        throw failure?.error ?? e;
      }
      out.push(r);
      options.onLayer?.(r);
    }
  } finally {
    stop.abort();
    await Promise.allSettled(runners);
  }
  return out;
}

async function verifyLayer(
  files: ImageFiles,
  layer: ImageLayer,
  pool: VerifyPool,
  options: VerifyOptions,
): Promise<LayerReport> {
  const report: LayerReport = {
    index: layer.index,
    layer: layer.descriptor,
    ztoc: layer.ztoc,
    status: "ok",
    problems: [],
    spans: 0,
    checkpoints: 0,
    entries: 0,
  };
  if (layer.ztoc === undefined) {
    report.status = "no-ztoc";
    return report;
  }
  const fail = (p: string[]) => {
    report.problems.push(...p);
    report.status = report.problems.length > 0 ? "failed" : report.status;
    return report;
  };
  let bytes: Uint8Array;
  try {
    bytes = await files.blob(layer.ztoc);
  } catch (e) {
    const problem = blobProblem(e);
    if (problem === undefined) throw e;
    return fail([`the zTOC cannot be read: ${problem}`]);
  }
  let view: ZtocView;
  let zi: Zinfo;
  try {
    // The checks of decodeZtoc, with the same errors; entries are decoded
    // one by one on the worker as the tar's are compared with them.
    view = ZtocView.decode(bytes);
  } catch (e) {
    return fail([`the zTOC does not load: ${(e as Error).message}`]);
  }
  const z: ZtocHeader = view.header;
  try {
    // validateZtoc's checks but the TOC's, which opening the view made.
    zi = validateZtocHeader(z);
  } catch (e) {
    return fail([`the zTOC does not load by the snapshotter's rules: ${(e as Error).message}`]);
  }
  const span = Number(layer.ztoc.annotations?.[ANNOTATION_SPAN_SIZE]);
  const problems: string[] = [];
  if (Number.isFinite(span) && span !== zi.spanSize) {
    problems.push(`the index says span size ${span}, the zTOC's zinfo says ${zi.spanSize}`);
  }
  const size = layer.descriptor.size;
  if (z.compressedArchiveSize !== size) {
    problems.push(
      `the zTOC is for a layer of ${z.compressedArchiveSize} bytes, this layer has ${size} ` +
        "(a zTOC of another layer?)",
    );
  }
  let check: LayerCheck;
  try {
    check = await pool.check(z, zi, await files.layerChunks(layer), {
      resumeBytes: options.resumeBytes,
      signal: options.signal,
      toc: view,
      tocListed: MAX_LISTED,
      // From here on, neither `view`, nor `z.checkpoints`, nor the zinfo's
      // windows are used (the zinfo's offsets are).
      transferToc: bytes.length >= OWN_ZTOC_MIN && bytes.buffer instanceof ArrayBuffer &&
        bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength,
    });
  } catch (e) {
    const problem = blobProblem(e);
    if (problem === undefined) throw e;
    return fail([...problems, `the layer cannot be read: ${problem}`]);
  }
  if (check.digest !== layer.descriptor.digest || check.size !== size) {
    // Findings about other bytes than the layer's would mislead.
    return fail([
      ...problems,
      `layer ${layer.descriptor.digest} was served with digest ${check.digest} (${check.size} ` +
      "bytes): cannot check it",
    ]);
  }
  report.spans = zi.numSpans;
  report.checkpoints = check.checkpointsChecked;
  if (check.header) problems.push(`the bytes before span 0 are not a gzip header: ${check.header}`);
  const spanProblems: string[] = [];
  for (let i = 0; i < zi.numSpans; i++) {
    const [s, e] = zi.compressedRange(i, z.compressedArchiveSize);
    if (check.truncatedSpans.includes(i)) {
      spanProblems.push(`span ${i} (bytes ${s}–${e}) ends past the end of the layer`);
    } else if (check.spanDigests[i] !== z.spanDigests[i]) {
      spanProblems.push(
        `span ${i} (bytes ${s}–${e}): digest ${z.spanDigests[i] || '""'} does not match the ` +
          `layer's ${check.spanDigests[i]}`,
      );
    }
  }
  problems.push(...capped(spanProblems, "spans with wrong digests"));
  problems.push(...capped(
    check.windows.map((w) =>
      `checkpoint ${w.checkpoint} (span ${w.checkpoint}, offset ${w.out}): its window differs ` +
      `from the layer's decompressed bytes at offset ${w.at}`
    ),
    "checkpoints with wrong windows",
  ));
  problems.push(...capped(
    check.resumes.map((r) =>
      `checkpoint ${r.checkpoint} (span ${r.checkpoint}, offset ${r.out}): ${r.reason}`
    ),
    "checkpoints that do not resume",
  ));
  if (check.decodeError) problems.push(`the layer does not decompress: ${check.decodeError}`);
  else {
    report.entries = check.toc?.entries ?? 0;
    problems.push(...(check.toc?.problems ?? []));
  }
  return fail(problems);
}

/**
 * Verifies the SOCI index of an image and every zTOC in it (see the module
 * documentation). The index is found as `ImageFiles` finds it (`--index`,
 * the v2 annotation, the local store, the referrers API, the fallback
 * tag); none found is a `NotFoundError` saying what was tried.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { verifyImage } from "./verify.ts";
 * import { createIndexes } from "./create.ts";
 * import { openImage } from "../image/open.ts";
 * import { LocalStore } from "../store/local_store.ts";
 * const root = await Deno.makeTempDir();
 * using store = LocalStore.open(root);
 * const image = "oci:./fixtures/sample-image:latest";
 * await createIndexes(await openImage(image), store, { minLayerSize: 0, spanSize: 1 << 16 });
 * const report = await verifyImage(image, { store });
 * assert.ok(report.ok && report.layers.every((l) => l.status === "ok"));
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function verifyImage(
  image: string | ImageSource,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  await using files = await ImageFiles.open(image, options);
  const found: FoundIndex | undefined = files.index;
  if (found === undefined) {
    throw new NotFoundError(
      `no SOCI index found for ${files.manifest.descriptor.digest}: ` +
        files.discovery.tried.join("; "),
    );
  }
  const indexProblems = checkIndexDocument(
    found.bytes,
    found.manifest,
    found.version,
    files.manifest.descriptor,
    files.manifest.manifest,
  );
  options.onIndex?.(
    { digest: found.descriptor.digest, version: found.version, via: found.via },
    indexProblems,
    files.layers.length,
  );
  const layers = await verifyLayers(files, options);
  return {
    target: files.target,
    manifest: files.manifest.descriptor,
    platform: files.manifest.platform,
    index: found.descriptor,
    version: found.version,
    via: found.via,
    indexProblems,
    layers,
    ok: indexProblems.length === 0 && layers.every((l) => l.status !== "failed"),
  };
}
