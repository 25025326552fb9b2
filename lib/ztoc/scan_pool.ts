/**
 * Scans gzip layers on Web Workers: each worker inflates (natively where it
 * can), checks the CRC-32s and reads the tar (TOC), while the calling
 * thread reads the compressed bytes and hashes them (layer and span
 * digests). Several layers run at once, one per worker. Uncompressed (tar)
 * layers need no inflating and are scanned in the calling thread.
 *
 * Workers need read access to this module's folder; where they cannot
 * start (a narrower `--allow-read`), scans run in the calling thread.
 *
 * @module
 */
import {
  BadInputError,
  NotFoundError,
  RegistryError,
  SociError,
  UnsupportedError,
} from "../errors.ts";
import type { Checkpoint } from "../gzip/checkpoint.ts";
import type { TarEntry } from "../tar/entry.ts";
import { decodeEntries } from "../tar/entry_codec.ts";
import type { EncodedZtoc, EncodeScanOptions } from "./builder.ts";
import type { ScanRequest, ScanResponse } from "./scan_worker.ts";
import { type Channel, startScanWorker, WorkerUnavailable } from "./scan_channel.ts";
import {
  type LayerCompression,
  LayerHasher,
  type LayerScan,
  scanLayer,
  type ScanOptions,
  sniff,
  type SpanStart,
  verifyLayer,
} from "./scan.ts";

export type { ScanRequest, ScanResponse } from "./scan_worker.ts";

/**
 * Chunks posted to a worker and not yet answered: enough that the worker
 * does not wait while this thread pauses (a scavenge of the entries it
 * keeps, a module load), ~7 ms at most; 3 left it idle ~65 ms per layer.
 */
const IN_FLIGHT = 6;
/** Size of the buffers that carry layer bytes to a worker and back. */
const CHUNK = 1 << 19;

function rebuildError(kind: string, message: string): Error {
  switch (kind) {
    case "bad-input":
      return new BadInputError(message);
    case "not-found":
      return new NotFoundError(message);
    case "unsupported":
      return new UnsupportedError(message);
    case "registry":
      return new RegistryError(message);
    default:
      return new SociError(message);
  }
}

/** Closes a source that will not be read: its first read opens it (a file), then it is closed. */
async function closeSource(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<void> {
  if (!(Symbol.asyncIterator in chunks)) return;
  const it = (chunks as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  try {
    await it.next();
  } catch {
    // failing to read is fine: it is being closed
  } finally {
    await it.return?.();
  }
}

/**
 * What {@link ScanPool.build} learns of a layer: what its descriptor and
 * its zTOC's descriptor need, and the zTOC itself.
 */
export interface ScannedZtoc {
  /** `gzip` or `uncompressed` (tar). */
  compression: LayerCompression;
  /** sha256 of the layer bytes. */
  digest: string;
  /** Layer size in bytes (compressed). */
  size: number;
  /** Tar end position (F§4.4). */
  uncompressedSize: number;
  /** The span size used. */
  spanSize: number;
  /** The encoded zTOC (absent when {@link ScannedZtoc.ztocError} is set). */
  ztoc?: EncodedZtoc;
  /**
   * Why the layer, read without fault, makes no zTOC: an entry a zTOC
   * cannot hold, or a zTOC over the size limit (what `buildZtoc` and
   * `encodeZtoc` throw).
   */
  ztocError?: Error;
}

/** Encodes the zTOC of a layer scanned in this thread. */
async function encodeHere(scan: LayerScan, build: EncodeScanOptions): Promise<ScannedZtoc> {
  const { compression, digest, size, uncompressedSize, spanSize } = scan;
  const layer = { compression, digest, size, uncompressedSize, spanSize };
  // (loaded only here: where workers build the zTOCs, this thread never needs it)
  const { encodeScan } = await import("./builder.ts");
  try {
    return { ...layer, ztoc: encodeScan(scan, build) };
  } catch (e) {
    return { ...layer, ztocError: e as Error };
  }
}

/**
 * A pool of scan workers. Same results as `scanLayer`, decoding off the
 * calling thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ScanPool } from "./scan_pool.ts";
 * import { gzipSync } from "node:zlib";
 * const pool = new ScanPool(2);
 * try {
 *   const scan = await pool.scan([gzipSync(new Uint8Array(1024))], {
 *     compression: "gzip", spanSize: 1 << 22,
 *   });
 *   assert.ok(scan.uncompressedSize === 1024);
 * } finally {
 *   pool.close();
 * }
 * ```
 */
export class ScanPool {
  /** Most workers running at once. */
  readonly size: number;
  #idle: Channel[] = [];
  #all = new Set<Channel>();
  #waiting: Array<{ resolve: (c: Channel) => void; reject: (e: Error) => void }> = [];
  /** Buffers back from workers, ready for the next chunks. */
  #free: ArrayBuffer[] = [];
  /** Workers cannot start here: scans run in the calling thread. */
  #unavailable = false;
  #closed = false;

  /** A pool of at most `size` workers (started when needed). */
  constructor(size: number) {
    this.size = Math.max(1, size);
  }

  async #acquire(): Promise<Channel> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    if (this.#all.size < this.size) {
      const { channel, ready } = startScanWorker();
      this.#all.add(channel);
      try {
        await ready;
      } catch (e) {
        this.#all.delete(channel);
        throw e;
      }
      return channel;
    }
    return await new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  #release(c: Channel): void {
    if (c.dead) {
      this.#all.delete(c);
      // Someone waiting for a worker gets a new one.
      const next = this.#waiting.shift();
      if (next) this.#acquire().then(next.resolve, next.reject);
      return;
    }
    const next = this.#waiting.shift();
    if (next) next.resolve(c);
    else this.#idle.push(c);
  }

  /**
   * Scans one layer, decoding on a worker (or in the calling thread when
   * workers cannot start). `signal` stops the scan: reading ends and the
   * scan fails with the signal's reason.
   */
  async scan(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: ScanOptions,
  ): Promise<LayerScan> {
    return await this.#scan(chunks, options, undefined) as LayerScan;
  }

  /**
   * Scans one layer as {@link ScanPool.scan} does and builds its zTOC
   * (`buildZtoc`, `encodeZtoc`; `build.xattrs` also asks whether the
   * `xattr` optimization may mark it). On a worker, the zTOC is built
   * where the layer was decoded: the entries and checkpoints never cross
   * threads, and several layers' zTOCs are encoded at once. Where no
   * worker runs, the zTOC is built in the calling thread. Fails as `scan`
   * does; a zTOC that cannot be built is {@link ScannedZtoc.ztocError}.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ScanPool } from "./scan_pool.ts";
   * import { decodeZtoc } from "./codec.ts";
   * import { gzipSync } from "node:zlib";
   * const pool = new ScanPool(1);
   * try {
   *   const r = await pool.build([gzipSync(new Uint8Array(1024))], {
   *     compression: "gzip", spanSize: 1 << 22,
   *   });
   *   assert.equal(decodeZtoc(r.ztoc!.bytes).uncompressedArchiveSize, 1024);
   * } finally {
   *   pool.close();
   * }
   * ```
   */
  async build(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: ScanOptions,
    build: EncodeScanOptions = {},
  ): Promise<ScannedZtoc> {
    const r = await this.#scan(chunks, options, build);
    return "entries" in r ? await encodeHere(r, build) : r;
  }

  async #scan(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: ScanOptions,
    build: EncodeScanOptions | undefined,
  ): Promise<LayerScan | ScannedZtoc> {
    if (this.#closed) throw new SociError("scan pool is closed");
    if (this.#unavailable || options.compression === "uncompressed") {
      return await scanLayer(chunks, options);
    }
    // While the worker starts, this thread reads the first bytes and sets
    // up the hashing (loading node:crypto on first use).
    const acquiring = this.#acquire();
    acquiring.catch(() => {}); // (awaited below, after the first read)
    const giveBack = () => acquiring.then((c) => this.#release(c), () => {});
    let sniffed: Awaited<ReturnType<typeof sniff>>;
    let hasher: LayerHasher;
    try {
      sniffed = await sniff(chunks, options.compression);
      hasher = new LayerHasher("gzip", options.spanSize);
    } catch (e) {
      giveBack();
      throw e;
    }
    const detected = sniffed.compression;
    if (detected === "uncompressed") {
      // Nothing to inflate: the tar is read here.
      giveBack();
      return await scanLayer(sniffed.chunks, { ...options, compression: detected });
    }
    let channel: Channel;
    try {
      channel = await acquiring;
    } catch (e) {
      // Closed while the worker was starting: the scan fails, as any
      // running one, and its source is closed.
      if (!(e instanceof WorkerUnavailable) || this.#closed) {
        await closeSource(sniffed.chunks);
        throw e instanceof WorkerUnavailable ? new SociError("scan pool closed") : e;
      }
      this.#unavailable = true;
      const compression = detected instanceof Error ? options.compression : detected;
      return await scanLayer(sniffed.chunks, { ...options, compression });
    }
    // A worker is reusable when it is not in the middle of a layer.
    const state = { idle: true };
    try {
      return await this.#run(channel, sniffed, hasher, options, state, build);
    } finally {
      if (!state.idle) channel.kill("scan worker stopped");
      this.#release(channel);
    }
  }

  async #run(
    channel: Channel,
    sniffed: Awaited<ReturnType<typeof sniff>>,
    hasher: LayerHasher,
    options: ScanOptions,
    state: { idle: boolean },
    build: EncodeScanOptions | undefined,
  ): Promise<LayerScan | ScannedZtoc> {
    const signal = options.signal;
    let failure: Error | undefined = sniffed.compression instanceof Error
      ? sniffed.compression
      : undefined;
    const compression: LayerCompression = "gzip";
    // The worker inflates, checks the CRC-32s and reads the tar; its
    // entries come packed in one buffer per message (unless it builds the
    // zTOC itself).
    const entries: TarEntry[] = [];
    const addEntries = (packed: Uint8Array | undefined): void => {
      if (packed !== undefined) { for (const e of decodeEntries(packed)) entries.push(e); }
    };
    // Compressed chunks travel to the worker and back (transferred, never
    // copied by structured clone), in buffers of a small set, so neither
    // thread makes garbage per chunk. The layer digest is taken before a
    // chunk leaves, the span digests when it comes back: in order, once the
    // worker no longer reads it (it keeps the last few). Span starts come
    // with the chunk that settled them, which may be an earlier or a later
    // one.
    let inFlight = 0;
    const starts: SpanStart[] = [];
    let settled = 0;
    let back = 0;
    const hashBack = (chunks: Uint8Array[]): void => {
      for (const b of chunks) {
        back += b.length;
        let n = 0;
        while (n < starts.length && starts[n].in <= back) n++;
        hasher.spans(b, starts.splice(0, n), settled);
        this.#free.push(b.buffer as ArrayBuffer);
      }
    };
    const onReply = (m: ScanResponse): void => {
      if (m.type === "decoded") {
        inFlight--;
        starts.push(...m.starts);
        settled = m.settled;
        hashBack(m.bytes);
        addEntries(m.entries);
        options.onProgress?.(hasher.size);
      } else if (m.type === "error") {
        if (m.fatal) throw rebuildError(m.kind, m.message);
        // The worker reported the layer's failure and is ready for another.
        failure = rebuildError(m.kind, m.message);
        state.idle = true;
      }
    };
    const cancelled = () => signal?.aborted || channel.dead;
    if (failure === undefined) {
      state.idle = false;
      channel.worker.postMessage(
        { type: "start", spanSize: options.spanSize, build } satisfies ScanRequest,
      );
    }
    // Small source chunks (HTTP bodies) are gathered into whole buffers first.
    let fill: Uint8Array | undefined;
    let filled = 0;
    const send = async (): Promise<void> => {
      const bytes = fill!.subarray(0, filled);
      fill = undefined;
      filled = 0;
      inFlight++;
      channel.worker.postMessage({ type: "chunk", bytes } satisfies ScanRequest, [
        bytes.buffer as ArrayBuffer,
      ]);
      while (failure === undefined && inFlight >= IN_FLIGHT) onReply(await channel.next());
    };
    for await (const chunk of sniffed.chunks) {
      if (cancelled()) throw signal?.reason ?? new SociError("scan cancelled");
      hasher.layer(chunk);
      if (failure !== undefined) {
        options.onProgress?.(hasher.size);
        continue;
      }
      for (let off = 0; off < chunk.length && failure === undefined;) {
        fill ??= new Uint8Array(this.#free.pop() ?? new ArrayBuffer(CHUNK));
        const n = Math.min(CHUNK - filled, chunk.length - off);
        fill.set(chunk.subarray(off, off + n), filled);
        filled += n;
        off += n;
        if (filled === CHUNK) await send();
      }
    }
    if (failure === undefined && filled > 0) await send();
    let checkpoints: Checkpoint[] = [];
    let uncompressedSize = 0;
    let ended = false;
    if (failure === undefined) {
      channel.worker.postMessage({ type: "end" } satisfies ScanRequest);
      while (failure === undefined && !ended) {
        const m = await channel.next();
        if (m.type === "done") {
          ended = true;
          checkpoints = m.checkpoints ?? [];
          starts.push(...m.starts);
          settled = Infinity;
          hashBack(m.bytes);
          addEntries(m.entries);
          uncompressedSize = m.uncompressedSize;
          state.idle = true;
        } else onReply(m);
      }
    }
    const { digest, size, spanDigests } = hasher.end();
    try {
      verifyLayer(digest, size, options);
    } catch (e) {
      // The worker holds the layer for a zTOC that will not be built.
      if (build !== undefined && ended) channel.worker.postMessage({ type: "drop" });
      throw e;
    }
    if (failure !== undefined) throw failure;
    const layer = { compression, digest, size, spanSize: options.spanSize, uncompressedSize };
    if (build === undefined) return { ...layer, spanDigests, checkpoints, entries };
    // The worker builds the zTOC from what it kept, with the span digests.
    state.idle = false;
    channel.worker.postMessage({ type: "encode", spanDigests } satisfies ScanRequest);
    for (;;) {
      const m = await channel.next();
      if (m.type === "encoded") {
        state.idle = true;
        const { bytes, files, spans, xattrFree } = m;
        return { ...layer, ztoc: { bytes, files, spans, xattrFree } };
      }
      if (m.type === "error") {
        if (m.fatal) throw rebuildError(m.kind, m.message);
        state.idle = true;
        return { ...layer, ztocError: rebuildError(m.kind, m.message) };
      }
    }
  }

  /** Stops every worker; scans still running fail. */
  close(): void {
    this.#closed = true;
    for (const c of this.#all) c.kill("scan pool closed");
    this.#all.clear();
    this.#idle = [];
    for (const w of this.#waiting.splice(0)) w.reject(new SociError("scan pool closed"));
  }
}
