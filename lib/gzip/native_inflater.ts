/**
 * The checkpointing inflater of `inflater.ts`, with the inflate itself done
 * by Deno's native zlib (the engine behind `node:zlib`), about twice as fast
 * as WASM zlib on real layers and needing no permission.
 *
 * `node:zlib` has no public way to stop at deflate block boundaries or to
 * read zlib's `data_type`, so this file drives the handle under a
 * `node:zlib` `InflateRaw` stream directly (`writeSync(flush, in, inOff,
 * inLen, out, outOff, outLen)`, with what is left in `_writeState`), the
 * same way Node's own stream code does. {@link nativeInflateAvailable} says
 * whether that works here; callers fall back to WASM when it does not.
 *
 * How the checkpoints come out the same as upstream's (`soci-format.md`
 * §5.2), with less information than zlib gives in C:
 * * Far from a possible checkpoint (more than 1 MiB of output before the
 *   first offset where one may be) the stream is inflated without stops.
 * * From there on each call uses `Z_BLOCK`: zlib stops at the end of each
 *   deflate block. A stop with input and output space left is a block end;
 *   a stop that ran out of either may be one.
 * * Where a checkpoint may be, WASM zlib is resumed at the last block end
 *   before (bits unknown: each of the 8 offsets is tried, with the window
 *   there) over the same input: the offset that reproduces the native
 *   output up to a block end where the native inflate stopped tells which
 *   stop is the first block end and its `data_type` (bits, last block).
 * * When there is no such block end (a block of more than 1 MiB of output
 *   ends past that offset) or the offsets that fit disagree, WASM zlib
 *   inflates again from the last checkpoint (whose input is kept, up to
 *   64 MiB): exactly what the WASM inflater does, for a few spans at most.
 * * gzip headers and trailers are read here (raw inflate in between); a
 *   call that neither reads nor writes a byte means the deflate data ended.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as nodeZlib from "node:zlib";
import { BadInputError, UnsupportedError } from "../errors.ts";
import { type Checkpoint, WINDOW_SIZE } from "./checkpoint.ts";
import { InputHistory } from "./input_history.ts";
import {
  CheckpointInflater,
  type Crc32,
  gzipEndError,
  type InflaterOptions,
  type InflateSink,
  type InflateSummary,
} from "./inflater.ts";
import {
  InflateStream,
  WasmBuffer,
  WBITS_RAW,
  Z_BLOCK,
  Z_BUF_ERROR,
  Z_NO_FLUSH,
  Z_STREAM_END,
} from "./zlib.ts";

/** The part of a `node:zlib` handle used here. */
interface RawHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  reset(): void;
  close(): void;
  onerror: (message: string, errno: number) => void;
}

/** A raw inflate handle and the array where it leaves `[availOut, availIn]`. */
function openRaw(): { handle: RawHandle; state: Uint32Array } | undefined {
  try {
    const ctor = (nodeZlib as unknown as { InflateRaw?: new () => unknown }).InflateRaw;
    if (typeof ctor !== "function") return undefined;
    const stream = new ctor() as { _handle?: RawHandle; _writeState?: Uint32Array };
    const handle = stream._handle;
    const state = stream._writeState;
    if (
      handle === undefined || typeof handle.writeSync !== "function" ||
      typeof handle.reset !== "function" || !(state instanceof Uint32Array) || state.length < 2
    ) return undefined;
    return { handle, state };
  } catch {
    return undefined;
  }
}

let available: boolean | undefined;

/**
 * True when Deno's native zlib can be driven block by block here (checked
 * once: a two-block raw stream must stop between its blocks and report the
 * end of its data).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeInflateAvailable } from "./native_inflater.ts";
 * assert.equal(typeof nativeInflateAvailable(), "boolean");
 * ```
 */
export function nativeInflateAvailable(): boolean {
  if (available !== undefined) return available;
  available = false;
  const raw = openRaw();
  if (raw === undefined) return false;
  try {
    // Two stored blocks of 3 and 2 bytes, the second final: "abcde".
    const first = [0, 3, 0, 0xfc, 0xff, 0x61, 0x62, 0x63];
    const stream = Uint8Array.from([...first, 1, 2, 0, 0xfd, 0xff, 0x64, 0x65]);
    const out = new Uint8Array(16);
    let failed = false;
    raw.handle.onerror = () => failed = true;
    raw.handle.writeSync(Z_BLOCK, stream, 0, stream.length, out, 0, out.length);
    const one = !failed && raw.state[1] === 7 && raw.state[0] === 13;
    raw.handle.writeSync(Z_BLOCK, stream, 8, 7, out, 3, 13);
    const two = !failed && raw.state[1] === 0 && raw.state[0] === 11;
    raw.handle.writeSync(Z_BLOCK, stream, 15, 0, out, 5, 11);
    available = one && two && !failed &&
      new TextDecoder().decode(out.subarray(0, 5)) === "abcde";
  } catch {
    available = false;
  } finally {
    raw.handle.close();
  }
  return available;
}

const OUTPUT_SIZE = WINDOW_SIZE + (4 << 20);
/** Output space always left for a call that may stop at a checkpoint. */
const MIN_ROOM = 1 << 20;
/**
 * Input kept for a replay from the last checkpoint, at most: a span of
 * incompressible data and the lead, with room to spare. Spans larger than
 * that are inflated with a stop at every block end instead (no replay
 * needed then, but for blocks of more than 3 MiB of output); unbounded
 * spans need neither (a checkpoint can then only be at the start).
 */
const RETAIN_MAX = 64 << 20;
/**
 * Output before a possible checkpoint inflated with stops at every block
 * end, so that the block ending where a checkpoint goes usually starts at
 * a known stop.
 */
const LEAD = 1 << 20;

/** A stop of the native inflate that may become a checkpoint. */
interface Stop {
  in: number;
  out: number;
  /** Position of the stop in the output buffer. */
  pos: number;
  /** The bits there, when known before the next call. */
  bits?: number;
}

/** A block end found by WASM zlib: the stop, its bits, whether it ended its member (undefined: either fits). */
interface End {
  stop: Stop;
  bits: number;
  final: boolean | undefined;
  /** Its window, when the output buffer no longer has it. */
  window?: Uint8Array;
}

/** gzip header flags. */
const FHCRC = 2, FEXTRA = 4, FNAME = 8, FCOMMENT = 16;

/**
 * Length of the gzip header at `b[at..]`, -1 when more bytes are needed, or
 * zlib's words for what is wrong with it and how many bytes zlib has read
 * when it says so.
 */
function headerLength(b: Uint8Array, at: number): number | { error: string; read: number } {
  const n = b.length - at;
  if (n < 2) return -1;
  if (b[at] !== 0x1f || b[at + 1] !== 0x8b) return { error: "incorrect header check", read: 2 };
  if (n < 4) return -1;
  if (b[at + 2] !== 8) return { error: "unknown compression method", read: 4 };
  const flags = b[at + 3];
  if ((flags & 0xe0) !== 0) return { error: "unknown header flags set", read: 4 };
  let p = at + 10;
  if (p > b.length) return -1;
  if (flags & FEXTRA) {
    if (p + 2 > b.length) return -1;
    p += 2 + (b[p] | b[p + 1] << 8);
    if (p > b.length) return -1;
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (flags & flag) {
      const z = b.indexOf(0, p);
      if (z < 0) return -1;
      p = z + 1;
    }
  }
  if (flags & FHCRC) {
    if (p + 2 > b.length) return -1;
    const crc = nodeZlib.crc32(b.subarray(at, p)) & 0xffff;
    if (crc !== (b[p] | b[p + 1] << 8)) return { error: "header crc mismatch", read: p + 2 - at };
    p += 2;
  }
  return p - at;
}

/**
 * Same contract as `CheckpointInflater` (same checkpoints, same sink calls,
 * same errors), inflating natively. Construct it only when
 * {@link nativeInflateAvailable} is true.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NativeCheckpointInflater, nativeInflateAvailable } from "./native_inflater.ts";
 * import { gzipSync } from "node:zlib";
 * if (nativeInflateAvailable()) {
 *   const gz = gzipSync(new Uint8Array(100_000).fill(7));
 *   let n = 0;
 *   const inf = new NativeCheckpointInflater(4 << 20, { data: (b) => { n += b.length; } });
 *   inf.push(gz);
 *   const s = inf.end();
 *   assert.ok(n === 100_000 && s.checkpoints.length === 1 && s.checkpoints[0].in === 10);
 * }
 * ```
 */
export class NativeCheckpointInflater {
  readonly #spanSize: number;
  readonly #retainMax: number;
  /** Output before a possible checkpoint where every block end stops (see {@link LEAD}). */
  readonly #lead: number;
  readonly #sink: InflateSink;
  readonly #maxCheckpoints: number;
  readonly #check: "zlib" | "caller" | Crc32;
  readonly #handle: RawHandle;
  readonly #state: Uint32Array;
  #error: string | undefined;
  readonly #out = new Uint8Array(OUTPUT_SIZE);
  #pos = WINDOW_SIZE;
  #totalIn = 0;
  #totalOut = 0;
  #last = 0;
  #members = 0;
  #phase: "header" | "deflate" | "trailer" = "header";
  /** A gzip header or trailer cut by the end of a chunk (a copy), waiting for the rest. */
  #stash: Uint8Array | undefined;
  /** The input being inflated, from absolute offset `#base` on. */
  #view: Uint8Array = new Uint8Array(0);
  #base = 0;
  /** The input bytes before `#base` that probes and replays may still need. */
  readonly #history: InputHistory;
  /** Where WASM zlib can resume exactly: the last checkpoint or member start. */
  #anchor: Checkpoint | undefined;
  /** A block end with its bits, a checkpoint unless the next call shows it ended its member. */
  #pending: Stop | undefined;
  /** The last block end (bits unknown) or checkpoint: where a block starts. */
  #lastStop: Stop | undefined;
  /** Stops since then where the input or output ran out: block ends or not. */
  #maybes: Stop[] = [];
  #checkpoints: Checkpoint[] = [];
  #crc = 0;
  #memberOut = 0;
  #probe: Probe | undefined;
  #freed = false;

  /**
   * Same arguments as `CheckpointInflater`'s, and `keepsInput`: the caller
   * leaves each pushed chunk unchanged until {@link needFrom} is past it,
   * so the inflater keeps views of them instead of copies.
   */
  constructor(
    spanSize: number,
    sink: InflateSink,
    options: {
      check?: "zlib" | "caller" | Crc32;
      maxCheckpoints?: number;
      keepsInput?: boolean;
    } = {},
  ) {
    if (!Number.isSafeInteger(spanSize) || spanSize < 0) {
      throw new BadInputError("span size must be >= 0");
    }
    this.#spanSize = spanSize;
    const retain = spanSize + (16 << 20);
    this.#retainMax = spanSize >= 2 ** 40 ? 0 : Math.min(retain, RETAIN_MAX);
    this.#lead = retain <= RETAIN_MAX || spanSize >= 2 ** 40 ? LEAD : Infinity;
    this.#history = new InputHistory(!options.keepsInput);
    this.#sink = sink;
    this.#maxCheckpoints = options.maxCheckpoints ?? Infinity;
    this.#check = options.check ?? "zlib";
    const raw = openRaw();
    if (raw === undefined) throw new Error("native zlib is not available");
    this.#handle = raw.handle;
    this.#state = raw.state;
    this.#handle.onerror = (message) => this.#error = message;
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
   * have a larger `in`). Input pushed after it may still hold one: a stop's
   * bits may need the next block.
   */
  get settled(): number {
    const first = this.#pending ?? this.#maybes[0];
    return first !== undefined ? first.in - 1 : this.#totalIn;
  }

  /**
   * The first stream offset of the pushed bytes the inflater still reads
   * (with `keepsInput`, chunks wholly before it may be reused).
   */
  get needFrom(): number {
    return this.#history.end > this.#history.start ? this.#history.start : this.#base;
  }

  /** Feeds the next compressed bytes. Throws BadInputError on corrupt data. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    let view = chunk;
    if (this.#stash !== undefined) {
      view = new Uint8Array(this.#stash.length + chunk.length);
      view.set(this.#stash);
      view.set(chunk, this.#stash.length);
      this.#stash = undefined;
    }
    this.#run(view, false);
  }

  /** Inflates `view` (the input from offset `#base` on); `final` when no more comes. */
  #run(view: Uint8Array, final: boolean): void {
    this.#view = view;
    while (true) {
      const off = this.#totalIn - this.#base;
      const left = view.length - off;
      if (left === 0) return this.#keep(off);
      if (this.#phase === "header") {
        const len = headerLength(view, off);
        if (typeof len !== "number") throw this.#headerError(len.error, len.read);
        if (len < 0) {
          if (final) throw gzipEndError(this.#totalIn + left);
          return this.#keep(off);
        }
        this.#totalIn += len;
        this.#handle.reset();
        this.#crc = 0;
        this.#memberOut = 0;
        this.#phase = "deflate";
        if (this.#totalOut === 0 || this.#totalOut - this.#last > this.#spanSize) {
          this.#checkpoint(this.#totalIn, 0, this.#pos);
        }
        // A block start with bits 0: probes may start here, replays too (a
        // new member refers to no earlier bytes).
        this.#lastStop = { in: this.#totalIn, out: this.#totalOut, pos: this.#pos };
        const last = this.#checkpoints.at(-1);
        this.#anchor = last?.in === this.#totalIn ? last : {
          in: this.#totalIn,
          out: this.#totalOut,
          bits: 0,
          window: new Uint8Array(WINDOW_SIZE),
        };
        continue;
      }
      if (this.#phase === "trailer") {
        if (left < 8) {
          if (final) throw gzipEndError(this.#totalIn + left);
          return this.#keep(off);
        }
        this.#totalIn += 8;
        this.#trailer(view.subarray(off, off + 8));
        this.#phase = "header";
        continue;
      }
      this.#inflate(off, left);
    }
  }

  /** The input byte at absolute offset `at`, or -1 when it is gone. */
  #byteAt(at: number): number {
    if (at >= this.#base) return this.#view[at - this.#base];
    return this.#history.byteAt(at);
  }

  /** The input bytes `[from, to)` (a copy when they straddle the kept ones), if still at hand. */
  #bytes(from: number, to: number): Uint8Array | undefined {
    const base = this.#base;
    if (from >= base) return this.#view.subarray(from - base, to - base);
    const old = this.#history.bytes(from, Math.min(to, base));
    if (old === undefined || to <= base) return old;
    const out = new Uint8Array(to - from);
    out.set(old);
    out.set(this.#view.subarray(0, to - base), old.length);
    return out;
  }

  /**
   * Leaves `#view` at `off`: stashes its unused bytes (a gzip header or
   * trailer cut by the chunk end) and keeps the input a probe or a replay
   * may still need (from the byte before the anchor, up to a limit, or
   * else the last stop's).
   */
  #keep(off: number): void {
    const view = this.#view;
    const end = this.#base + off;
    let from = end - 1;
    for (const stop of [this.#lastStop, this.#pending, this.#maybes[0]]) {
      if (stop !== undefined) from = Math.min(from, stop.in - 1);
    }
    const anchor = this.#anchor;
    if (anchor !== undefined && end - anchor.in < this.#retainMax) {
      from = Math.min(from, anchor.in - 1);
    } else this.#anchor = undefined;
    this.#history.add(view.subarray(0, off), this.#base, Math.max(from, 0));
    this.#stash = off < view.length ? view.slice(off) : undefined;
    this.#base = end;
    this.#view = new Uint8Array(0);
  }

  /** One native inflate call on `#view[off..off+left]`. */
  #inflate(off: number, left: number): void {
    const view = this.#view;
    const untilStop = this.#last + this.#spanSize - this.#totalOut;
    const hunting = this.#totalOut === 0 || untilStop <= this.#lead ||
      this.#pending !== undefined ||
      this.#maybes.length > 0;
    if (OUTPUT_SIZE - this.#pos < MIN_ROOM) this.#wrap();
    let room = OUTPUT_SIZE - this.#pos;
    if (!hunting && untilStop - this.#lead < room) room = untilStop - this.#lead;
    this.#error = undefined;
    this.#handle.writeSync(
      hunting ? Z_BLOCK : Z_NO_FLUSH,
      view,
      off,
      left,
      this.#out,
      this.#pos,
      room,
    );
    if (this.#error !== undefined) {
      throw new BadInputError(`gzip data is corrupt at byte ${this.#totalIn}: ${this.#error}`);
    }
    const consumed = left - this.#state[1];
    const produced = room - this.#state[0];
    const pending = this.#pending;
    this.#pending = undefined;
    if (consumed === 0 && produced === 0) {
      // The member's deflate data ended at the last stop: the end of its
      // final block, whatever made the call before stop there.
      const last = this.#maybes.pop();
      if (last !== undefined) this.#settle(last, true);
      this.#lastStop = undefined;
      this.#phase = "trailer";
      return;
    }
    // A block end whose bits were known but not whether it was its member's last: it was not.
    if (pending !== undefined) this.#checkpoint(pending.in, pending.bits!, pending.pos);
    this.#data(this.#pos, produced);
    this.#totalIn += consumed;
    if (!hunting) {
      this.#lastStop = undefined;
      return;
    }
    const stop: Stop = { in: this.#totalIn, out: this.#totalOut, pos: this.#pos };
    // A stop with input and output space left is a block end. One where
    // either ran out may be one or not: the next stop that surely is one tells.
    if (this.#state[0] > 0 && this.#state[1] > 0) this.#settle(stop, false);
    else this.#maybes.push(stop);
  }

  /** True when a block end at output offset `out` would be a checkpoint (unless its member's last). */
  #qualifies(out: number): boolean {
    return out === 0 || out - this.#last > this.#spanSize;
  }

  /**
   * Places the checkpoints up to `stop`, a block end, and among the stops
   * since the last block start that may be block ends (`#maybes`).
   * `final`: `stop` ends its member's deflate data.
   */
  #settle(stop: Stop, final: boolean): void {
    while (true) {
      const maybes = this.#maybes;
      if (!maybes.some((m) => this.#qualifies(m.out)) && !this.#qualifies(stop.out)) {
        this.#maybes = [];
        this.#lastStop = stop;
        return;
      }
      const start = this.#lastStop;
      let end = start === undefined ? undefined : this.#firstEnd(start, stop);
      if (end === undefined) end = this.#replay(stop);
      if (end === undefined) {
        throw new UnsupportedError(
          `cannot place the checkpoint before compressed byte ${stop.in} exactly: a deflate ` +
            `block of more than 3 MiB of output ends there and span size ${this.#spanSize} is ` +
            "too large to inflate the span again; a span size of at most 48 MiB avoids this",
        );
      }
      const at = end.stop;
      this.#maybes = maybes.filter((m) => m.in > at.in);
      this.#lastStop = at;
      const isFinal = at === stop && final ? true : at !== stop ? false : end.final;
      if (this.#qualifies(at.out) && isFinal !== true) {
        if (isFinal === false) this.#checkpoint(at.in, end.bits, at.pos, end.window);
        else this.#pending = { ...at, bits: end.bits }; // the next call tells
      }
      if (at === stop) return;
    }
  }

  /**
   * The first block end after `start` (a block start, bits unknown) among
   * `#maybes` and `stop`, by resuming WASM zlib at `start` with each
   * possible bit offset: it must give exactly the bytes the native inflate
   * gave, up to a block end where the native inflate stopped. Undefined
   * when that cannot be told (the input or output before is gone, or the
   * offsets that fit disagree).
   */
  #firstEnd(start: Stop, stop: Stop): End | undefined {
    const prev = this.#byteAt(start.in - 1);
    const input = this.#bytes(start.in, stop.in);
    if (prev < 0 || input === undefined || start.pos < WINDOW_SIZE) return undefined;
    this.#probe ??= new Probe();
    const window = this.#out.subarray(start.pos - WINDOW_SIZE, start.pos);
    const expected = this.#out.subarray(start.pos, stop.pos);
    const stops = [...this.#maybes, stop];
    let answer: End | undefined;
    for (let bits = 0; bits < 8; bits++) {
      const r = this.#probe.run(bits, prev, window, input, expected);
      if (r === undefined || !r.end) continue;
      const at = stops.find((s) =>
        s.out - start.out === r.produced && s.in - start.in === r.consumed
      );
      if (at === undefined) continue;
      if (answer === undefined) answer = { stop: at, bits: r.bits, final: r.final };
      else if (answer.stop !== at || answer.bits !== r.bits) return undefined;
      else if (answer.final !== r.final) answer.final = undefined; // a stored block: either fits
    }
    return answer;
  }

  /**
   * The first block end up to `stop` that qualifies for a checkpoint (or
   * `stop` itself when none does), found by inflating with WASM zlib from
   * the anchor, exactly as the WASM inflater would; undefined when the
   * input since the anchor is gone.
   */
  #replay(stop: Stop): End | undefined {
    const a = this.#anchor;
    if (a === undefined) return undefined;
    const prev = a.bits === 0 ? 0 : this.#byteAt(a.in - 1);
    const input = this.#bytes(a.in, stop.in);
    if (prev < 0 || input === undefined) return undefined;
    this.#probe ??= new Probe();
    this.replays++;
    const found = this.#probe.replay(a, prev, input, stop.out - a.out, (out) => {
      return this.#qualifies(a.out + out);
    });
    if (found === undefined) return undefined;
    const at = a.out + found.out === stop.out ? stop : {
      in: a.in + found.consumed,
      out: a.out + found.out,
      pos: stop.pos - (stop.out - a.out - found.out),
    };
    return { stop: at, bits: found.bits, final: found.final, window: found.window };
  }

  /** Times a replay from the anchor was needed (for tests and measurements). */
  replays = 0;

  /** Hands `n` bytes at `pos` of the output buffer on. */
  #data(pos: number, n: number): void {
    if (n === 0) return;
    const bytes = this.#out.subarray(pos, pos + n);
    if (this.#check === "zlib") this.#crc = nodeZlib.crc32(bytes, this.#crc);
    else if (typeof this.#check === "function") this.#crc = this.#check(bytes, this.#crc);
    this.#memberOut = (this.#memberOut + n) % 0x100000000;
    this.#sink.data(bytes, this.#totalOut);
    this.#totalOut += n;
    this.#pos += n;
  }

  /**
   * Moves the last 32 KiB of output to the front of the buffer (from 32 KiB
   * before the last stop on, when that fits).
   */
  #wrap(): void {
    let from = this.#pos - WINDOW_SIZE;
    const stop = this.#lastStop;
    if (stop !== undefined) {
      if (this.#pos - stop.pos <= OUTPUT_SIZE - MIN_ROOM - WINDOW_SIZE) {
        from = stop.pos - WINDOW_SIZE;
      } else this.#lastStop = undefined;
    }
    this.#out.copyWithin(0, from, this.#pos);
    for (const s of new Set([this.#pending, this.#lastStop, ...this.#maybes])) {
      if (s !== undefined) s.pos -= from;
    }
    this.#pos -= from;
  }

  #checkpoint(at: number, bits: number, pos: number, window?: Uint8Array): void {
    if (this.#checkpoints.length >= this.#maxCheckpoints) {
      throw new BadInputError(
        `gzip stream needs more than ${this.#maxCheckpoints} checkpoints at span size ` +
          `${this.#spanSize} (MAX_SPANS); a larger --span-size makes fewer`,
      );
    }
    const out = this.#totalOut - (this.#pos - pos);
    const cp: Checkpoint = {
      in: at,
      out,
      bits,
      window: window ?? this.#out.slice(pos - WINDOW_SIZE, pos),
    };
    this.#last = out;
    this.#checkpoints.push(cp);
    this.#anchor = cp;
    this.#sink.checkpoint?.(cp);
  }

  /** Checks (or reports) a member's trailer. */
  #trailer(t: Uint8Array): void {
    const crc = (t[0] | t[1] << 8 | t[2] << 16 | t[3] << 24) >>> 0;
    const size = (t[4] | t[5] << 8 | t[6] << 16 | t[7] << 24) >>> 0;
    this.#members++;
    if (this.#check === "caller") {
      this.#sink.member?.({ in: this.#totalIn, out: this.#totalOut, crc, size });
      return;
    }
    if (crc !== this.#crc) {
      throw new BadInputError(
        `gzip data is corrupt at byte ${this.#totalIn - 4}: incorrect data check`,
      );
    }
    if (size !== this.#memberOut) {
      throw new BadInputError(
        `gzip data is corrupt at byte ${this.#totalIn}: incorrect length check`,
      );
    }
  }

  #headerError(msg: string, read: number): BadInputError {
    const where = `at byte ${this.#totalIn + read}`;
    if (this.#members > 0) {
      return new BadInputError(`gzip data is followed by data that is not gzip ${where}`);
    }
    if (msg === "header crc mismatch") {
      return new BadInputError(`gzip data is corrupt ${where}: ${msg}`);
    }
    return new BadInputError(`not gzip data: ${msg} ${where}`);
  }

  /**
   * Ends the stream. Throws BadInputError when the data stopped inside a
   * member. Frees the native and WASM memory.
   */
  end(): InflateSummary {
    try {
      const stash = this.#stash;
      const inputEnd = this.#base + (stash?.length ?? 0);
      this.#stash = undefined;
      if (stash !== undefined) this.#run(stash, true);
      if (this.#members === 0 || this.#phase !== "header") throw gzipEndError(inputEnd);
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

  /** Frees the native handle and the probe's WASM memory (idempotent). */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#handle.close();
    this.#probe?.free();
  }
}

/** Where a probe's WASM zlib stopped. */
interface ProbeResult {
  /** Bytes it produced and consumed. */
  produced: number;
  consumed: number;
  /** At a block end. */
  end: boolean;
  /** That block was the last of its member. */
  final: boolean;
  /** zlib's `data_type & 7` there. */
  bits: number;
}

/** A WASM raw inflate used to try bit offsets at a stop, and to replay from a checkpoint. */
class Probe {
  readonly #stream = new InflateStream(WBITS_RAW);
  #input = new WasmBuffer(64 << 10);
  #output = new WasmBuffer(256 << 10);
  readonly #dict = new WasmBuffer(WINDOW_SIZE);

  /** Resets the stream at a point with `bits` bits in `prev`, `window` before it, `input` after. */
  #start(bits: number, prev: number, window: Uint8Array | undefined, input: Uint8Array): void {
    if (this.#input.length < input.length + 8) {
      this.#input.free();
      this.#input = new WasmBuffer(input.length + 8);
    }
    const s = this.#stream;
    s.reset(WBITS_RAW);
    if (bits !== 0) s.prime(bits, prev >> (8 - bits));
    if (window !== undefined) {
      this.#dict.bytes().set(window.subarray(window.length - WINDOW_SIZE));
      s.setDictionary(this.#dict.ptr, WINDOW_SIZE);
    }
    this.#input.bytes().set(input);
    s.setInput(this.#input.ptr, input.length);
  }

  /**
   * Inflates `input` from bit offset `bits` (`prev` holding the bits before
   * it) with `window` as the history, up to its first block end or the end
   * of `expected`: undefined unless the bytes are a prefix of `expected`.
   */
  run(
    bits: number,
    prev: number,
    window: Uint8Array,
    input: Uint8Array,
    expected: Uint8Array,
  ): ProbeResult | undefined {
    this.#start(bits, prev, window, input);
    const room = expected.length + 1;
    if (this.#output.length < room) {
      this.#output.free();
      this.#output = new WasmBuffer(room);
    }
    const s = this.#stream;
    // A first short call rejects most wrong offsets early.
    let done = 0;
    for (const limit of [Math.min(room, 1024), room]) {
      if (limit <= done) continue;
      s.setOutput(this.#output.ptr + done, limit - done);
      const ret = s.inflate(Z_BLOCK);
      if (ret < 0 && ret !== Z_BUF_ERROR) return undefined;
      const n = limit - done - s.availOut;
      if (done + n > expected.length) return undefined;
      const got = this.#output.subarray(done, done + n);
      // (natively: a loop here would make this function hot, compiled again and again)
      if (Buffer.compare(got, expected.subarray(done, done + n)) !== 0) return undefined;
      done += n;
      if ((s.dataType & 128) !== 0 || ret === Z_STREAM_END || s.availOut > 0) break;
    }
    const dt = s.dataType;
    return {
      produced: done,
      consumed: input.length - s.availIn,
      end: (dt & 128) !== 0,
      final: (dt & 64) !== 0,
      bits: dt & 7,
    };
  }

  /**
   * Inflates `input` from checkpoint `cp` (`prev` the byte before it),
   * stopping at the first block end, not its member's last, whose output
   * offset (from `cp`) `qualifies`, or at `length` bytes: where, with the
   * bits and window there. Undefined when that is not a block end or the
   * data does not inflate.
   */
  replay(
    cp: Checkpoint,
    prev: number,
    input: Uint8Array,
    length: number,
    qualifies: (out: number) => boolean,
  ):
    | { out: number; consumed: number; bits: number; final: boolean; window: Uint8Array }
    | undefined {
    this.#start(cp.bits, prev, cp.out > 0 ? cp.window : undefined, input);
    const s = this.#stream;
    const size = this.#output.length;
    const out = this.#output;
    // The output buffer holds the last 32 KiB before `pos` (the window).
    out.bytes().set(cp.window.subarray(cp.window.length - WINDOW_SIZE));
    let pos = WINDOW_SIZE;
    let done = 0;
    while (true) {
      if (pos === size) {
        out.bytes().copyWithin(0, size - WINDOW_SIZE, size);
        pos = WINDOW_SIZE;
      }
      const room = Math.min(size - pos, length - done);
      s.setOutput(out.ptr + pos, room);
      const ret = s.inflate(Z_BLOCK);
      const n = room - s.availOut;
      done += n;
      pos += n;
      if (ret < 0 && ret !== Z_BUF_ERROR || ret === Z_STREAM_END) return undefined;
      const dt = s.dataType;
      if ((dt & 128) !== 0 && (done === length || ((dt & 64) === 0 && qualifies(done)))) {
        return {
          out: done,
          consumed: input.length - s.availIn,
          bits: dt & 7,
          final: (dt & 64) !== 0,
          window: out.subarray(pos - WINDOW_SIZE, pos).slice(),
        };
      }
      if (n === 0 && (s.availIn === 0 || room === 0)) return undefined;
    }
  }

  /** Frees the WASM memory. */
  free(): void {
    this.#stream.free();
    this.#input.free();
    this.#output.free();
    this.#dict.free();
  }
}

/** What both inflaters offer (see `CheckpointInflater`). */
export type Inflater = Pick<
  CheckpointInflater,
  "push" | "end" | "free" | "totalIn" | "totalOut" | "settled" | "needFrom"
>;

/** Options of {@link checkpointInflater}: those of `CheckpointInflater`, and the engine. */
export type EngineOptions = InflaterOptions & {
  /** `native` (the default where it works) or `wasm` (always there). */
  engine?: "native" | "wasm";
  /** See `NativeCheckpointInflater` (the WASM inflater copies what it reads, so needs nothing kept). */
  keepsInput?: boolean;
};

/**
 * A checkpointing inflater: the native one where Deno's zlib can be driven
 * block by block, else the WASM one. Both give the same bytes, checkpoints
 * and errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkpointInflater } from "./native_inflater.ts";
 * import { gzipSync } from "node:zlib";
 * const gz = gzipSync(new Uint8Array(3 << 20).map((_, i) => (i * i) >> 7));
 * const found = [];
 * for (const engine of ["native", "wasm"] as const) {
 *   const inf = checkpointInflater(1 << 20, { data: () => {} }, { engine });
 *   inf.push(gz);
 *   found.push(inf.end().checkpoints.map((c) => `${c.in}/${c.out}/${c.bits}`).join());
 * }
 * assert.equal(found[0], found[1]);
 * ```
 */
export function checkpointInflater(
  spanSize: number,
  sink: InflateSink,
  options: EngineOptions = {},
): Inflater {
  const { engine, keepsInput, ...rest } = options;
  if (engine !== "wasm" && nativeInflateAvailable()) {
    return new NativeCheckpointInflater(spanSize, sink, { ...rest, keepsInput });
  }
  return new CheckpointInflater(spanSize, sink, rest);
}
