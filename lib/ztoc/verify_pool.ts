/**
 * Checking layers against their zTOCs with the work split over two
 * threads, as `ScanPool` splits a scan: the calling thread reads the layer
 * and hashes it ({@link LayerHashCheck}), a worker decodes it, checks
 * the checkpoints and compares the tar entries with the zTOC's TOC
 * ({@link LayerDecodeCheck}). The layer's bytes travel to the worker and
 * back in a few reused buffers; given the zTOC's TOC, the tar entries
 * never leave the worker.
 * Where no worker can start (a narrower `--allow-read`), both halves run
 * in the calling thread.
 *
 * @module
 */
import { SociError } from "../errors.ts";
import { startWorker, type WorkerChannel, WorkerUnavailable } from "../util/worker_channel.ts";
import type { ZtocHeader } from "./model.ts";
import type { Zinfo } from "./spans.ts";
import type { ZtocView } from "./ztoc_view.ts";
import {
  type DecodeFindings,
  type LayerCheck,
  LayerDecodeCheck,
  LayerHashCheck,
  type LayerVerifierOptions,
} from "./verify_layer.ts";

/** Messages to a verify worker. */
export type VerifyRequest =
  | {
    type: "start";
    algorithm: string;
    zinfo: Uint8Array;
    sizes: { compressed: number; uncompressed: number };
    resumeBytes?: number;
    /** The zTOC's bytes, when its TOC is to be compared with the tar entries. */
    toc?: Uint8Array;
    tocListed?: number;
  }
  | { type: "chunk"; bytes: Uint8Array }
  | { type: "end" };

/** Messages from a verify worker. */
export type VerifyResponse =
  | { type: "ready" }
  | { type: "chunk"; bytes: Uint8Array }
  | { type: "done"; result: DecodeFindings }
  | { type: "error"; message: string };

const WORKER_URL = new URL("./verify_worker.ts", import.meta.url);
/** Chunks posted and not yet handed back. */
const IN_FLIGHT = 4;
/** Size of the buffers that carry layer bytes to the worker. */
const CHUNK = 1 << 20;

/** A verify worker and its answers, consumed in order. */
type Channel = WorkerChannel<VerifyResponse>;

/** Options of {@link VerifyPool.check}. */
export interface CheckOptions extends LayerVerifierOptions {
  /**
   * The zTOC, when its TOC is to be compared with the tar entries (on the
   * worker, which gets a copy of its bytes; see {@link LayerVerifierOptions.toc}).
   */
  toc?: ZtocView;
  /**
   * Hands the buffer of `toc`'s bytes to the worker instead of copying it
   * (a copy of a large zTOC costs more than reading it): from the call on,
   * neither the view nor its bytes nor any view of them (such as the
   * header's `checkpoints` and the zinfo's windows) may be used.
   */
  transferToc?: boolean;
  /** Stops the check between chunks (it fails with the signal's reason). */
  signal?: AbortSignal;
}

/**
 * One worker reused for the layers checked one after the other; `close()`
 * it when done. {@link VerifyPool.start} starts the worker ahead of the
 * first check (it loads its modules and compiles zlib meanwhile).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { scanLayer } from "./scan.ts";
 * import { buildZtoc } from "./builder.ts";
 * import { encodeZtoc } from "./codec.ts";
 * import { zinfoOf } from "./spans.ts";
 * import { VerifyPool } from "./verify_pool.ts";
 * import { ZtocView } from "./ztoc_view.ts";
 * const layer = gzipSync(new Uint8Array(1024)); // an empty tar
 * const z = buildZtoc(await scanLayer([layer], { compression: "gzip", spanSize: 1 << 20 }));
 * const pool = new VerifyPool().start();
 * try {
 *   const check = await pool.check(z, zinfoOf(z), [layer]);
 *   assert.deepEqual(check.spanDigests, z.spanDigests);
 *   assert.equal(check.uncompressedSize, 1024);
 *   // The TOC compared on the worker, from the zTOC's bytes.
 *   const view = ZtocView.decode(encodeZtoc(z));
 *   const again = await pool.check(view.header, zinfoOf(view.header), [layer], { toc: view });
 *   assert.deepEqual(again.toc, { entries: 0, problems: [] });
 * } finally {
 *   pool.close();
 * }
 * ```
 */
export class VerifyPool {
  /** The worker, started or starting; resolves to undefined where none can start. */
  #channel: Promise<Channel | undefined> | undefined;
  #free: ArrayBuffer[] = [];

  /** Starts the worker now, if it is not started yet (`check` would start it otherwise). */
  start(): this {
    if (this.#channel === undefined) {
      this.#channel = spawn();
      // A worker that cannot even be created fails the check that awaits it.
      this.#channel.catch(() => {});
    }
    return this;
  }

  /**
   * Checks the layer whose bytes `chunks` yields against the zTOC of header
   * `z` (zinfo `zinfo`): the same findings as `LayerVerifier`, decoding on
   * the worker (and comparing the TOC there, with `options.toc`).
   */
  async check(
    z: ZtocHeader,
    zinfo: Zinfo,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: CheckOptions = {},
  ): Promise<LayerCheck> {
    const sizes = { compressed: z.compressedArchiveSize, uncompressed: z.uncompressedArchiveSize };
    const hash = new LayerHashCheck(zinfo, sizes);
    const channel = await this.start().#channel;
    if (channel === undefined) {
      const decode = new LayerDecodeCheck(zinfo, sizes, options);
      try {
        for await (const chunk of chunks) {
          options.signal?.throwIfAborted();
          hash.push(chunk);
          decode.push(chunk);
        }
      } catch (e) {
        decode.free();
        throw e;
      }
      return { ...hash.end(), ...decode.end() };
    }
    let done = false;
    try {
      const result = await this.#run(channel, z, sizes, hash, chunks, options);
      done = true;
      return result;
    } finally {
      // A check left half way leaves the worker mid-layer: start afresh next time.
      if (!done) {
        channel.worker.terminate();
        this.#channel = undefined;
      }
    }
  }

  async #run(
    channel: Channel,
    z: ZtocHeader,
    sizes: { compressed: number; uncompressed: number },
    hash: LayerHashCheck,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: CheckOptions,
  ): Promise<LayerCheck> {
    // One message: when `z` is the view's header, its zinfo is a view of
    // the same bytes, and both are copied (or transferred) once.
    const toc = options.toc?.bytes;
    channel.worker.postMessage(
      {
        type: "start",
        algorithm: z.compressionAlgorithm,
        zinfo: z.checkpoints,
        sizes,
        resumeBytes: options.resumeBytes,
        toc,
        tocListed: options.tocListed,
      } satisfies VerifyRequest,
      toc && options.transferToc ? [toc.buffer as ArrayBuffer] : [],
    );
    let inFlight = 0;
    const reply = (m: VerifyResponse): DecodeFindings | undefined => {
      if (m.type === "chunk") {
        inFlight--;
        this.#free.push(m.bytes.buffer as ArrayBuffer);
        return undefined;
      }
      if (m.type === "error") throw new SociError(m.message);
      if (m.type === "done") return m.result;
      return undefined;
    };
    let fill: Uint8Array | undefined;
    let filled = 0;
    const send = async () => {
      const bytes = fill!.subarray(0, filled);
      fill = undefined;
      filled = 0;
      inFlight++;
      channel.worker.postMessage({ type: "chunk", bytes } satisfies VerifyRequest, [
        bytes.buffer as ArrayBuffer,
      ]);
      while (inFlight >= IN_FLIGHT) reply(await channel.next());
    };
    for await (const chunk of chunks) {
      options.signal?.throwIfAborted();
      hash.push(chunk);
      for (let off = 0; off < chunk.length;) {
        fill ??= new Uint8Array(this.#free.pop() ?? new ArrayBuffer(CHUNK));
        const n = Math.min(CHUNK - filled, chunk.length - off);
        fill.set(chunk.subarray(off, off + n), filled);
        filled += n;
        off += n;
        if (filled === CHUNK) await send();
      }
    }
    if (filled > 0) await send();
    channel.worker.postMessage({ type: "end" } satisfies VerifyRequest);
    let decoded: DecodeFindings | undefined;
    while (decoded === undefined) decoded = reply(await channel.next());
    return { ...hash.end(), ...decoded };
  }

  /** Stops the worker (one still starting stops once started). */
  close(): void {
    const c = this.#channel;
    this.#channel = undefined;
    c?.then((channel) => channel?.worker.terminate(), () => {});
  }
}

/** Starts a verify worker; undefined where none can start (no read access to its module). */
async function spawn(): Promise<Channel | undefined> {
  try {
    const { channel, ready } = startWorker<VerifyResponse>(
      WORKER_URL,
      (message) => ({ type: "error", message }),
      "verify worker",
    );
    await ready;
    return channel;
  } catch (e) {
    if (e instanceof WorkerUnavailable) return undefined;
    throw e;
  }
}
