/**
 * Scans layers on Web Workers: each worker (one WASM zlib instance) runs
 * the decoding half of the pass (inflate + tar) while the calling thread
 * reads the bytes and hashes them (layer and span digests). Several layers
 * run at once, one per worker.
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
import {
  type LayerCompression,
  LayerHasher,
  type LayerScan,
  type ScanOptions,
  sniff,
  type SpanStart,
  verifyLayer,
} from "./scan.ts";

/** Messages to a scan worker. */
export type ScanRequest =
  | { type: "start"; compression: LayerCompression; spanSize: number }
  | { type: "chunk"; bytes: Uint8Array }
  | { type: "end" };

/** Messages from a scan worker. */
export type ScanResponse =
  | { type: "decoded"; starts: SpanStart[]; bytes: Uint8Array }
  | {
    type: "done";
    result: { checkpoints: Checkpoint[]; uncompressedSize: number; entries: TarEntry[] };
  }
  | { type: "error"; kind: string; message: string };

/** Chunks posted to a worker and not yet answered. */
const IN_FLIGHT = 4;
/** Size of the buffers that carry layer bytes to a worker and back. */
const CHUNK = 1 << 20;

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

/** Answers of one worker, consumed in order. */
class Replies {
  #queue: ScanResponse[] = [];
  #wake: (() => void) | undefined;
  push(m: ScanResponse): void {
    this.#queue.push(m);
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
  async next(): Promise<ScanResponse> {
    while (this.#queue.length === 0) await new Promise<void>((r) => (this.#wake = r));
    return this.#queue.shift()!;
  }
}

/**
 * A pool of scan workers. Same results as `scanLayer`, decoding off the
 * calling thread.
 *
 * @example
 * ```ts
 * import { ScanPool } from "./scan_pool.ts";
 * import { gzipSync } from "node:zlib";
 * const pool = new ScanPool(2);
 * try {
 *   const scan = await pool.scan([gzipSync(new Uint8Array(1024))], {
 *     compression: "gzip", spanSize: 1 << 22,
 *   });
 *   console.assert(scan.uncompressedSize === 1024);
 * } finally {
 *   pool.close();
 * }
 * ```
 */
export class ScanPool {
  /** Most workers running at once. */
  readonly size: number;
  #idle: Worker[] = [];
  #all: Worker[] = [];
  #waiting: Array<(w: Worker) => void> = [];
  /** Buffers back from workers, ready for the next chunks. */
  #free: ArrayBuffer[] = [];

  /** A pool of at most `size` workers (started when needed). */
  constructor(size: number) {
    this.size = Math.max(1, size);
  }

  async #acquire(): Promise<Worker> {
    const w = this.#idle.pop();
    if (w) return w;
    if (this.#all.length < this.size) {
      const nw = new Worker(new URL("./scan_worker.ts", import.meta.url), { type: "module" });
      this.#all.push(nw);
      return nw;
    }
    return await new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(w: Worker): void {
    const next = this.#waiting.shift();
    if (next) next(w);
    else this.#idle.push(w);
  }

  /** Scans one layer, decoding on a worker. */
  async scan(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: ScanOptions,
  ): Promise<LayerScan> {
    const sniffed = await sniff(chunks, options.compression);
    const worker = await this.#acquire();
    // A worker is reusable when it is not in the middle of a layer.
    const state = { idle: true };
    try {
      return await this.#run(worker, sniffed, options, state);
    } finally {
      if (state.idle) this.#release(worker);
      else {
        worker.terminate();
        this.#all = this.#all.filter((x) => x !== worker);
        const next = this.#waiting.shift();
        if (next) this.#acquire().then(next);
      }
    }
  }

  async #run(
    worker: Worker,
    sniffed: Awaited<ReturnType<typeof sniff>>,
    options: ScanOptions,
    state: { idle: boolean },
  ): Promise<LayerScan> {
    const replies = new Replies();
    worker.onmessage = (ev: MessageEvent<ScanResponse>) => replies.push(ev.data);
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      replies.push({ type: "error", kind: "internal", message: `scan worker: ${ev.message}` });
    };
    let failure: Error | undefined = sniffed.compression instanceof Error
      ? sniffed.compression
      : undefined;
    const compression = sniffed.compression instanceof Error ? "uncompressed" : sniffed.compression;
    const hasher = new LayerHasher(compression, options.spanSize);
    // Chunks travel to the worker and back (transferred, never copied by
    // structured clone) in buffers of a small fixed set, so neither thread
    // makes garbage per chunk. The layer digest is taken before a buffer
    // leaves, the span digests when it comes back with its span starts.
    let inFlight = 0;
    const onReply = (m: ScanResponse): void => {
      if (m.type === "decoded") {
        inFlight--;
        hasher.spans(m.bytes, m.starts);
        this.#free.push(m.bytes.buffer as ArrayBuffer);
        options.onProgress?.(hasher.size);
      } else if (m.type === "error") {
        failure = rebuildError(m.kind, m.message);
        state.idle = true;
      }
    };
    if (failure === undefined) {
      state.idle = false;
      worker.postMessage(
        { type: "start", compression, spanSize: options.spanSize } satisfies ScanRequest,
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
      worker.postMessage({ type: "chunk", bytes } satisfies ScanRequest, [
        bytes.buffer as ArrayBuffer,
      ]);
      while (failure === undefined && inFlight >= IN_FLIGHT) onReply(await replies.next());
    };
    for await (const chunk of sniffed.chunks) {
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
    let decoded: Extract<ScanResponse, { type: "done" }>["result"] | undefined;
    if (failure === undefined) {
      worker.postMessage({ type: "end" } satisfies ScanRequest);
      while (failure === undefined && decoded === undefined) {
        const m = await replies.next();
        if (m.type === "done") {
          decoded = m.result;
          state.idle = true;
        } else onReply(m);
      }
    }
    worker.onmessage = null;
    worker.onerror = null;
    const { digest, size, spanDigests } = hasher.end();
    verifyLayer(digest, size, options);
    if (failure !== undefined) throw failure;
    return { compression, digest, size, spanSize: options.spanSize, spanDigests, ...decoded! };
  }

  /** Stops every worker. */
  close(): void {
    for (const w of this.#all) w.terminate();
    this.#all = [];
    this.#idle = [];
  }
}
