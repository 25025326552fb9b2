/**
 * A range reader that fetches a long range of a blob as bounded pieces
 * (one ranged read each, the next one already on its way while the
 * current one is consumed), so that reading many spans never holds more
 * than two pieces, and the first bytes arrive after one piece's time.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { ImageSource } from "../image/source.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import type { RangeReader } from "../ztoc/extract.ts";
import { sourceRangeReader } from "./layer_reader.ts";

/** Default piece size: 4 MiB. */
export const DEFAULT_PIECE = 4 * 1024 * 1024;

/**
 * Reads `[start, end)` of `desc` in pieces of at most `pieceSize` bytes
 * with one piece read ahead, through `source.readRange`; a source without
 * ranged reads is streamed from its start (see `sourceRangeReader`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pieceRangeReader } from "./range_pieces.ts";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * import { selectManifest } from "../image/select.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * const { manifest } = await selectManifest(image, await image.resolve(),
 *   { os: "linux", architecture: "amd64" });
 * const read = pieceRangeReader(image, manifest.layers[0], 3);
 * const sizes = [];
 * for await (const p of read(0, 8)) sizes.push(p.length);
 * assert.deepEqual(sizes, [3, 3, 2]);
 * ```
 */
export function pieceRangeReader(
  source: ImageSource,
  desc: Descriptor,
  pieceSize: number = DEFAULT_PIECE,
): RangeReader {
  if (!source.readRange) return sourceRangeReader(source, desc);
  const readRange = source.readRange.bind(source);
  return async function* (start: number, end: number) {
    const fetchPiece = (at: number) => readRange(desc, at, Math.min(end, at + pieceSize));
    let at = start;
    let next = at < end ? fetchPiece(at) : undefined;
    try {
      while (next !== undefined) {
        const current = next;
        const from = at;
        at = Math.min(end, at + pieceSize);
        next = at < end ? fetchPiece(at) : undefined;
        // A failed read-ahead is reported when it is reached, not before.
        next?.catch(() => {});
        const bytes = await current;
        if (bytes.length !== Math.min(end, from + pieceSize) - from) {
          throw new BadInputError(`short read of ${desc.digest} at ${from}`);
        }
        yield bytes;
      }
    } finally {
      // Stopped early: let the read-ahead finish quietly.
      next?.catch(() => {});
    }
  };
}
