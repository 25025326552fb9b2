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
  const stream = new InflateStream(WBITS_RAW);
  // 8 bytes of slack: the patched inflate_fast may read a little past its input.
  const input = new WasmBuffer(IN_SIZE + 8);
  const output = new WasmBuffer(OUT_SIZE);
  let started = false;
  // Prime the bits of the byte before `in`, then install the window, as zran does.
  const begin = (byteBefore: number): void => {
    started = true;
    if (cp.bits !== 0) stream.prime(cp.bits, byteBefore >> (8 - cp.bits));
    if (cp.out > 0) {
      input.bytes().set(cp.window);
      stream.setDictionary(input.ptr, WINDOW_SIZE);
    }
  };
  try {
    let toSkip = skip;
    let remaining = length;
    let trailer = 0; // trailer bytes still to skip after the raw member ends
    let raw = true; // the first member is inflated raw; later ones with their header
    let betweenMembers = false;
    for await (let chunk of compressed) {
      if (!started && chunk.length > 0) {
        begin(chunk[0]);
        if (cp.bits !== 0) chunk = chunk.subarray(1);
      }
      for (let off = 0; off < chunk.length;) {
        if (trailer > 0) {
          const n = Math.min(trailer, chunk.length - off);
          trailer -= n;
          off += n;
          if (trailer === 0) betweenMembers = true;
          continue;
        }
        if (betweenMembers) {
          stream.reset(WBITS_GZIP);
          betweenMembers = false;
        }
        const piece = chunk.subarray(off, Math.min(chunk.length, off + IN_SIZE));
        input.bytes().set(piece);
        stream.setInput(input.ptr, piece.length);
        let availIn = piece.length;
        while (availIn > 0 && remaining > 0) {
          stream.setOutput(output.ptr, OUT_SIZE);
          const ret = stream.inflate(Z_NO_FLUSH);
          const produced = OUT_SIZE - stream.availOut;
          availIn = stream.availIn;
          if (produced > 0) {
            let view = output.subarray(0, produced);
            if (toSkip > 0) {
              const n = Math.min(toSkip, view.length);
              toSkip -= n;
              view = view.subarray(n);
            }
            if (view.length > 0) {
              const take = view.subarray(0, Math.min(view.length, remaining));
              remaining -= take.length;
              yield take.slice();
            }
          }
          if (ret === Z_STREAM_END) {
            // A raw stream leaves the gzip trailer to us; gzip mode reads it itself.
            if (raw) trailer = 8;
            else betweenMembers = true;
            raw = false;
            break;
          }
          if (ret < 0 && !(ret === Z_BUF_ERROR && produced > 0)) {
            throw new BadInputError(
              `cannot decompress span: gzip data is corrupt${
                stream.message ? `: ${stream.message}` : ""
              }`,
            );
          }
        }
        if (remaining === 0) return;
        off += piece.length - availIn;
      }
    }
    if (remaining > 0) {
      throw new BadInputError(
        `cannot decompress span: compressed data ended ${remaining} bytes short`,
      );
    }
  } finally {
    stream.free();
    input.free();
    output.free();
  }
}
