/**
 * A push-driven resume from a gzip checkpoint, for checking a zTOC while a
 * layer streams past: fed the compressed bytes from the checkpoint's span
 * start, it inflates (primed with the checkpoint's bits, its window as the
 * dictionary, across member boundaries as `soci-format.md` §5.5 says)
 * until it has produced the first `want` bytes of the span.
 *
 * @module
 */
import { type Checkpoint, WINDOW_SIZE } from "../gzip/checkpoint.ts";
import {
  InflateStream,
  WasmBuffer,
  WBITS_GZIP,
  WBITS_RAW,
  Z_BUF_ERROR,
  Z_NO_FLUSH,
  Z_STREAM_END,
} from "../gzip/zlib.ts";

/** Input handed to zlib at once. */
const PIECE = 64 * 1024;

/**
 * Resumes inflating at a checkpoint and collects the first `want` output
 * bytes. Call {@link ResumeProbe.push} with the compressed bytes in order,
 * starting at the span's first byte (`in − 1` when `bits` is not 0, else
 * `in`), until `done`; then read `output` (`produced` bytes) or `error`.
 * Never call it from inside another inflater's output callback (it
 * allocates WASM memory).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { CheckpointInflater } from "../gzip/inflater.ts";
 * import { ResumeProbe } from "./resume_probe.ts";
 * const text = new TextEncoder().encode("x".repeat(100_000));
 * const gz = gzipSync(text);
 * const inf = new CheckpointInflater(0, { data: () => {} });
 * inf.push(gz);
 * const cp = inf.end().checkpoints[0];
 * const probe = new ResumeProbe(cp, 10);
 * probe.push(gz.subarray(cp.in));
 * assert.ok(probe.done && probe.produced === 10);
 * assert.equal(new TextDecoder().decode(probe.output), "x".repeat(10));
 * ```
 */
export class ResumeProbe {
  /** The bytes produced so far (`produced` of them are valid). */
  readonly output: Uint8Array;
  /** How many output bytes were produced. */
  produced = 0;
  /** Stopped: enough output, the data ended, or an error. */
  done = false;
  /** Why inflating failed, when it did. */
  error?: string;
  readonly #cp: Checkpoint;
  #stream: InflateStream | undefined;
  #input: WasmBuffer | undefined;
  #out: WasmBuffer | undefined;
  #started = false;
  #trailer = 0;
  #raw = true;
  #between = false;

  /** A probe of checkpoint `cp` collecting `want` bytes (0 is done at once). */
  constructor(cp: Checkpoint, want: number) {
    this.#cp = cp;
    this.output = new Uint8Array(Math.max(0, want));
    if (this.output.length === 0) this.done = true;
  }

  #begin(firstByte: number): void {
    this.#started = true;
    this.#stream = new InflateStream(WBITS_RAW);
    this.#input = new WasmBuffer(PIECE + 8);
    this.#out = new WasmBuffer(this.output.length);
    const cp = this.#cp;
    if (cp.bits !== 0) this.#stream.prime(cp.bits, firstByte >> (8 - cp.bits));
    if (cp.out > 0) {
      this.#input.bytes().set(cp.window.subarray(0, WINDOW_SIZE));
      this.#stream.setDictionary(this.#input.ptr, WINDOW_SIZE);
    }
  }

  /** Feeds the next compressed bytes. */
  push(chunk: Uint8Array): void {
    if (this.done || chunk.length === 0) return;
    try {
      if (!this.#started) {
        this.#begin(chunk[0]);
        if (this.#cp.bits !== 0) chunk = chunk.subarray(1);
      }
      for (let off = 0; off < chunk.length && !this.done;) {
        if (this.#trailer > 0) {
          const n = Math.min(this.#trailer, chunk.length - off);
          this.#trailer -= n;
          off += n;
          if (this.#trailer === 0) this.#between = true;
          continue;
        }
        if (this.#between) {
          this.#stream!.reset(WBITS_GZIP);
          this.#between = false;
        }
        off += this.#inflate(chunk.subarray(off, Math.min(chunk.length, off + PIECE)));
      }
    } catch (e) {
      this.#fail((e as Error).message);
    }
    if (this.done) this.free();
  }

  /** Inflates one piece; returns the input bytes consumed. */
  #inflate(piece: Uint8Array): number {
    const s = this.#stream!;
    const out = this.#out!;
    this.#input!.bytes().set(piece);
    s.setInput(this.#input!.ptr, piece.length);
    for (;;) {
      const room = this.output.length - this.produced;
      s.setOutput(out.ptr, room);
      const ret = s.inflate(Z_NO_FLUSH);
      const n = room - s.availOut;
      if (n > 0) {
        this.output.set(out.subarray(0, n), this.produced);
        this.produced += n;
      }
      if (this.produced === this.output.length) {
        this.done = true;
        return piece.length;
      }
      if (ret === Z_STREAM_END) {
        // A raw stream leaves the trailer to us; later members parse their own.
        if (this.#raw) this.#trailer = 8;
        else this.#between = true;
        this.#raw = false;
        return piece.length - s.availIn;
      }
      if (ret < 0 && !(ret === Z_BUF_ERROR && n > 0)) {
        if (ret === Z_BUF_ERROR) return piece.length; // needs more input
        this.#fail(`gzip data is corrupt${s.message ? `: ${s.message}` : ""}`);
        return piece.length;
      }
      if (s.availIn === 0) return piece.length;
    }
  }

  #fail(message: string): void {
    this.error = message;
    this.done = true;
  }

  /** Frees the WASM memory (done automatically once `done`). */
  free(): void {
    this.#stream?.free();
    this.#input?.free();
    this.#out?.free();
    this.#stream = undefined;
    this.#input = undefined;
    this.#out = undefined;
  }
}
