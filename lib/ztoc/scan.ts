/**
 * The one pass over a layer: the same compressed bytes feed the layer
 * digest, the span digests, the inflater (checkpoints) and, through the
 * inflater's output, the tar reader (TOC). No temp files, no second read;
 * memory holds one input chunk, the inflater's buffers, the checkpoint
 * windows and the TOC.
 *
 * The pass has two halves that can run on different threads: a
 * `LayerDecoder` (inflate + tar, the CPU-heavy half, in `layer_decoder.ts`,
 * loaded only when used: it brings `node:zlib`) and a {@link LayerHasher}
 * (layer and span digests). {@link scanLayer} runs both in the calling
 * thread; `ScanPool` runs the decoding on a Worker.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Checkpoint } from "../gzip/checkpoint.ts";
import { Sha256 } from "../oci/digest.ts";
import type { TarEntry } from "../tar/entry.ts";
import { BLOCK_SIZE, headerChecksums, isZeroBlock, parseOctal } from "../tar/header.ts";
import type { LayerDecoder } from "./layer_decoder.ts";

/** How a layer's bytes are compressed, as far as a zTOC is concerned. */
export type LayerCompression = "gzip" | "uncompressed";

/** Options of {@link scanLayer}. */
export interface ScanOptions {
  /** `gzip` or `uncompressed` (tar); `detect` sniffs the first bytes. */
  compression: LayerCompression | "detect";
  /** Span size in uncompressed bytes (gzip) or layer bytes (tar). */
  spanSize: number;
  /** When given, the layer's sha256 must match (`sha256:<hex>`). */
  expectedDigest?: string;
  /** When given, the layer's byte size must match. */
  expectedSize?: number;
  /** Called with the number of compressed bytes consumed so far. */
  onProgress?: (bytes: number) => void;
  /** Stops the scan: reading ends and the scan fails with the signal's reason. */
  signal?: AbortSignal;
}

/** Everything one pass learns about a layer. */
export interface LayerScan {
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
  /** gzip checkpoints (empty for tar layers). */
  checkpoints: Checkpoint[];
  /** `sha256:<hex>` of each span's compressed bytes. */
  spanDigests: string[];
  /** Tar entries in stream order. */
  entries: TarEntry[];
}

/** Where a gzip span starts in the compressed bytes (a checkpoint's `in` and `bits`). */
export interface SpanStart {
  /** First whole compressed byte of the span. */
  in: number;
  /** Bits of the byte before `in` that belong to the span. */
  bits: number;
}

/** Bytes needed to tell gzip from tar. */
export const SNIFF_SIZE = 2 * BLOCK_SIZE;

/**
 * Detects the compression of a layer from its first bytes (up to
 * {@link SNIFF_SIZE}): gzip magic, or a tar header with a valid checksum
 * (or an empty tar), else a BadInputError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectCompression } from "./scan.ts";
 * assert.ok(detectCompression(new Uint8Array([0x1f, 0x8b, 8, 0])) === "gzip");
 * assert.ok(detectCompression(new Uint8Array(1024)) === "uncompressed");
 * ```
 */
export function detectCompression(head: Uint8Array): LayerCompression {
  if (head.length === 0) throw new BadInputError("layer data is empty");
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= BLOCK_SIZE) {
    if (isZeroBlock(head, 0)) return "uncompressed";
    const stored = parseOctal(head, 148, 8);
    const [unsigned, signed] = headerChecksums(head, 0);
    if (stored === unsigned || stored === signed) return "uncompressed";
  }
  throw new BadInputError("data is neither gzip nor tar");
}

/**
 * The hashing half of the pass: the layer digest and, given where spans
 * start, the span digests (F§5.3: a span whose start is inside a byte also
 * covers that byte; tar spans are fixed `spanSize` slices, F§5.6).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHash } from "node:crypto";
 * import { LayerHasher } from "./scan.ts";
 * const sha = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
 * const layer = new Uint8Array(1536).map((_, i) => i % 251);
 * const h = new LayerHasher("uncompressed", 1024);
 * h.push(layer);
 * const { digest, spanDigests } = h.end();
 * assert.equal(digest, sha(layer));
 * assert.deepEqual(spanDigests, [sha(layer.subarray(0, 1024)), sha(layer.subarray(1024))]);
 * ```
 */
export class LayerHasher {
  readonly #layer = new Sha256();
  readonly #gzip: boolean;
  readonly #spanSize: number;
  /** Span digests so far, in span order. */
  readonly digests: string[] = [];
  #span: Sha256 | null = null;
  /** Bytes fed to the layer digest. */
  #size = 0;
  /** Bytes fed to the span digests. */
  #base = 0;
  #lastByte = 0;
  /** Bytes after the settled offset, not hashed into spans yet. */
  #held: Uint8Array[] = [];

  /** A hasher for a layer in `compression` with spans of `spanSize` (tar layers). */
  constructor(compression: LayerCompression, spanSize: number) {
    this.#gzip = compression === "gzip";
    this.#spanSize = spanSize;
  }

  /** Bytes hashed into the layer digest so far. */
  get size(): number {
    return this.#size;
  }

  /** Compressed offset up to which the span digests are taken (span starts up to it were given). */
  get settled(): number {
    return this.#base;
  }

  /** Hashes the next chunk into the layer digest. */
  layer(chunk: Uint8Array): void {
    this.#layer.update(chunk);
    this.#size += chunk.length;
  }

  /**
   * Hashes the next chunk into the span digests. For gzip, `starts` are the
   * span starts with `in` in `(base, settled]`, in order, where `base` is
   * where the bytes not hashed yet begin and `settled` (default: the end of
   * `chunk`) is the offset up to which every span start is known; the bytes
   * after it are kept (copied) until a later call settles them.
   */
  spans(chunk: Uint8Array, starts: SpanStart[] = [], settled = Infinity): void {
    if (!this.#gzip || (this.#held.length === 0 && settled >= this.#base + chunk.length)) {
      this.#spans(chunk, starts);
      return;
    }
    const pieces = [...this.#held, chunk];
    this.#held = [];
    let pos = this.#base;
    let next = 0;
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      const end = pos + piece.length;
      const upto = Math.min(end, Math.max(pos, settled));
      if (upto > pos || (next < starts.length && starts[next].in === pos)) {
        const first = next;
        while (next < starts.length && starts[next].in <= upto) next++;
        this.#spans(piece.subarray(0, upto - pos), starts.slice(first, next));
      }
      if (upto < end) {
        const rest = piece.subarray(upto - pos);
        this.#held.push(piece === chunk ? rest.slice() : rest);
      }
      pos = end;
    }
  }

  /** Hashes `chunk` into the span digests, cutting at `starts` (all inside it). */
  #spans(chunk: Uint8Array, starts: SpanStart[]): void {
    const base = this.#base;
    if (this.#gzip) {
      let at = 0;
      for (const s of starts) {
        const cut = s.in - base;
        if (this.#span !== null) this.#span.update(chunk.subarray(at, cut));
        at = cut;
        this.#startSpan(s.bits !== 0 ? (cut > 0 ? chunk[cut - 1] : this.#lastByte) : undefined);
      }
      if (this.#span !== null) this.#span.update(chunk.subarray(at));
    } else {
      const size = this.#spanSize;
      let pos = base;
      const end = base + chunk.length;
      while (pos < end) {
        if (pos % size === 0) this.#startSpan();
        const stop = Math.min(end, pos - (pos % size) + size);
        this.#span!.update(chunk.subarray(pos - base, stop - base));
        pos = stop;
      }
    }
    if (chunk.length > 0) this.#lastByte = chunk[chunk.length - 1];
    this.#base += chunk.length;
  }

  /** Hashes the next chunk into both the layer and the span digests (see `spans`). */
  push(chunk: Uint8Array, starts: SpanStart[] = [], settled = Infinity): void {
    this.layer(chunk);
    this.spans(chunk, starts, settled);
  }

  #startSpan(firstByte?: number): void {
    if (this.#span !== null) this.digests.push(this.#span.digest());
    this.#span = new Sha256();
    if (firstByte !== undefined) this.#span.update(new Uint8Array([firstByte]));
  }

  /**
   * The layer digest, its size and the span digests; `starts` are the span
   * starts not given yet (those the decoder only settled at its end).
   */
  end(starts: SpanStart[] = []): { digest: string; size: number; spanDigests: string[] } {
    if (this.#held.length > 0 || starts.length > 0) this.spans(new Uint8Array(0), starts);
    if (this.#span !== null) this.digests.push(this.#span.digest());
    this.#span = null;
    return { digest: this.#layer.digest(), size: this.#size, spanDigests: this.digests };
  }
}

/**
 * Checks a layer's digest and size against its descriptor; a mismatch is
 * a BadInputError naming both digests.
 */
export function verifyLayer(
  digest: string,
  size: number,
  options: Pick<ScanOptions, "expectedDigest" | "expectedSize">,
): void {
  if (options.expectedDigest !== undefined && digest !== options.expectedDigest) {
    const sizes = options.expectedSize !== undefined && size !== options.expectedSize
      ? ` (expected ${options.expectedSize} bytes, got ${size})`
      : "";
    throw new BadInputError(
      `layer digest mismatch: expected ${options.expectedDigest}, got ${digest}${sizes}`,
    );
  }
  if (options.expectedSize !== undefined && size !== options.expectedSize) {
    throw new BadInputError(
      `layer size mismatch: expected ${options.expectedSize} bytes, got ${size}`,
    );
  }
}

/**
 * Re-chunks a byte stream so that the first chunk holds at least
 * {@link SNIFF_SIZE} bytes (unless the stream is shorter) and returns the
 * compression detected from it, or the error detection raised.
 */
export async function sniff(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  compression: ScanOptions["compression"],
): Promise<{ compression: LayerCompression | Error; chunks: AsyncIterable<Uint8Array> }> {
  const it =
    (Symbol.asyncIterator in chunks
      ? (chunks as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
      : (chunks as Iterable<Uint8Array>)[Symbol.iterator]()) as
        | AsyncIterator<Uint8Array>
        | Iterator<Uint8Array>;
  const head: Uint8Array[] = [];
  let headSize = 0;
  let ended = false;
  while (compression === "detect" && headSize < SNIFF_SIZE) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    // Kept across reads: copy, the source may reuse its buffer.
    head.push(r.value.slice());
    headSize += r.value.length;
  }
  let detected: LayerCompression | Error;
  if (compression !== "detect") detected = compression;
  else {
    try {
      detected = detectCompression(concat(head));
    } catch (e) {
      detected = e as Error;
    }
  }
  async function* rest(): AsyncGenerator<Uint8Array> {
    let done = ended;
    try {
      if (head.length > 0) yield concat(head);
      head.length = 0;
      while (!done) {
        const r = await it.next();
        if (r.done) done = true;
        else yield r.value;
      }
    } finally {
      // Left early (failure, cancel): close the source (file, HTTP body).
      if (!done) await it.return?.();
    }
  }
  return { compression: detected, chunks: rest() };
}

/**
 * Reads a layer once, in the calling thread, and returns its digest,
 * checkpoints, span digests and tar entries. A layer whose data is corrupt
 * is still read to its end, so that a digest mismatch (the likelier cause)
 * is what gets reported.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanLayer } from "./scan.ts";
 * import { gzipSync } from "node:zlib";
 * // an empty tar: two zero blocks
 * const gz = gzipSync(new Uint8Array(1024));
 * const scan = await scanLayer([gz], { compression: "detect", spanSize: 1 << 22 });
 * assert.ok(scan.compression === "gzip" && scan.uncompressedSize === 1024);
 * assert.ok(scan.entries.length === 0 && scan.spanDigests.length === 1);
 * ```
 */
export async function scanLayer(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ScanOptions,
): Promise<LayerScan> {
  const sniffed = await sniff(chunks, options.compression);
  let failure: unknown = sniffed.compression instanceof Error ? sniffed.compression : undefined;
  const compression = sniffed.compression instanceof Error ? "uncompressed" : sniffed.compression;
  const hasher = new LayerHasher(compression, options.spanSize);
  let decoder: LayerDecoder | undefined;
  try {
    if (failure === undefined) {
      const { LayerDecoder } = await import("./layer_decoder.ts");
      decoder = new LayerDecoder(compression, options.spanSize);
    }
  } catch (e) {
    failure = e;
  }
  try {
    for await (const chunk of sniffed.chunks) {
      options.signal?.throwIfAborted();
      if (chunk.length === 0) continue;
      if (failure === undefined) {
        try {
          hasher.push(chunk, decoder!.push(chunk), decoder!.settled);
        } catch (e) {
          failure = e;
          decoder!.free();
          hasher.layer(chunk);
        }
      } else {
        hasher.layer(chunk);
      }
      options.onProgress?.(hasher.size);
    }
  } catch (e) {
    // The source failed or the scan was stopped: free the WASM memory.
    decoder?.free();
    throw e;
  }
  // The decoder ends first (its last span starts may only settle then), but
  // a wrong layer digest is the error to report before any of its own.
  let decoded: ReturnType<LayerDecoder["end"]> | undefined;
  if (failure === undefined) {
    try {
      decoded = decoder!.end();
    } catch (e) {
      failure = e;
    }
  } else decoder?.free();
  const late = decoded?.checkpoints.filter((c) => c.in > hasher.settled) ?? [];
  const { digest, size, spanDigests } = hasher.end(late);
  verifyLayer(digest, size, options);
  if (failure !== undefined) throw failure;
  return { compression, digest, size, spanSize: options.spanSize, spanDigests, ...decoded! };
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
