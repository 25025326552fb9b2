/**
 * Resuming inflate at a checkpoint (`soci-format.md` §5.5): raw inflate,
 * primed with the bits of the byte before `in`, with the checkpoint's
 * window as preset dictionary; across member ends the 8-byte trailer is
 * skipped and the next member's header parsed.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { type Checkpoint, WINDOW_SIZE } from "./checkpoint.ts";
import {
  InflateStream,
  WasmBuffer,
  WBITS_GZIP,
  WBITS_RAW,
  Z_BUF_ERROR,
  Z_NO_FLUSH,
  Z_STREAM_END,
} from "./zlib.ts";

const OUT_SIZE = 1 << 20;
const IN_SIZE = 1 << 20;

/**
 * Inflates from checkpoint `cp` and yields uncompressed bytes
 * `[cp.out + skip, cp.out + skip + length)`, in chunks.
 *
 * `compressed` yields the layer bytes from `cp.in - 1` when `cp.bits` is
 * not 0, else from `cp.in`, for as far as the wanted bytes need (more is
 * fine). Throws BadInputError when the data is corrupt or ends early.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inflateFromCheckpoint } from "./resume.ts";
 * import { CheckpointInflater } from "./inflater.ts";
 * import { gzipSync } from "node:zlib";
 * const text = new TextEncoder().encode("a".repeat(5000) + "hello" + "b".repeat(5000));
 * const gz = gzipSync(text);
 * const inf = new CheckpointInflater(0, { data: () => {} });
 * inf.push(gz);
 * const cp = inf.end().checkpoints[0];
 * const parts = [];
 * for await (const p of inflateFromCheckpoint(cp, [gz.subarray(cp.in)], 5000, 5)) parts.push(p);
 * assert.ok(new TextDecoder().decode(parts[0]) === "hello");
 * ```
 */
export async function* inflateFromCheckpoint(
  cp: Checkpoint,
  compressed: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  skip: number,
  length: number,
): AsyncGenerator<Uint8Array> {
  if (length <= 0) return;
  const end = skip + length;
  const resumer = new CheckpointResumer(cp);
  try {
    for await (const chunk of compressed) {
      resumer.feed(chunk);
      // At most OUT_SIZE bytes of output are held at a time.
      for (let more = true; more && resumer.produced < end;) {
        const pieces: Uint8Array[] = [];
        more = resumer.run(Math.min(end, resumer.produced + OUT_SIZE), (out) => {
          const at = resumer.produced - out.length;
          if (at + out.length > skip) pieces.push(out.slice(Math.max(0, skip - at)));
        });
        yield* pieces;
      }
      if (resumer.produced >= end) return;
    }
    throw new BadInputError(
      `cannot decompress span: compressed data ended ${
        Math.min(length, end - resumer.produced)
      } bytes short`,
    );
  } finally {
    resumer.free();
  }
}

/**
 * Inflating from a checkpoint, pushed: compressed chunks are queued with
 * {@link CheckpointResumer.feed} (as {@link inflateFromCheckpoint} takes
 * them: from `cp.in - 1` when `cp.bits` is not 0, else from `cp.in`), and
 * {@link CheckpointResumer.run} inflates them until a given amount of output
 * was produced, handing every piece to a sink as a view into WASM memory
 * (valid during the call only). Nothing is copied but the compressed bytes
 * into WASM memory. Member ends are crossed as `inflateFromCheckpoint`
 * crosses them. `window` replaces the checkpoint's window (to see what the
 * output owes to it). Call {@link CheckpointResumer.free} when done.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CheckpointResumer } from "./resume.ts";
 * import { CheckpointInflater } from "./inflater.ts";
 * import { gzipSync } from "node:zlib";
 * const text = new TextEncoder().encode("a".repeat(5000) + "hello" + "b".repeat(5000));
 * const gz = gzipSync(text);
 * const inf = new CheckpointInflater(0, { data: () => {} });
 * inf.push(gz);
 * const cp = inf.end().checkpoints[0];
 * const r = new CheckpointResumer(cp);
 * r.feed(gz.subarray(cp.in));
 * let got = "";
 * assert.ok(r.run(5005, (out) => { got = new TextDecoder().decode(out.subarray(out.length - 5)); }));
 * assert.equal(got, "hello");
 * assert.equal(r.produced, 5005);
 * r.free();
 * ```
 */
export class CheckpointResumer {
  readonly #cp: Checkpoint;
  readonly #window: Uint8Array;
  readonly #stream: InflateStream;
  readonly #input: WasmBuffer;
  readonly #output: WasmBuffer;
  readonly #queue: Uint8Array[] = [];
  /** Read position in `#queue[0]`. */
  #queuePos = 0;
  /** Bytes loaded into the input buffer by the last load. */
  #loaded = 0;
  #started = false;
  /** Trailer bytes still to skip after the raw member ended. */
  #trailer = 0;
  /** The first member is inflated raw; later ones with their header. */
  #raw = true;
  #between = false;
  #freed = false;
  /** Output bytes produced so far (from `cp.out`). */
  produced = 0;

  /** A resumer at `cp`, inflating with `window` (default the checkpoint's own). */
  constructor(cp: Checkpoint, window: Uint8Array = cp.window) {
    this.#cp = cp;
    this.#window = window;
    this.#stream = new InflateStream(WBITS_RAW);
    // 8 bytes of slack: the patched inflate_fast may read a little past its input.
    this.#input = new WasmBuffer(IN_SIZE + 8);
    this.#output = new WasmBuffer(OUT_SIZE);
  }

  /** Queues compressed bytes (kept by reference until inflated). */
  feed(chunk: Uint8Array): void {
    if (chunk.length > 0) this.#queue.push(chunk);
  }

  /** True when every byte fed was inflated (or skipped). */
  get needsInput(): boolean {
    return this.#queue.length === 0 && (!this.#started || this.#stream.availIn === 0);
  }

  /** Moves the next queued bytes into the input buffer; false when none are queued. */
  #load(): boolean {
    const s = this.#stream;
    while (this.#queue.length > 0) {
      const chunk = this.#queue[0];
      let from = this.#queuePos;
      if (!this.#started) {
        this.#started = true;
        const cp = this.#cp;
        // Prime the bits of the byte before `in`, then install the window, as zran does.
        if (cp.bits !== 0) {
          s.prime(cp.bits, chunk[from] >> (8 - cp.bits));
          from++;
        }
        if (cp.out > 0) {
          this.#input.bytes().set(this.#window.subarray(this.#window.length - WINDOW_SIZE));
          s.setDictionary(this.#input.ptr, WINDOW_SIZE);
        }
      }
      const n = Math.min(IN_SIZE, chunk.length - from);
      if (n > 0) this.#input.bytes().set(chunk.subarray(from, from + n));
      if (from + n >= chunk.length) {
        this.#queue.shift();
        this.#queuePos = 0;
      } else this.#queuePos = from + n;
      if (n === 0) continue;
      s.setInput(this.#input.ptr, n);
      this.#loaded = n;
      return true;
    }
    return false;
  }

  /**
   * Inflates queued bytes until `until` bytes of output were produced in
   * all (true) or the queued bytes ran out (false: feed more and call
   * again). Throws BadInputError on corrupt data.
   */
  run(until: number, sink: (out: Uint8Array) => void): boolean {
    const s = this.#stream;
    const out = this.#output;
    while (this.produced < until) {
      if (!this.#started || s.availIn === 0) {
        if (!this.#load()) return false;
        continue;
      }
      if (this.#trailer > 0) {
        const n = Math.min(this.#trailer, s.availIn);
        const at = this.#input.ptr + this.#loaded - s.availIn + n;
        s.setInput(at, s.availIn - n);
        this.#trailer -= n;
        if (this.#trailer === 0) this.#between = true;
        continue;
      }
      if (this.#between) {
        const left = s.availIn;
        const at = this.#input.ptr + this.#loaded - left;
        s.reset(WBITS_GZIP);
        s.setInput(at, left);
        this.#between = false;
      }
      const room = Math.min(OUT_SIZE, until - this.produced);
      s.setOutput(out.ptr, room);
      const ret = s.inflate(Z_NO_FLUSH);
      const n = room - s.availOut;
      if (n > 0) {
        this.produced += n;
        sink(out.subarray(0, n));
      }
      if (ret === Z_STREAM_END) {
        // A raw stream leaves the gzip trailer to us; gzip mode reads it itself.
        if (this.#raw) this.#trailer = 8;
        else this.#between = true;
        this.#raw = false;
        continue;
      }
      if (ret < 0 && !(ret === Z_BUF_ERROR && (n > 0 || s.availIn === 0))) {
        throw new BadInputError(
          `cannot decompress span: gzip data is corrupt${s.message ? `: ${s.message}` : ""}`,
        );
      }
    }
    return true;
  }

  /** Frees the WASM memory (idempotent). */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#stream.free();
    this.#input.free();
    this.#output.free();
  }
}
