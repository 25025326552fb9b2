/**
 * The one interface every image destination implements — the sink side of
 * `source.ts`: an OCI layout directory, an OCI archive, a registry, the
 * local store. A writer gets the layers that are read anyway (for their
 * scan) as streams, while they are read ({@link ImageWriter.openBlob}),
 * and everything else at the end, when the whole graph is written under its
 * root and the root is named ({@link ImageWriter.commit}) — the name last,
 * so that a failure never leaves it on a half-written image.
 *
 * @module
 */
import { BadInputError, NotFoundError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { decodeIndex, decodeManifest } from "../oci/json_decode.ts";
import { isIndexType, isManifestType } from "../oci/media_types.ts";

import type { ContentFetcher } from "../registry/copy_graph.ts";

/** Gives the bytes of a node of the graph: whole (documents) or streamed (layers). */
export type { ContentFetcher };

/** A blob being written as its bytes stream in. */
export interface BlobSink {
  /**
   * Adds bytes; resolves once they are taken (back-pressure). The caller
   * may reuse `chunk` afterwards.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** All bytes are in: checks them against the descriptor and makes the blob visible. */
  commit(): Promise<void>;
  /** Drops the blob (safe to call after a failure, or more than once). */
  abort(): Promise<void>;
}

/** What happened to one node while a writer wrote a graph (for progress lines). */
export interface WriteEvent {
  /** `skipped` (already there), `written` (copied, uploaded, put), `mounted`, `tagged`. */
  kind: "skipped" | "written" | "mounted" | "tagged";
  /** The node. */
  desc: Descriptor;
}

/** Options of {@link ImageWriter.commit}. */
export interface CommitImageOptions {
  /**
   * Digests the source does not have (the manifests, configs and layers of
   * platforms a partially pulled image lacks): not written, not an error.
   */
  absent?: ReadonlySet<string>;
  /** Called for each node. */
  onEvent?: (e: WriteEvent) => void;
}

/** Where an image goes (see the module documentation). */
export interface ImageWriter {
  /** The destination as the user wrote it. */
  readonly reference: string;
  /** The name under which the written image is recorded in the local store. */
  readonly storeName: string;
  /**
   * Where the written image's layers can be read later (recorded with its
   * name in the local store), or `undefined` when they stay where they came
   * from (the local store holds no layers).
   */
  readonly layerSource?: string;
  /**
   * Whether the destination can hold an image some of whose manifests it
   * does not have (a layout can; a registry refuses such an index).
   */
  readonly allowsPartial: boolean;
  /**
   * Tells the writer the layers it will get, in order, before any is
   * written (an archive lays them out). Optional.
   */
  prepare?(layers: readonly Descriptor[]): Promise<void>;
  /** True when the destination already holds `desc` (no side effect). */
  has(desc: Descriptor): Promise<boolean>;
  /**
   * True when the destination holds `desc` or got it without its bytes
   * (a cross-repository mount); false when the bytes must be sent.
   */
  obtain(desc: Descriptor): Promise<boolean>;
  /** A sink for the bytes of `desc` (a layer read once, for its scan and for this). */
  openBlob(desc: Descriptor): Promise<BlobSink>;
  /**
   * Writes what the destination lacks of the graph under `root`, leaves
   * first, fetching it with `fetch`, then names `root` (the tag, the
   * layout's `index.json`, the archive's file).
   */
  commit(root: Descriptor, fetch: ContentFetcher, options?: CommitImageOptions): Promise<void>;
  /** Removes, best effort, what this writer wrote; the destination is left as it was. */
  abort(): Promise<void>;
  /** Releases files and connections. */
  close(): Promise<void>;
}

/**
 * The successors of a node: an index's subject and manifests, a manifest's
 * subject, config and layers (all of them: a layout or archive keeps
 * non-distributable layers it has); none for other nodes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { childrenOf } from "./writer.ts";
 * const d = (c: string) => ({ mediaType: "x", digest: "sha256:" + c.repeat(64), size: 1 });
 * const bytes = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2,
 *   config: d("a"), layers: [d("b"), d("c")] }));
 * const kids = childrenOf({ mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:" + "f".repeat(64), size: bytes.length }, bytes);
 * assert.deepEqual(kids.map((k) => k.digest[7]), ["a", "b", "c"]);
 * ```
 */
export function childrenOf(desc: Descriptor, bytes: Uint8Array): Descriptor[] {
  if (isIndexType(desc.mediaType)) {
    const i = decodeIndex(bytes);
    return [...(i.subject ? [i.subject] : []), ...i.manifests];
  }
  if (isManifestType(desc.mediaType)) {
    const m = decodeManifest(bytes);
    return [...(m.subject ? [m.subject] : []), m.config, ...m.layers];
  }
  return [];
}

/** True for a manifest or index node (one whose bytes are read whole). */
export function isDocument(desc: Descriptor): boolean {
  return isManifestType(desc.mediaType) || isIndexType(desc.mediaType);
}

/** A node of a graph in the order a writer writes it (children before parents). */
export interface GraphNode {
  /** The node. */
  desc: Descriptor;
  /** Its bytes, for documents (manifests and indexes). */
  bytes?: Uint8Array;
}

/**
 * The nodes of the graph under `root`, each once, children before their
 * parents and the root last; documents come with their bytes. Nodes in
 * `absent` are left out with everything only they lead to (their
 * children are unknown).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { graphNodes } from "./writer.ts";
 * import { sha256Digest } from "../oci/digest.ts";
 * const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: "sha256:" + "1".repeat(64), size: 3 };
 * const config = { mediaType: "application/vnd.oci.image.config.v1+json", digest: "sha256:" + "2".repeat(64), size: 2 };
 * const bytes = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, config, layers: [layer] }));
 * const root = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha256Digest(bytes), size: bytes.length };
 * const nodes = await graphNodes(root, async () => bytes);
 * assert.deepEqual(nodes.map((n) => n.desc.digest), [config.digest, layer.digest, root.digest]);
 * ```
 */
export async function graphNodes(
  root: Descriptor,
  fetch: ContentFetcher,
  absent: ReadonlySet<string> = new Set(),
): Promise<GraphNode[]> {
  const out: GraphNode[] = [];
  const seen = new Set<string>();
  const visit = async (desc: Descriptor, depth: number): Promise<void> => {
    if (seen.has(desc.digest) || absent.has(desc.digest)) return;
    seen.add(desc.digest);
    if (depth > 16) throw new BadInputError(`image graph too deep at ${desc.digest}`);
    if (!isDocument(desc)) {
      out.push({ desc });
      return;
    }
    const got = await fetch(desc);
    const bytes = got instanceof Uint8Array ? got : await readAll(got);
    for (const c of childrenOf(desc, bytes)) await visit(c, depth + 1);
    out.push({ desc, bytes });
  };
  await visit(root, 0);
  return out;
}

/** Reads a (document) stream whole. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream) {
    parts.push(c.slice());
    n += c.length;
    if (n > 16 * 1024 * 1024) throw new BadInputError("a manifest of more than 16 MiB");
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * The chunks of a fetched node (bytes given whole come as one chunk).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chunksOf } from "./writer.ts";
 * const parts = [];
 * for await (const c of chunksOf(new Uint8Array([1, 2]))) parts.push(...c);
 * assert.deepEqual(parts, [1, 2]);
 * ```
 */
export async function* chunksOf(
  got: Uint8Array | ReadableStream<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  if (got instanceof Uint8Array) {
    yield got;
    return;
  }
  yield* got;
}

/**
 * Writes `got` into `sink` and commits it; on any failure the sink is
 * aborted (nothing of the blob is kept) and the error rethrown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BlobSink, pourBlob } from "./writer.ts";
 * const got: number[] = [];
 * let state = "open";
 * const sink: BlobSink = {
 *   write: (c) => { got.push(...c); return Promise.resolve(); },
 *   commit: () => { state = "committed"; return Promise.resolve(); },
 *   abort: () => { state = "aborted"; return Promise.resolve(); },
 * };
 * await pourBlob(sink, new Uint8Array([1, 2]));
 * assert.deepEqual([got, state], [[1, 2], "committed"]);
 * const broken = new ReadableStream<Uint8Array>({ pull: (c) => c.error(new Error("cut")) });
 * await assert.rejects(pourBlob(sink, broken), /cut/);
 * assert.equal(state, "aborted");
 * ```
 */
export async function pourBlob(
  sink: BlobSink,
  got: Uint8Array | ReadableStream<Uint8Array>,
): Promise<void> {
  try {
    for await (const chunk of chunksOf(got)) await sink.write(chunk);
    await sink.commit();
  } catch (e) {
    await sink.abort();
    throw e;
  }
}

/** A `NotFoundError` for a node that no one can give. */
export function missingNode(desc: Descriptor, where: string): NotFoundError {
  return new NotFoundError(
    `blob ${desc.digest} (${desc.mediaType || "no media type"}) is not in ${where}`,
  );
}
