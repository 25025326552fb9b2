/**
 * A FlatBuffers writer that produces, byte for byte, what the official
 * builders (Go `flatbuffers.Builder`, npm `flatbuffers` `Builder`) produce
 * with their default settings (defaults omitted, no file identifier, no
 * size prefix), without their growing buffer: a message is written twice
 * by the same code, first by a measuring writer (no buffer: it only counts
 * bytes and remembers vtables) that gives the exact size, then by a writer
 * whose buffer has exactly that size. See {@link buildFlatBuffer}. The
 * finished message is that buffer: no copy, nothing allocated beyond it.
 *
 * The rules reproduced (the builders fill their buffer from its end, and
 * every position below is an "offset": bytes from the buffer's end):
 *
 * - `prep(align, n)`: zero padding so that after `n` more bytes the offset
 *   is a multiple of `align`; the largest `align` seen is the message's
 *   alignment (`minalign`), applied by `finish`.
 * - a string is padding, its bytes and a NUL aligned so that its uint32
 *   length lands on a multiple of 4; a byte vector the same without NUL;
 *   a vector of offsets is 4-aligned, its elements stored first to last.
 * - a table's fields are written in the order they are added, each aligned
 *   to its size, then the 4-byte soffset to its vtable; the vtable (uint16
 *   vtable size, table size, then per slot the field's position in the
 *   table or 0, trailing zero slots trimmed) is written below the table,
 *   unless an identical vtable was written before: then the table points
 *   to that one.
 *
 * Table layouts ({@link TableLayout}) depend only on which fields a table
 * has and on its start offset modulo 8, so a caller writing many tables of
 * few shapes computes each layout once ({@link tableLayout}) and places
 * tables with {@link FlatBufferWriter.placeTable}. The vtable
 * de-duplication is a Map keyed on the vtable's contents, looked up once
 * per layout and writer (a layout remembers where its vtable went). Such a
 * caller may also measure with the `measure…` twins of the writing calls,
 * which take only lengths, so that the code of its writing run is not
 * compiled for measuring (nor deoptimized when writing starts).
 *
 * The buffer is written through an `Int32Array` (every 4- and 8-byte field
 * is 4-aligned in a finished message), which needs a little-endian
 * platform, as every platform Deno runs on is.
 *
 * @module
 */

/** Whether typed arrays are little-endian here (checked before writing). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Where the fields of a table go, for one sequence of fields (slot and
 * byte size, in the order they are added) and one start offset modulo 8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tableLayout } from "./flatbuffer_writer.ts";
 * // slot 0: an offset (4 bytes), slot 1: an int64, starting on a multiple of 8
 * const l = tableLayout(3, [0, 1], [4, 8], 0);
 * assert.equal(l.size, 20); // field 0, padding, field 1, soffset
 * assert.deepEqual([...l.fieldAt], [16, 4, 0]);
 * assert.equal(l.vtable.length, 8); // 2 slots kept: slot 2 is trimmed
 * ```
 */
export class TableLayout {
  /** The start offset modulo 8 this layout was computed for. */
  readonly start: number;
  /** Bytes from the table's start (its soffset) to its end, padding included. */
  readonly size: number;
  /** Largest alignment the table needs (4 or 8). */
  readonly align: number;
  /** Per slot: the field's byte position from the table's start, 0 when absent. */
  readonly fieldAt: Int32Array;
  /** The vtable, as written (little-endian uint16s). */
  readonly vtable: Uint8Array;
  /** The vtable's contents as a string: the de-duplication key. */
  readonly key: string;
  /**
   * The id of the writer that placed a table of this layout last (0 for
   * none), and the offset of the vtable it used: a memo that spares that
   * writer a lookup of `key`.
   */
  placedBy = 0;
  /** See {@link placedBy}. */
  placedVtable = 0;

  /** A layout (see {@link tableLayout}, which computes one). */
  constructor(
    start: number,
    size: number,
    align: number,
    fieldAt: Int32Array,
    vtable: Uint8Array,
    key: string,
  ) {
    this.start = start;
    this.size = size;
    this.align = align;
    this.fieldAt = fieldAt;
    this.vtable = vtable;
    this.key = key;
  }
}

/**
 * The layout of a table of `numSlots` slots whose fields are added in the
 * order given (`slots[i]` of `sizes[i]` bytes: 1, 2, 4 or 8; each slot at
 * most once), for a table started at an offset congruent to `start`
 * modulo 8. Pure: the same arguments give the same layout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tableLayout } from "./flatbuffer_writer.ts";
 * const l = tableLayout(2, [0, 1], [4, 4], 4);
 * assert.equal(l.size, 12);
 * assert.deepEqual([...l.fieldAt], [8, 4]);
 * assert.deepEqual([...l.vtable], [8, 0, 12, 0, 8, 0, 4, 0]);
 * ```
 */
export function tableLayout(
  numSlots: number,
  slots: ArrayLike<number>,
  sizes: ArrayLike<number>,
  start: number,
): TableLayout {
  const base = start & 7;
  const ends = new Int32Array(numSlots);
  let o = base;
  let align = 4;
  for (let i = 0; i < slots.length; i++) {
    const size = sizes[i];
    o += -o & (size - 1);
    o += size;
    ends[slots[i]] = o;
    if (size > align) align = size;
  }
  o += -o & 3;
  o += 4; // the soffset
  let kept = numSlots;
  while (kept > 0 && ends[kept - 1] === 0) kept--;
  const words = new Array<number>(kept + 2);
  words[0] = (kept + 2) * 2;
  words[1] = o - base;
  const fieldAt = new Int32Array(numSlots);
  for (let i = 0; i < numSlots; i++) {
    if (ends[i] !== 0) fieldAt[i] = o - ends[i];
    if (i < kept) words[i + 2] = fieldAt[i];
  }
  if (words[1] > 0xffff) throw new RangeError(`flatbuffers table of ${words[1]} bytes`);
  const vtable = new Uint8Array(words.length * 2);
  for (let i = 0; i < words.length; i++) {
    vtable[2 * i] = words[i] & 0xff;
    vtable[2 * i + 1] = words[i] >>> 8;
  }
  return new TableLayout(base, o - base, align, fieldAt, vtable, String.fromCharCode(...words));
}

/** How many writers were made: the last writer's id. */
let writers = 0;

/** Field kinds of the generic table calls. */
const INT8 = 1, INT32 = 4, INT64 = 8, OFFSET = 0;

/**
 * Writes a FlatBuffers message back to front, either measuring (no
 * buffer: `new FlatBufferWriter()`) or into a buffer of exactly the
 * measured size (`new FlatBufferWriter(size)`). Both runs must make the
 * same calls; {@link buildFlatBuffer} does the two runs.
 *
 * Every method that creates something returns its offset (bytes from the
 * end of the buffer), which later calls take to refer to it, as the
 * builders' `Offset`s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FlatBufferWriter } from "./flatbuffer_writer.ts";
 * const write = (w: FlatBufferWriter) => {
 *   const name = w.string(new TextEncoder().encode("hi"));
 *   w.startTable(2);
 *   w.addOffset(0, name);
 *   w.addInt32(1, 7, 0);
 *   return w.finish(w.endTable());
 * };
 * const size = write(new FlatBufferWriter());
 * const w = new FlatBufferWriter(size);
 * assert.equal(write(w), size);
 * assert.equal(w.bytes.length, size);
 * ```
 */
export class FlatBufferWriter {
  /** The buffer (empty when measuring); complete after {@link finish}. */
  readonly bytes: Uint8Array;
  /** True for the measuring run: nothing is written. */
  readonly measuring: boolean;
  /** The buffer as int32s: every 4- and 8-byte field is 4-aligned. */
  readonly #i32: Int32Array;
  readonly #size: number;
  #used = 0;
  #minAlign = 1;
  readonly #vtables = new Map<string, number>();
  /** This writer's id for {@link TableLayout.placedBy} (ids are never reused). */
  readonly #id = ++writers;
  /** The vtable offset of the table placed last. */
  #tableVtable = 0;
  #numSlots = -1;
  readonly #slots: number[] = [];
  readonly #sizes: number[] = [];
  readonly #values: number[] = [];

  /** With `tail`, the message may be shorter than the buffer: it is its last bytes. */
  readonly #tail: boolean;

  /**
   * A measuring writer without `size`, else a writer into `size` bytes:
   * exactly, or with `tail` at most (then the message is the buffer's last
   * {@link finish} bytes, {@link message}; a larger one overflows it, see
   * {@link overflowed}).
   */
  constructor(size?: number, tail = false) {
    this.measuring = size === undefined;
    this.#size = size ?? 0;
    this.#tail = tail;
    if (this.#size % 4 !== 0) throw new RangeError(`flatbuffers message of ${size} bytes`);
    if (!this.measuring && !LITTLE_ENDIAN) {
      throw new Error("flatbuffers writer: big-endian platform");
    }
    this.bytes = new Uint8Array(this.#size);
    this.#i32 = new Int32Array(this.bytes.buffer);
  }

  /** The message once finished: the buffer, or with `tail` its last bytes. */
  get message(): Uint8Array {
    return this.#tail ? this.bytes.subarray(this.#size - this.#used) : this.bytes;
  }

  /** With `tail`: the message outgrew the buffer (what was written is garbage). */
  get overflowed(): boolean {
    return this.#used > this.#size;
  }

  /** Bytes written so far: the offset of what was written last. */
  get offset(): number {
    return this.#used;
  }

  /** The buffer index of the byte at `offset` (its lowest byte). */
  address(offset: number): number {
    return this.#size - offset;
  }

  /**
   * Pads with zeros so that after `additional` more bytes the offset is a
   * multiple of `align` (1, 2, 4 or 8); the builders' `prep`.
   */
  prep(align: number, additional: number): void {
    if (align > this.#minAlign) this.#minAlign = align;
    this.#used += -(this.#used + additional) & (align - 1);
  }

  /** A string of raw bytes (length, bytes, NUL); returns its offset. */
  string(bytes: Uint8Array): number {
    const n = bytes.length;
    const end = this.measureString(n);
    if (!this.measuring) {
      const at = this.#size - end;
      this.#i32[at >> 2] = n;
      copy(this.bytes, at + 4, bytes, n);
    }
    return end;
  }

  /**
   * Counts a string of `length` bytes without writing it (what
   * {@link string} does when measuring); returns its offset. For hot loops
   * whose measuring run knows only lengths.
   */
  measureString(length: number): number {
    let end = this.#used + 1 + length;
    end += -end & 3;
    end += 4;
    if (this.#minAlign < 4) this.#minAlign = 4;
    this.#used = end;
    return end;
  }

  /**
   * A string of JS text, UTF-8 encoded as `TextEncoder` does (ASCII text
   * is written as it is, without encoding); returns its offset.
   */
  text(text: string): number {
    const n = asciiLength(text);
    if (n < 0) return this.string(encoder.encode(text));
    const end = this.measureString(n);
    if (!this.measuring) {
      const at = this.#size - end;
      this.#i32[at >> 2] = n;
      const bytes = this.bytes;
      for (let i = 0, p = at + 4; i < n; i++) bytes[p + i] = text.charCodeAt(i);
    }
    return end;
  }

  /** Counts a string of JS text without writing it (what {@link text} does when measuring). */
  measureText(text: string): number {
    const n = asciiLength(text);
    return this.measureString(n >= 0 ? n : encoder.encode(text).length);
  }

  /** A `[ubyte]` vector; returns its offset. */
  byteVector(bytes: Uint8Array): number {
    return this.byteVectorOf(bytes.length, (into) => copy(into, 0, bytes, bytes.length));
  }

  /**
   * A `[ubyte]` vector of `n` bytes that `fill` writes in place (into a
   * zero-filled view of the buffer; not called when measuring); returns
   * its offset.
   */
  byteVectorOf(n: number, fill: (into: Uint8Array) => void): number {
    let end = this.#used + n;
    end += -end & 3;
    end += 4;
    if (this.#minAlign < 4) this.#minAlign = 4;
    this.#used = end;
    if (!this.measuring) {
      const at = this.#size - end;
      this.#i32[at >> 2] = n;
      fill(this.bytes.subarray(at + 4, at + 4 + n));
    }
    return end;
  }

  /**
   * A vector of the first `count` offsets of `targets` (element `i` refers
   * to `targets[i]`); returns its offset. The builders' `startVector(4,
   * count, 4)`, `addOffset` from the last to the first, `endVector`.
   */
  offsetVector(targets: ArrayLike<number>, count: number = targets.length): number {
    const end = this.measureOffsetVector(count);
    if (!this.measuring) {
      const i32 = this.#i32;
      const at = (this.#size - end) >> 2;
      i32[at] = count;
      for (let i = 0, elem = end - 4; i < count; i++, elem -= 4) {
        i32[at + 1 + i] = elem - targets[i];
      }
    }
    return end;
  }

  /** Counts a vector of `count` offsets without writing it; returns its offset. */
  measureOffsetVector(count: number): number {
    if (this.#minAlign < 4) this.#minAlign = 4;
    this.#used += -this.#used & 3;
    const end = this.#used + 4 * count + 4;
    this.#used = end;
    return end;
  }

  /**
   * Places a table of a precomputed layout at the current offset (which
   * must be congruent to `layout.start` modulo 8) and writes its soffset
   * and, unless an identical vtable was written before, its vtable. The
   * caller writes the fields (when not measuring) at
   * `address(table) + layout.fieldAt[slot]` with the `put…` methods.
   * Returns the table's offset.
   */
  placeTable(layout: TableLayout): number {
    const table = this.measureTable(layout);
    if (!this.measuring) {
      const soffset = this.#tableVtable - table;
      if (soffset > 0) this.bytes.set(layout.vtable, this.#size - this.#tableVtable);
      this.#i32[(this.#size - table) >> 2] = soffset;
    }
    return table;
  }

  /**
   * Counts a table of a precomputed layout without writing anything (what
   * {@link placeTable} does when measuring, vtable de-duplication
   * included); returns its offset.
   */
  measureTable(layout: TableLayout): number {
    if ((this.#used & 7) !== layout.start) {
      throw new Error(`table layout for start ${layout.start} used at offset ${this.#used}`);
    }
    if (layout.align > this.#minAlign) this.#minAlign = layout.align;
    const table = this.#used + layout.size;
    let vtable: number;
    if (layout.placedBy === this.#id) {
      vtable = layout.placedVtable;
    } else {
      vtable = this.#vtables.get(layout.key) ?? 0;
      if (vtable === 0) {
        vtable = table + layout.vtable.length;
        this.#vtables.set(layout.key, vtable);
      }
      layout.placedBy = this.#id;
      layout.placedVtable = vtable;
    }
    // A vtable below the table is this table's own (a new one).
    this.#used = vtable > table ? vtable : table;
    this.#tableVtable = vtable;
    return table;
  }

  /** Writes an int8 at buffer index `at`. */
  putInt8(at: number, value: number): void {
    this.bytes[at] = value;
  }

  /** Writes an int32 (or uint32) at buffer index `at` (a multiple of 4). */
  putInt32(at: number, value: number): void {
    this.#i32[at >> 2] = value;
  }

  /**
   * Writes an integer as int64 at buffer index `at` (a multiple of 4),
   * without BigInt: any integral number is reduced modulo 2^64 as
   * `BigInt.asIntN(64, …)` does.
   */
  putInt64(at: number, value: number): void {
    this.#i32[at >> 2] = value >>> 0;
    this.#i32[(at >> 2) + 1] = Math.floor(value / 4294967296);
  }

  /** Writes at buffer index `at` (a multiple of 4) the uoffset that refers to `target`. */
  putOffset(at: number, target: number): void {
    this.#i32[at >> 2] = this.#size - at - target;
  }

  /** Starts a table of `numSlots` slots (the builders' `startObject`). */
  startTable(numSlots: number): void {
    if (this.#numSlots >= 0) throw new Error("flatbuffers table started inside a table");
    this.#numSlots = numSlots;
    this.#slots.length = 0;
    this.#sizes.length = 0;
    this.#values.length = 0;
  }

  #add(slot: number, size: number, value: number): void {
    if (this.#numSlots < 0) throw new Error("flatbuffers field added outside a table");
    this.#slots.push(slot);
    this.#sizes.push(size);
    this.#values.push(value);
  }

  /** Adds an int8 field unless it equals `defaultValue` (`addFieldInt8`). */
  addInt8(slot: number, value: number, defaultValue: number): void {
    if (value !== defaultValue) this.#add(slot, INT8, value);
  }

  /** Adds an int32 field unless it equals `defaultValue` (`addFieldInt32`). */
  addInt32(slot: number, value: number, defaultValue: number): void {
    if (value !== defaultValue) this.#add(slot, INT32, value);
  }

  /**
   * Adds an int64 field unless it is 0 (`addFieldInt64` with default 0);
   * `value` must be an integral number (a RangeError otherwise).
   */
  addInt64(slot: number, value: number): void {
    if (value === 0) return;
    if (!Number.isInteger(value)) throw new RangeError(`int64 field value ${value}`);
    this.#add(slot, INT64, value);
  }

  /** Adds an offset field referring to `target` (`addFieldOffset`). */
  addOffset(slot: number, target: number): void {
    this.#add(slot, OFFSET, target);
  }

  /** Ends the table (the builders' `endObject`); returns its offset. */
  endTable(): number {
    const numSlots = this.#numSlots;
    if (numSlots < 0) throw new Error("flatbuffers table ended without being started");
    this.#numSlots = -1;
    const slots = this.#slots, kinds = this.#sizes, values = this.#values;
    const sizes = kinds.map((k) => k === OFFSET ? 4 : k);
    const layout = tableLayout(numSlots, slots, sizes, this.#used);
    const table = this.placeTable(layout);
    if (!this.measuring) {
      const at = this.address(table);
      for (let i = 0; i < slots.length; i++) {
        const field = at + layout.fieldAt[slots[i]];
        const value = values[i];
        switch (kinds[i]) {
          case OFFSET:
            this.putOffset(field, value);
            break;
          case INT8:
            this.putInt8(field, value);
            break;
          case INT32:
            this.putInt32(field, value);
            break;
          default:
            this.putInt64(field, value);
        }
      }
    }
    return table;
  }

  /**
   * Aligns the message and writes the root uoffset to `root` (the
   * builders' `finish`); returns the message size. A writing run checks
   * that it filled its buffer exactly.
   */
  finish(root: number): number {
    this.prep(this.#minAlign, 4);
    this.prep(4, 0);
    const end = this.#used + 4;
    this.#used = end;
    if (!this.measuring) {
      if (this.#tail ? end > this.#size : end !== this.#size) {
        throw new Error(`flatbuffers message of ${end} bytes written into ${this.#size}`);
      }
      this.#i32[(this.#size - end) >> 2] = end - root;
    }
    return end;
  }
}

const encoder = new TextEncoder();

/** The length of `text` when it is all ASCII (then it is its UTF-8 too), else -1. */
function asciiLength(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return -1;
  return text.length;
}

/** Copies `n` bytes of `src` to `dst` at `at` (a loop for short runs, `set` beyond). */
function copy(dst: Uint8Array, at: number, src: Uint8Array, n: number): void {
  if (n > 16) dst.set(src, at);
  else for (let i = 0; i < n; i++) dst[at + i] = src[i];
}

/**
 * Builds a message with `write` run twice (measuring, then writing into a
 * buffer of the exact size; `write` must make the same calls both times
 * and return the root table's offset). `checkSize` sees the size before
 * the buffer is allocated and may throw to refuse it. With `capacity`, a
 * size the message is known not to exceed, `write` runs once, into a
 * buffer of that size, and the message is a view of its last bytes (the
 * pages before are never touched); should it not fit after all, the two
 * runs follow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildFlatBuffer } from "./flatbuffer_writer.ts";
 * const write = (w: import("./flatbuffer_writer.ts").FlatBufferWriter) => {
 *   w.startTable(1);
 *   w.addInt64(0, -2);
 *   return w.endTable();
 * };
 * const bytes = buildFlatBuffer(write);
 * assert.deepEqual([...bytes.subarray(0, 4)], [12, 0, 0, 0]);
 * assert.equal(bytes.length, 24);
 * // Written once, as the last bytes of a 64-byte buffer; a capacity too small changes nothing.
 * const tail = buildFlatBuffer(write, undefined, 64);
 * assert.deepEqual(tail, bytes);
 * assert.ok(tail.byteOffset === 40 && tail.buffer.byteLength === 64);
 * assert.deepEqual(buildFlatBuffer(write, undefined, 16), bytes);
 * ```
 */
export function buildFlatBuffer(
  write: (w: FlatBufferWriter) => number,
  checkSize?: (size: number) => void,
  capacity?: number,
): Uint8Array {
  if (capacity !== undefined) {
    const w = new FlatBufferWriter(capacity + (-capacity & 7), true);
    try {
      w.finish(write(w));
    } catch (e) {
      // (writes past the buffer's start fail or are dropped: it is thrown away)
      if (!w.overflowed) throw e;
    }
    if (!w.overflowed) {
      const message = w.message;
      checkSize?.(message.length);
      return message;
    }
  }
  const measure = new FlatBufferWriter();
  const size = measure.finish(write(measure));
  checkSize?.(size);
  const w = new FlatBufferWriter(size);
  w.finish(write(w));
  return w.bytes;
}
