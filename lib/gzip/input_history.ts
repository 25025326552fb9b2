/**
 * The compressed bytes an inflater may still need to read again (to try
 * bit offsets at a block end, or to inflate a span again from its
 * checkpoint): a window `[start, end)` of the stream, kept as views of the
 * caller's chunks when the caller promises not to change them, else as a
 * copy in one reused buffer.
 *
 * @module
 */

/**
 * Input bytes kept by stream offset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InputHistory } from "./input_history.ts";
 * const h = new InputHistory(true);
 * h.add(Uint8Array.of(1, 2, 3), 100, 100);
 * h.add(Uint8Array.of(4, 5), 103, 102);
 * assert.equal(h.start, 102);
 * assert.deepEqual([...h.bytes(102, 105)!], [3, 4, 5]);
 * assert.equal(h.byteAt(101), -1);
 * ```
 */
export class InputHistory {
  readonly #copy: boolean;
  /** Kept pieces in stream order, each with its offset. */
  #pieces: { at: number; bytes: Uint8Array }[] = [];
  /** Copy mode: the buffer the pieces are views of. */
  #buffer = new Uint8Array(0);
  #start = 0;
  #end = 0;

  /** `copy`: the caller may change its chunks after `add` (so they are copied). */
  constructor(copy: boolean) {
    this.#copy = copy;
  }

  /** First offset kept (`end` when nothing is). */
  get start(): number {
    return this.#start;
  }

  /** Offset just past the last byte kept. */
  get end(): number {
    return this.#end;
  }

  /**
   * Adds `bytes`, the stream bytes from offset `at` (which must be `end`,
   * or anything when nothing is kept), then forgets the bytes before
   * `from`.
   */
  add(bytes: Uint8Array, at: number, from: number): void {
    if (this.#pieces.length === 0) this.#start = at;
    else if (at !== this.#end) throw new Error(`input history: ${at} follows ${this.#end}`);
    this.#end = at + bytes.length;
    this.#forget(Math.min(from, this.#end));
    const skip = Math.max(0, this.#start - at);
    if (skip >= bytes.length) return;
    const piece = bytes.subarray(skip);
    if (!this.#copy) {
      this.#pieces.push({ at: at + skip, bytes: piece });
      return;
    }
    // One buffer, the kept bytes at its front: compacted, or grown, when full.
    const kept = this.#end - piece.length - this.#start;
    const first = this.#pieces[0];
    let pos = first === undefined ? 0 : first.bytes.byteOffset;
    if (pos + kept + piece.length > this.#buffer.length) {
      const size = Math.max(this.#buffer.length, (kept + piece.length) * 4, 64 << 10);
      const next = size > this.#buffer.length ? new Uint8Array(size) : this.#buffer;
      next.set(this.#buffer.subarray(pos, pos + kept));
      this.#buffer = next;
      pos = 0;
    }
    this.#buffer.set(piece, pos + kept);
    this.#pieces = [{
      at: this.#start,
      bytes: this.#buffer.subarray(pos, pos + kept + piece.length),
    }];
  }

  /** Forgets the bytes before `from`. */
  #forget(from: number): void {
    if (from <= this.#start) return;
    this.#start = from;
    while (this.#pieces.length > 0) {
      const p = this.#pieces[0];
      if (p.at + p.bytes.length <= from) this.#pieces.shift();
      else {
        if (p.at < from) this.#pieces[0] = { at: from, bytes: p.bytes.subarray(from - p.at) };
        break;
      }
    }
  }

  /** The byte at offset `at`, or -1 when it is not kept. */
  byteAt(at: number): number {
    if (at < this.#start || at >= this.#end) return -1;
    for (const p of this.#pieces) {
      if (at < p.at + p.bytes.length) return p.bytes[at - p.at];
    }
    return -1;
  }

  /** The bytes `[from, to)` (a view, or a copy when they span pieces), or undefined when not all kept. */
  bytes(from: number, to: number): Uint8Array | undefined {
    if (from < this.#start || to > this.#end) return undefined;
    const parts: Uint8Array[] = [];
    for (const p of this.#pieces) {
      const a = Math.max(from, p.at);
      const b = Math.min(to, p.at + p.bytes.length);
      if (a < b) parts.push(p.bytes.subarray(a - p.at, b - p.at));
    }
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(to - from);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}
