/**
 * Counting what reading an image fetches (`--stats`): bytes and requests
 * per blob, labelled by what the blob is (layer, zTOC, index, manifest…)
 * and where it came from (the image's source or the local store).
 *
 * @module
 */
import { type ImageSource, wrapSource } from "../image/source.ts";
import type { Descriptor } from "../oci/descriptor.ts";

/** What a counted blob is. */
export type BlobKind = "layer" | "ztoc" | "index" | "manifest" | "config" | "referrers" | "blob";

/** The bytes read of one blob. */
export interface BlobCount {
  /** `sha256:…` (or a tag, for the referrers fallback index). */
  digest: string;
  /** What it is. */
  kind: BlobKind;
  /** Where it was read: over the image's source, or from the local store. */
  from: "image" | "store";
  /** Bytes read. */
  bytes: number;
  /** Reads (requests) made. */
  reads: number;
  /** For a layer: its position in the manifest. */
  layer?: number;
}

/**
 * The counters. {@link countingSource} feeds them for an image source;
 * readers add what they read elsewhere (the store) with {@link ReadStats.add}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReadStats } from "./read_stats.ts";
 * const stats = new ReadStats();
 * stats.label("sha256:aa", "layer", 0);
 * stats.add("sha256:aa", 100);
 * stats.add("sha256:aa", 50);
 * stats.add("sha256:bb", 10, "store");
 * assert.equal(stats.total(), 150);
 * assert.equal(stats.total("store"), 10);
 * assert.deepEqual(stats.get("sha256:aa")?.reads, 2);
 * ```
 */
export class ReadStats {
  readonly #blobs = new Map<string, BlobCount>();
  readonly #labels = new Map<string, { kind: BlobKind; layer?: number }>();

  /** Says what `digest` is (before or after it is counted). */
  label(digest: string, kind: BlobKind, layer?: number): void {
    this.#labels.set(digest, { kind, layer });
    for (const from of ["image", "store"] as const) {
      const c = this.#blobs.get(`${from} ${digest}`);
      if (c) {
        c.kind = kind;
        c.layer = layer;
      }
    }
  }

  /** Counts one read of `bytes` bytes of `digest`. */
  add(digest: string, bytes: number, from: "image" | "store" = "image"): void {
    const key = `${from} ${digest}`;
    let c = this.#blobs.get(key);
    if (c === undefined) {
      const l = this.#labels.get(digest);
      c = { digest, kind: l?.kind ?? "blob", from, bytes: 0, reads: 0, layer: l?.layer };
      this.#blobs.set(key, c);
    }
    c.bytes += bytes;
    c.reads++;
  }

  /** The count of one blob read from `from` (default the image). */
  get(digest: string, from: "image" | "store" = "image"): BlobCount | undefined {
    return this.#blobs.get(`${from} ${digest}`);
  }

  /** Every count, in the order first read. */
  all(): BlobCount[] {
    return [...this.#blobs.values()];
  }

  /** Bytes read from `from` (default: the image's source), all blobs. */
  total(from: "image" | "store" = "image"): number {
    let n = 0;
    for (const c of this.#blobs.values()) if (c.from === from) n += c.bytes;
    return n;
  }
}

/**
 * An image source that counts the bytes it hands out into `stats`, per
 * digest: layer streams and ranges every time, whole blobs (manifests,
 * configs, zTOCs) once each (sources and callers ask for the same small
 * document more than once, mostly from a cache). `from` says whether the
 * source is the local store. A read's `signal` is passed on to `source`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countingSource, ReadStats } from "./read_stats.ts";
 * import { OciLayoutSource } from "../image/oci_layout.ts";
 * const stats = new ReadStats();
 * const image = countingSource(
 *   OciLayoutSource.fromReference("oci:./fixtures/sample-image:latest"), stats);
 * const target = await image.resolve();
 * await image.fetchBytes(target);
 * assert.equal(stats.total(), target.size);
 * ```
 */
export function countingSource(
  source: ImageSource,
  stats: ReadStats,
  from: "image" | "store" = "image",
): ImageSource {
  const fetched = new Set<string>();
  const counted = async function* (
    digest: string,
    chunks: AsyncIterable<Uint8Array>,
  ): AsyncGenerator<Uint8Array> {
    let n = 0;
    try {
      for await (const c of chunks) {
        n += c.length;
        yield c;
      }
    } finally {
      stats.add(digest, n, from);
    }
  };
  const chunks = source.readChunks?.bind(source);
  const range = source.readRange?.bind(source);
  return wrapSource(source, {
    async fetchBytes(desc: Descriptor, signal?: AbortSignal) {
      const bytes = await source.fetchBytes(desc, signal);
      if (!fetched.has(desc.digest)) stats.add(desc.digest, bytes.length, from);
      fetched.add(desc.digest);
      return bytes;
    },
    async openBlob(desc: Descriptor, signal?: AbortSignal) {
      const stream = await source.openBlob(desc, signal);
      return ReadableStream.from(counted(desc.digest, stream));
    },
    readChunks: chunks &&
      ((desc: Descriptor, signal?: AbortSignal) => counted(desc.digest, chunks(desc, signal))),
    readRange: range &&
      (async (desc: Descriptor, start: number, end: number, signal?: AbortSignal) => {
        const bytes = await range(desc, start, end, signal);
        stats.add(desc.digest, bytes.length, from);
        return bytes;
      }),
  });
}
