/**
 * Streaming gzip inflate that records checkpoints exactly where upstream's
 * zlib pass places them (`soci-format.md` §5.2): at the end of each gzip
 * member header and at the end of every non-final deflate block, when more
 * than `spanSize` bytes were produced since the last checkpoint (or nothing
 * was produced yet).
 *
 * The gzip CRC-32 costs about a sixth of the inflate time in WASM. By default
 * zlib computes and checks it; given a native CRC-32 function (`node:zlib`
 * `crc32`, see `crc_check.ts`) the inflater computes it that way instead, and
 * with `check: "caller"` it only reports each member's trailer, for a
 * {@link GzipCheck} on another thread.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { type Checkpoint, WINDOW_SIZE } from "./checkpoint.ts";
import {
  InflateStream,
  WasmBuffer,
  WBITS_GZIP,
  Z_BLOCK,
  Z_BUF_ERROR,
  Z_DATA_ERROR,
  Z_MEM_ERROR,
  Z_NEED_DICT,
  Z_NO_FLUSH,
  Z_STREAM_END,
} from "./zlib.ts";

/** Receives what the inflater produces, synchronously, during `push`. */
export interface InflateSink {
  /**
   * New uncompressed bytes. `bytes` is a view into WASM memory, valid only
   * during the call; `out` is the stream offset of `bytes[0]`.
   */
  data(bytes: Uint8Array, out: number): void;
  /** A checkpoint was recorded (its window is a copy the sink may keep). */
  checkpoint?(cp: Checkpoint): void;
  /**
   * A gzip member ended (reported with `check: "caller"` only): `in` is the
   * compressed offset just past its trailer, `out` the uncompressed offset
   * where its data ends, `crc` and `size` (mod 2^32) what the trailer says.
   */
  member?(m: { in: number; out: number; crc: number; size: number }): void;
}

/**
 * The error for gzip data that stops inside a member after `at` bytes
 * (`gzip data is empty` when nothing came).
 */
export function gzipEndError(at: number): BadInputError {
  return new BadInputError(
    at === 0
      ? "gzip data is empty"
      : `gzip data is truncated: unexpected end of data at byte ${at}`,
  );
}

/** Where a gzip member ended and what its trailer says (see {@link InflateSink}). */
export type MemberEnd = Parameters<NonNullable<InflateSink["member"]>>[0];

/** A CRC-32 function: `crc32(bytes, crc)` continues `crc` over `bytes` (as `node:zlib`'s). */
export type Crc32 = (bytes: Uint8Array, crc: number) => number;

/** Options of {@link CheckpointInflater}. */
export type InflaterOptions = ConstructorParameters<typeof CheckpointInflater>[2];

/** What the inflater saw once the stream ended. */
export interface InflateSummary {
  /** Every checkpoint, in stream order. */
  checkpoints: Checkpoint[];
  /** Compressed bytes consumed (the whole stream). */
  totalIn: number;
  /** Uncompressed bytes produced. */
  totalOut: number;
  /** Number of gzip members. */
  members: number;
}

const INPUT_SIZE = 1 << 20;
const OUTPUT_SIZE = WINDOW_SIZE + (4 << 20);

/**
 * Inflates a gzip stream (one or more members) pushed in chunks, calling
 * the sink with every output byte and every checkpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CheckpointInflater } from "./inflater.ts";
 * import { gzipSync } from "node:zlib";
 * const gz = gzipSync(new Uint8Array(100_000).fill(7));
 * let n = 0;
 * const inf = new CheckpointInflater(4 << 20, { data: (b) => { n += b.length; } });
 * inf.push(gz);
 * const s = inf.end();
 * assert.ok(n === 100_000 && s.checkpoints.length === 1 && s.checkpoints[0].in === 10);
 * ```
 */
export class CheckpointInflater {
  readonly #spanSize: number;
  readonly #sink: InflateSink;
  readonly #stream: InflateStream;
  readonly #input: WasmBuffer;
  readonly #output: WasmBuffer;
  /** Write position in the output buffer; the 32 KiB before it are the window. */
  #pos = WINDOW_SIZE;
  #totalIn = 0;
  #totalOut = 0;
  #last = 0;
  #members = 0;
  /** True between members: the previous member ended and no byte of the next was read. */
  #between = false;
  #checkpoints: Checkpoint[] = [];
  readonly #maxCheckpoints: number;
  #freed = false;
  readonly #check: "zlib" | "caller" | Crc32;
  /** CRC-32 and length (mod 2^32) of the current member's output. */
  #crc = 0;
  #memberOut = 0;
  /** The last 8 input bytes before the current piece (a trailer may straddle pieces). */
  readonly #tail = new Uint8Array(8);

  /**
   * An inflater placing checkpoints every `spanSize` bytes of output,
   * reporting to `sink`. `options.check` says who checks each member's
   * CRC-32 and length: `zlib` (default, in WASM), a native CRC-32 function
   * `(bytes, crc) => crc` run here (see `crc_check.ts`), or `caller` (the
   * sink's `member` gets each trailer; nothing is checked here).
   * `options.maxCheckpoints` bounds the checkpoints (each holds a 32 KiB
   * window): one more is a `BadInputError` (a gzip bomb of tiny blocks).
   */
  constructor(
    spanSize: number,
    sink: InflateSink,
    options: {
      check?: "zlib" | "caller" | ((bytes: Uint8Array, crc: number) => number);
      maxCheckpoints?: number;
    } = {},
  ) {
    if (!Number.isSafeInteger(spanSize) || spanSize < 0) {
      throw new BadInputError("span size must be >= 0");
    }
    this.#spanSize = spanSize;
    this.#sink = sink;
    this.#check = options.check ?? "zlib";
    this.#maxCheckpoints = options.maxCheckpoints ?? Infinity;
    // Allocated after the checks above, so that a refused call leaks nothing.
    this.#stream = new InflateStream(WBITS_GZIP);
    if (this.#check !== "zlib") this.#stream.validate(false);
    // 8 bytes of slack: the patched inflate_fast may read a little past its input.
    this.#input = new WasmBuffer(INPUT_SIZE + 8);
    this.#output = new WasmBuffer(OUTPUT_SIZE);
    this.#output.bytes().fill(0, 0, WINDOW_SIZE);
  }

  /** Compressed bytes consumed so far. */
  get totalIn(): number {
    return this.#totalIn;
  }
  /** Uncompressed bytes produced so far. */
  get totalOut(): number {
    return this.#totalOut;
  }
  /**
   * Compressed offset up to which every checkpoint was reported (later ones
   * have a larger `in`): here all input pushed so far.
   */
  get settled(): number {
    return this.#totalIn;
  }
  /** The first stream offset of the pushed bytes still read: none is (all were copied). */
  get needFrom(): number {
    return this.#totalIn;
  }

  /** Feeds the next compressed bytes. Throws BadInputError on corrupt data. */
  push(chunk: Uint8Array): void {
    for (let off = 0; off < chunk.length; off += INPUT_SIZE) {
      const piece = chunk.subarray(off, Math.min(chunk.length, off + INPUT_SIZE));
      this.#input.bytes().set(piece);
      this.#run(piece.length);
      // Keep the last 8 bytes seen, for a trailer that straddles pieces.
      const t = this.#tail;
      if (piece.length >= 8) t.set(piece.subarray(piece.length - 8));
      else {
        t.copyWithin(0, piece.length);
        t.set(piece, 8 - piece.length);
      }
    }
  }

  #run(len: number): void {
    const s = this.#stream;
    const out = this.#output;
    const spanSize = this.#spanSize;
    s.setInput(this.#input.ptr, len);
    let availIn = len;
    while (availIn > 0) {
      if (this.#between) {
        // Another member follows: parse its header with a fresh state.
        s.reset(WBITS_GZIP);
        if (this.#check !== "zlib") s.validate(false);
        this.#between = false;
        this.#crc = 0;
        this.#memberOut = 0;
      }
      // Until the output is within one byte of where a checkpoint may first
      // be placed (more than spanSize bytes after the last), no block
      // boundary can qualify: inflate without stopping at them, but never
      // past that point. Long calls are faster (zlib refers back into its
      // own window less often and copies it less).
      let room = OUTPUT_SIZE - this.#pos;
      let flush = Z_BLOCK;
      const before = this.#last + spanSize - this.#totalOut; // bytes allowed without a stop
      if (this.#totalOut > 0 && before > 0) {
        flush = Z_NO_FLUSH;
        if (before < room) room = before;
      }
      s.setOutput(out.ptr + this.#pos, room);
      const ret = s.inflate(flush);
      const nowIn = s.availIn;
      const produced = room - s.availOut;
      this.#totalIn += availIn - nowIn;
      availIn = nowIn;
      if (produced > 0) {
        const bytes = out.subarray(this.#pos, this.#pos + produced);
        if (typeof this.#check === "function") this.#crc = this.#check(bytes, this.#crc);
        this.#memberOut = (this.#memberOut + produced) % 0x100000000;
        this.#sink.data(bytes, this.#totalOut);
        this.#totalOut += produced;
        this.#pos += produced;
      }
      if (ret === Z_STREAM_END) {
        this.#checkTrailer(len - nowIn);
        this.#between = true;
      } else if (ret < 0 && ret !== Z_BUF_ERROR || ret === Z_NEED_DICT) {
        throw this.#error(ret);
      } else {
        const dt = s.dataType;
        if (
          (dt & 128) !== 0 && (dt & 64) === 0 &&
          (this.#totalOut === 0 || this.#totalOut - this.#last > spanSize)
        ) {
          this.#checkpoint(dt & 7);
        }
      }
      if (this.#pos === OUTPUT_SIZE) {
        // Keep the last 32 KiB as the window for the next checkpoint.
        out.bytes().copyWithin(0, OUTPUT_SIZE - WINDOW_SIZE, OUTPUT_SIZE);
        this.#pos = WINDOW_SIZE;
      } else if (ret === Z_BUF_ERROR && produced === 0 && availIn > 0) {
        throw this.#error(ret);
      }
    }
  }

  /** Checks (or reports) the CRC-32 and length of the member whose trailer ends at `end` in the input piece. */
  #checkTrailer(end: number): void {
    if (this.#check === "zlib") {
      this.#members++;
      return;
    }
    const t = new Uint8Array(8);
    if (end >= 8) t.set(this.#input.subarray(end - 8, end));
    else {
      t.set(this.#tail.subarray(end), 0);
      t.set(this.#input.subarray(0, end), 8 - end);
    }
    const dv = new DataView(t.buffer);
    if (this.#check === "caller") {
      this.#members++;
      this.#sink.member?.({
        in: this.#totalIn,
        out: this.#totalOut,
        crc: dv.getUint32(0, true),
        size: dv.getUint32(4, true),
      });
      return;
    }
    if (dv.getUint32(0, true) !== this.#crc) {
      throw new BadInputError(
        `gzip data is corrupt at byte ${this.#totalIn - 4}: incorrect data check`,
      );
    }
    if (dv.getUint32(4, true) !== this.#memberOut) {
      throw new BadInputError(
        `gzip data is corrupt at byte ${this.#totalIn}: incorrect length check`,
      );
    }
    this.#members++;
  }

  #checkpoint(bits: number): void {
    if (this.#checkpoints.length >= this.#maxCheckpoints) {
      throw new BadInputError(
        `gzip stream needs more than ${this.#maxCheckpoints} checkpoints at span size ` +
          `${this.#spanSize} (MAX_SPANS); a larger --span-size makes fewer`,
      );
    }
    const cp: Checkpoint = {
      in: this.#totalIn,
      out: this.#totalOut,
      bits,
      window: this.#output.subarray(this.#pos - WINDOW_SIZE, this.#pos).slice(),
    };
    this.#last = this.#totalOut;
    this.#checkpoints.push(cp);
    this.#sink.checkpoint?.(cp);
  }

  #error(ret: number): BadInputError {
    const where = `at byte ${this.#totalIn}`;
    const msg = this.#stream.message;
    if (ret === Z_MEM_ERROR) return new BadInputError("out of memory while inflating gzip data");
    if (this.#members > 0 && this.#between === false && this.#isHeaderError(msg)) {
      return new BadInputError(`gzip data is followed by data that is not gzip ${where}`);
    }
    if (ret === Z_DATA_ERROR && this.#totalOut === 0 && this.#isHeaderError(msg)) {
      return new BadInputError(`not gzip data: ${msg} ${where}`);
    }
    return new BadInputError(`gzip data is corrupt ${where}${msg ? `: ${msg}` : ""}`);
  }

  #isHeaderError(msg: string): boolean {
    return msg === "incorrect header check" || msg === "unknown compression method" ||
      msg === "unknown header flags set";
  }

  /**
   * Ends the stream. Throws BadInputError when the data stopped inside a
   * member. Frees the WASM memory.
   */
  end(): InflateSummary {
    try {
      if (this.#members === 0 || !this.#between) throw gzipEndError(this.#totalIn);
      return {
        checkpoints: this.#checkpoints,
        totalIn: this.#totalIn,
        totalOut: this.#totalOut,
        members: this.#members,
      };
    } finally {
      this.free();
    }
  }

  /** Frees the WASM memory without checking the end of the stream. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#stream.free();
    this.#input.free();
    this.#output.free();
  }
}
