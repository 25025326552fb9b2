/**
 * The one interface every image source implements: the local store, an
 * OCI layout directory, an OCI archive, a registry.
 *
 * @module
 */
import type { Descriptor } from "../oci/descriptor.ts";

/**
 * Where an image comes from. Sources resolve the image's target
 * descriptor and serve blobs; platform selection and manifest parsing are
 * done on top of this interface (`select.ts`).
 *
 * Every read takes an optional `signal`: a source that can stop a read in
 * progress (the registry) makes it fail with the signal's reason when the
 * signal aborts; others may ignore it (their reads are local and short),
 * so a caller that must stop checks the signal itself as well.
 */
export interface ImageSource {
  /** The reference as the user wrote it, e.g. `oci:./layout:app`. */
  readonly reference: string;
  /**
   * The name under which the image is recorded in the local store, e.g.
   * `app` for `oci:./layout:app`, `127.0.0.1:5000/repo:tag` for a registry.
   */
  readonly storeName: string;
  /** The image's target: a manifest or an index descriptor (OCI or Docker). */
  resolve(signal?: AbortSignal): Promise<Descriptor>;
  /**
   * Reads a whole (small) blob: manifest, index, config. The bytes are
   * verified against `desc.digest` and `desc.size`; a mismatch is a
   * `BadInputError` naming both digests. A missing blob is a `NotFoundError`.
   */
  fetchBytes(desc: Descriptor, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * Streams a blob (a layer) from its first byte. Not verified here: the
   * consumer hashes the bytes as they stream. A missing blob is a
   * `NotFoundError`.
   */
  openBlob(desc: Descriptor, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
  /**
   * Streams a blob into buffers the source reuses (no garbage per chunk):
   * each chunk is only valid until the next is asked for. Local sources
   * offer it; the layer pipeline prefers it to `openBlob`.
   */
  readChunks?(desc: Descriptor, signal?: AbortSignal): AsyncIterable<Uint8Array>;
  /**
   * Reads bytes `[start, end)` of a blob, when the source can seek or
   * range-request. Sources that cannot leave it undefined.
   */
  readRange?(
    desc: Descriptor,
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array>;
  /** Releases files and connections. */
  close?(): Promise<void>;
}

/** The reads of an {@link ImageSource}, which {@link wrapSource} can replace. */
export type SourceReads = Pick<
  ImageSource,
  "resolve" | "fetchBytes" | "openBlob" | "readChunks" | "readRange"
>;

/**
 * `source` with the reads in `reads` replaced; its other reads, its names
 * and `close` are `source`'s own. `readChunks` and `readRange` are offered
 * only when `source` offers them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wrapSource } from "./source.ts";
 * import { OciLayoutSource } from "./oci_layout.ts";
 * const image = OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest");
 * let resolved = 0;
 * const counted = wrapSource(image, {
 *   resolve: () => (resolved++, image.resolve()),
 * });
 * assert.equal((await counted.resolve()).digest, (await image.resolve()).digest);
 * assert.equal(resolved, 1);
 * assert.equal(counted.reference, image.reference);
 * ```
 */
export function wrapSource(source: ImageSource, reads: Partial<SourceReads>): ImageSource {
  const wrapped: ImageSource = {
    get reference() {
      return source.reference;
    },
    get storeName() {
      return source.storeName;
    },
    resolve: reads.resolve ?? ((signal) => source.resolve(signal)),
    fetchBytes: reads.fetchBytes ?? ((desc, signal) => source.fetchBytes(desc, signal)),
    openBlob: reads.openBlob ?? ((desc, signal) => source.openBlob(desc, signal)),
    close: () => source.close?.() ?? Promise.resolve(),
  };
  if (source.readChunks) wrapped.readChunks = reads.readChunks ?? source.readChunks.bind(source);
  if (source.readRange) wrapped.readRange = reads.readRange ?? source.readRange.bind(source);
  return wrapped;
}
