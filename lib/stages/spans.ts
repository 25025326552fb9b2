/**
 * The scan stage: every layer that is to get a zTOC is read once (digest
 * verified against the descriptor, checkpoints, span digests, tar TOC),
 * several at a time on Workers, and passed on in layer order.
 *
 * @module
 */
import { BadInputError, SociError, withContext } from "../errors.ts";
import type { Layer } from "../image/layer.ts";
import { sha256Digest } from "../oci/digest.ts";
import { DEFAULT_SPAN_SIZE, OCI_LAYER_GZIP, OCI_LAYER_TAR } from "../oci/media_types.ts";
import type { EncodeScanOptions } from "../ztoc/builder.ts";
import { type LayerCompression, scanLayer } from "../ztoc/scan.ts";
import { ScanPool } from "../ztoc/scan_pool.ts";
import {
  type BuiltLayer,
  isIterable,
  type LayerResult,
  type PendingLayer,
  type ReusedLayer,
  type ScannedLayer,
  type SettledLayer,
  type StageInput,
} from "./layer_result.ts";

/** What {@link spans} takes. */
export type SpansInput = PendingLayer | ReusedLayer | SettledLayer;
/** What {@link spans} yields. */
export type SpansOutput = ScannedLayer | BuiltLayer | ReusedLayer | SettledLayer;

/** A scan stage waiting for its input, for `pipe()`. */
export type SpansStage = (input: StageInput<SpansInput>) => AsyncGenerator<SpansOutput>;

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
  /** Stops every scan; the stage then fails with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Build each layer's zTOC where the layer is scanned (on its Worker, see
   * `ScanPool.build`) and yield the layer with its zTOC (a
   * {@link BuiltLayer}) instead of its scan: the entries never cross
   * threads and several zTOCs are encoded at once. `ztoc()` then only adds
   * the descriptors. `xattrs`: also tell whether the `xattr` optimization
   * may mark each zTOC. Ignored with `concurrency` 0.
   */
  buildZtoc?: EncodeScanOptions;
}

/**
 * How long the stage's workers may sit idle while the consumer holds a
 * result before they are stopped (and started again if it asks for more).
 */
const IDLE_WORKERS_MS = 1000;

/**
 * The stage's scan workers: a `ScanPool` made when a scan needs it, and
 * stopped once no scan has run for {@link IDLE_WORKERS_MS} while the
 * consumer holds a result. Deno cannot unref a Worker, so idle workers
 * would keep the process of a script that stops asking for results alive;
 * the timer that stops them is unref'd and holds nothing. Restarting costs
 * a worker's start (tens of milliseconds) after a second or more of
 * waiting on the consumer.
 */
class IdleStoppedPool {
  readonly #size: number;
  #pool?: ScanPool;
  #running = 0;
  #held = false;
  #timer?: ReturnType<typeof setTimeout>;

  constructor(size: number) {
    this.#size = size;
  }

  /** Runs `scan` on the pool (made if it was stopped). */
  async run<T>(scan: (pool: ScanPool) => Promise<T>): Promise<T> {
    this.#running++;
    this.#disarm();
    try {
      return await scan(this.#pool ??= new ScanPool(this.#size));
    } finally {
      this.#running--;
      this.#arm();
    }
  }

  /** The consumer holds a result (`true`), or asks for the next (`false`). */
  hold(held: boolean): void {
    this.#held = held;
    if (held) this.#arm();
    else this.#disarm();
  }

  /** Stops the workers (scans still running fail). */
  close(): void {
    this.#disarm();
    this.#pool?.close();
    this.#pool = undefined;
  }

  #arm(): void {
    if (!this.#held || this.#running > 0 || !this.#pool || this.#timer !== undefined) return;
    const timer = setTimeout(() => this.close(), IDLE_WORKERS_MS);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Scans every pending layer once (reused and settled layers pass through
 * unread) and passes the results on in layer order. A layer file (no digest
 * in its descriptor) comes out with the descriptor the scan learnt.
 *
 * A consumer may stop early: `break` out of `for await`, or call the
 * iterator's `return()`, which stops the scans at once. An iterator simply
 * left behind does not keep the process alive either: once the scans in
 * flight (at most `concurrency` layers) end, the workers are stopped after
 * a second of idleness.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileLayer } from "../image/file_layer.ts";
 * import { spans } from "./spans.ts";
 * import { gzipSync } from "node:zlib";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, gzipSync(new Uint8Array(1024)));
 * for await (const r of spans([{ layer: await fileLayer(path) }], { concurrency: 0 })) {
 *   assert.equal(r.scan?.compression, "gzip");
 *   assert.equal(r.scan?.uncompressedSize, 1024);
 *   assert.match(r.layer.descriptor.digest, /^sha256:/);
 * }
 * await Deno.remove(path);
 * ```
 */
export function spans(options?: SpansOptions): SpansStage;
/** Scans the layers of `input` (see above). */
export function spans(
  input: StageInput<SpansInput>,
  options?: SpansOptions,
): AsyncGenerator<SpansOutput>;
export function spans(
  a?: StageInput<SpansInput> | SpansOptions,
  b?: SpansOptions,
): AsyncGenerator<SpansOutput> | SpansStage {
  if (!isIterable<SpansInput>(a)) return (input) => spansOf(input, a);
  return spansOf(a, b);
}

async function* spansOf(
  input: StageInput<SpansInput>,
  options: SpansOptions = {},
): AsyncGenerator<SpansOutput> {
  const spanSize = options.spanSize ?? DEFAULT_SPAN_SIZE;
  if (!Number.isSafeInteger(spanSize) || spanSize < 0) {
    // (checked before any layer is read, not once per layer)
    throw new BadInputError(`span size must be an integer >= 0, not ${spanSize}`);
  }
  const concurrency = options.concurrency ?? navigator.hardwareConcurrency ?? 2;
  const pool = concurrency > 0 ? new IdleStoppedPool(concurrency) : undefined;
  // Stops the scans still running when the consumer leaves early.
  const abort = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
  const window: Promise<SpansOutput>[] = [];
  const limit = Math.max(1, concurrency);

  const scanOne = async (r: SpansInput): Promise<SpansOutput> => {
    const g = r as LayerResult;
    if (g.skip !== undefined || g.error !== undefined || g.ztoc !== undefined) {
      return r as SpansOutput;
    }
    const layer = r.layer;
    try {
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
      // A layer file: its descriptor is known once it is read.
      const learnt = (s: { compression: LayerCompression; digest: string; size: number }) => {
        if (d.digest) return layer;
        const mediaType = d.mediaType ||
          (s.compression === "gzip" ? OCI_LAYER_GZIP : OCI_LAYER_TAR);
        return { ...layer, descriptor: { ...d, mediaType, digest: s.digest, size: s.size } };
      };
      if (pool && options.buildZtoc) {
        const build = options.buildZtoc;
        const built = await pool.run((p) => p.build(chunks, scanOptions, build));
        // Not the layer's failure to read: reported as `ztoc()` reports it.
        if (built.ztocError) return { layer: learnt(built), error: built.ztocError };
        const { bytes, xattrFree } = built.ztoc!;
        const blob = {
          digest: sha256Digest(bytes),
          size: bytes.length,
          bytes,
          spanSize: built.spanSize,
          xattrFree,
        };
        return { layer: learnt(built), ztoc: blob };
      }
      const scan = pool
        ? await pool.run((p) => p.scan(chunks, scanOptions))
        : await scanLayer(chunks, scanOptions);
      return { layer: learnt(scan), scan };
    } catch (e) {
      // Stopped from outside: that is the stage's failure, not the layer's.
      if (options.signal?.aborted) throw options.signal.reason;
      const digest = layer.descriptor.digest;
      return { layer, error: digest ? withContext(e, `layer ${digest}`) : e as Error };
    }
  };

  // Hands a result on; while the consumer holds it, idle workers may stop.
  async function* handOn(r: SpansOutput): AsyncGenerator<SpansOutput> {
    pool?.hold(true);
    yield r;
    pool?.hold(false);
  }

  try {
    for await (const r of input) {
      options.signal?.throwIfAborted();
      const scanning = scanOne(r);
      // Awaited in turn below; until then a failure (an abort while an
      // earlier layer is handed on) must not count as unhandled.
      scanning.catch(() => {});
      window.push(scanning);
      if (window.length >= limit) yield* handOn(await window.shift()!);
    }
    while (window.length > 1) yield* handOn(await window.shift()!);
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
