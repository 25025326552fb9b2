/**
 * The decoding half of the one pass over a layer (see `scan.ts`): inflate
 * (gzip, natively where it can) and read the tar.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Checkpoint } from "../gzip/checkpoint.ts";
import { nativeCrc32 } from "../gzip/crc_check.ts";
import { checkpointInflater, type Inflater } from "../gzip/native_inflater.ts";
import type { TarEntry } from "../tar/entry.ts";
import { TarReader } from "../tar/reader.ts";
import { MAX_SPANS } from "./limits.ts";
import type { LayerCompression, SpanStart } from "./scan.ts";

/**
 * The decoding half of the pass: inflate (gzip) and read the tar. Reports,
 * per chunk, the span starts (checkpoints) found in it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { LayerDecoder } from "./layer_decoder.ts";
 * const d = new LayerDecoder("gzip", 1 << 22);
 * assert.deepEqual(d.push(gzipSync(new Uint8Array(1024))), [{ in: 10, bits: 0 }]);
 * assert.equal(d.end().uncompressedSize, 1024);
 * ```
 */
export class LayerDecoder {
  /** The layer's compression. */
  readonly compression: LayerCompression;
  #entries: TarEntry[] = [];
  readonly #tar = new TarReader((e) => this.#entries.push(e));
  readonly #inflater: Inflater | undefined;
  #found: SpanStart[] = [];
  #tarError: unknown;

  /**
   * A decoder for a layer in `compression`, placing gzip checkpoints every
   * `spanSize`. `keepsInput`: the caller leaves each pushed chunk unchanged
   * until {@link needFrom} is past it (the inflater then keeps views of the
   * chunks it may read again, not copies).
   */
  constructor(
    compression: LayerCompression,
    spanSize: number,
    options: { keepsInput?: boolean } = {},
  ) {
    this.compression = compression;
    if (compression === "gzip") {
      const tar = this.#tar;
      this.#inflater = checkpointInflater(spanSize, {
        data: (bytes) => {
          if (tar.done || this.#tarError !== undefined) return;
          // A tar error inside a gzip layer is kept while inflating goes on:
          // corrupt deflate data often yields garbage before zlib notices,
          // and the gzip error is the one that names the real problem.
          try {
            tar.push(bytes);
          } catch (e) {
            this.#tarError = e;
          }
        },
        checkpoint: (cp) => this.#found.push({ in: cp.in, bits: cp.bits }),
      }, { check: nativeCrc32, maxCheckpoints: MAX_SPANS, keepsInput: options.keepsInput });
    } else if (!(spanSize > 0)) {
      throw new BadInputError("span size must be > 0 for uncompressed layers");
    }
  }

  /** Compressed offset up to which every span start is known (later ones are after it). */
  get settled(): number {
    return this.#inflater?.settled ?? Infinity;
  }

  /** The first stream offset of the pushed bytes still read (see `keepsInput`). */
  get needFrom(): number {
    return this.#inflater?.needFrom ?? Infinity;
  }

  /** The tar entries read since the last call (`end` returns those not taken). */
  takeEntries(): TarEntry[] {
    const taken = this.#entries;
    this.#entries = [];
    return taken;
  }

  /** Decodes the next chunk; returns the span starts settled by it (see `settled`). */
  push(chunk: Uint8Array): SpanStart[] {
    if (this.#inflater === undefined) {
      if (!this.#tar.done) this.#tar.push(chunk);
      return [];
    }
    this.#found = [];
    this.#inflater.push(chunk);
    return this.#found;
  }

  /**
   * Ends the stream: checks it is complete and returns the checkpoints, the
   * tar's size and the entries not taken by {@link takeEntries}.
   */
  end(): { checkpoints: Checkpoint[]; uncompressedSize: number; entries: TarEntry[] } {
    const checkpoints = this.#inflater?.end().checkpoints ?? [];
    if (this.#tarError !== undefined) throw this.#tarError;
    return { checkpoints, uncompressedSize: this.#tar.end(), entries: this.#entries };
  }

  /** Frees the inflater after a failure. */
  free(): void {
    this.#inflater?.free();
  }
}
