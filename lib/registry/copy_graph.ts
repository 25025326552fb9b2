/**
 * Copying a graph of content into a repository, like oras `CopyGraph`:
 * the nodes under a root descriptor (an image index lists manifests; a
 * manifest has its subject, config and layers) are taken from a content
 * fetcher (a store, another registry, bytes in memory) and sent to a
 * repository of a registry.
 *
 * - Nodes the repository already has are skipped, with everything under
 *   them (a manifest is only ever there once its graph is).
 * - Leaves go first: a manifest is put, by digest, only once all its
 *   successors are in the repository; the root is put last.
 * - Blobs can be mounted from another repository of the same registry;
 *   when the registry declines, they are uploaded.
 * - With `tag`, the root is tagged after everything else, so a copy that
 *   fails half way never leaves the tag on a partial image.
 * - At most `concurrency` requests are in flight. The first failure stops
 *   the copy: queued nodes never start, and the copy rejects once the
 *   nodes already in flight have settled.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { decodeIndex, decodeManifest } from "../oci/json_decode.ts";
import {
  DOCKER_FOREIGN_LAYER,
  DOCKER_FOREIGN_LAYER_GZIP,
  isIndexType,
  isManifestType,
} from "../oci/media_types.ts";
import type { RegistryClient } from "./client.ts";
import { digestOf, MAX_MANIFEST_BYTES, type PutManifestResult } from "./manifests.ts";

/**
 * Gives the bytes of a node: all at once, or as a stream (blobs only are
 * streamed to the registry; a manifest stream is read into memory).
 */
export type ContentFetcher = (
  desc: Descriptor,
) => Promise<Uint8Array | ReadableStream<Uint8Array>>;

/** What happened to one node of the graph (for progress lines). */
export type CopyEvent =
  | { kind: "skipped"; desc: Descriptor }
  | { kind: "copying"; desc: Descriptor }
  | { kind: "copied"; desc: Descriptor }
  | { kind: "mounted"; desc: Descriptor; from: string }
  | { kind: "mount-declined"; desc: Descriptor; from: string }
  | { kind: "tagged"; desc: Descriptor; tag: string };

/** Options of {@link copyGraph}. */
export interface CopyGraphOptions {
  /** Requests in flight at once (default 3). */
  concurrency?: number;
  /**
   * Called for each node: `skipped` (already there), `copying`, then
   * `copied` or `mounted` (after `mount-declined` when the registry would
   * not mount it); `tagged` for the root at the end.
   */
  onEvent?: (event: CopyEvent) => void;
  /** A repository of the same registry to mount missing blobs from first. */
  mountFrom?: string;
  /** Tag the root with this once the whole graph is in the repository. */
  tag?: string;
  /** The successors of a manifest node (default {@link successorsOf}). */
  successors?: (desc: Descriptor, bytes: Uint8Array) => Descriptor[];
}

/** What {@link copyGraph} did. */
export interface CopyGraphResult {
  /** The root descriptor (media type, digest, size). */
  root: Descriptor;
  /** The root was already in the repository: nothing under it was copied. */
  rootExisted: boolean;
  /** Nodes copied (uploaded, mounted or put) by this copy, in the order they completed; root last. */
  copied: Descriptor[];
  /** Nodes that were already there. */
  skipped: Descriptor[];
  /** Blobs mounted from `mountFrom` (also in `copied`). */
  mounted: Descriptor[];
  /** The registry's answer to the root's PUT, when the root was put. */
  rootPut?: PutManifestResult;
  /** True when the tag was written (false when it already named the root). */
  tagged?: boolean;
}

/** True for a node that is a manifest or an index (it has successors). */
function isManifestNode(d: Descriptor): boolean {
  return isManifestType(d.mediaType) || isIndexType(d.mediaType);
}

/** Layers that registries do not hold (Windows foreign layers, OCI non-distributable ones). */
function isNonDistributable(d: Descriptor): boolean {
  return d.mediaType === DOCKER_FOREIGN_LAYER || d.mediaType === DOCKER_FOREIGN_LAYER_GZIP ||
    d.mediaType.includes(".nondistributable.");
}

function plain(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/**
 * The successors of a manifest node: for an index its subject and
 * manifests, for an image manifest its subject, config and layers (foreign
 * and non-distributable layers left out); none for other nodes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { successorsOf } from "./copy_graph.ts";
 * const d = (n: string) => ({ mediaType: "application/octet-stream", digest: "sha256:" + n.repeat(64), size: 1 });
 * const manifest = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   config: d("a"), layers: [d("b")] };
 * const bytes = new TextEncoder().encode(JSON.stringify(manifest));
 * const next = successorsOf({ mediaType: manifest.mediaType, digest: "sha256:" + "c".repeat(64), size: bytes.length }, bytes);
 * assert.deepEqual(next.map((x) => x.digest[7]), ["a", "b"]);
 * ```
 */
export function successorsOf(desc: Descriptor, bytes: Uint8Array): Descriptor[] {
  if (isIndexType(desc.mediaType)) {
    const index = decodeIndex(bytes);
    return [...(index.subject ? [index.subject] : []), ...index.manifests];
  }
  if (isManifestType(desc.mediaType)) {
    const m = decodeManifest(bytes);
    const layers = m.layers.filter((l) => !isNonDistributable(l));
    return [...(m.subject ? [m.subject] : []), m.config, ...layers];
  }
  return [];
}

/** Whether `repo` has the node (a manifest by `HEAD` of the manifest, else of the blob). */
async function inRepository(
  client: RegistryClient,
  repo: string,
  desc: Descriptor,
): Promise<boolean> {
  const there = isManifestNode(desc)
    ? await client.manifests.head(repo, desc.digest)
    : await client.blobs.head(repo, desc.digest);
  return there !== undefined;
}

/** Where {@link findUnavailable} reads nodes the repository lacks. */
export interface LocalContent {
  /** The bytes of a manifest node (rejects when it cannot be read). */
  manifest(desc: Descriptor): Promise<Uint8Array>;
  /** Resolves when a blob node can be read (rejects with the reason when not). */
  blob(desc: Descriptor): Promise<void>;
}

/**
 * The first node that a {@link copyGraph} of `root` into `repo` would need
 * from `local` and could not get, with the reason; `undefined` when every
 * node is in the repository or readable. Walks the graph as the copy does
 * (nothing under a node the repository has), one request at a time, and
 * uploads nothing: a copy of several graphs can be checked whole first.
 *
 * @example
 * ```ts ignore
 * import { findUnavailable } from "./copy_graph.ts";
 * const gap = await findUnavailable(client, "app", indexDescriptor, {
 *   manifest: (d) => store.readBlob(d.digest),
 *   blob: async (d) => void (await store.readBlob(d.digest)),
 * });
 * if (gap) console.log(`missing ${gap.desc.digest}: ${gap.error}`);
 * ```
 */
export async function findUnavailable(
  client: RegistryClient,
  repo: string,
  root: Descriptor,
  local: LocalContent,
  successors: (desc: Descriptor, bytes: Uint8Array) => Descriptor[] = successorsOf,
): Promise<{ desc: Descriptor; error: unknown } | undefined> {
  const seen = new Set<string>();
  const pending = [root];
  for (let desc = pending.pop(); desc !== undefined; desc = pending.pop()) {
    if (seen.has(desc.digest)) continue;
    seen.add(desc.digest);
    if (await inRepository(client, repo, desc)) continue;
    try {
      if (isManifestNode(desc)) pending.push(...successors(desc, await local.manifest(desc)));
      else await local.blob(desc);
    } catch (error) {
      return { desc, error };
    }
  }
  return undefined;
}

/** Runs work with at most `n` at once; the first failure aborts `stop` so queued work never starts. */
class Limiter {
  #free: number;
  #queue: (() => void)[] = [];
  #stop: AbortController;

  constructor(n: number, stop: AbortController) {
    this.#free = Math.max(1, n);
    this.#stop = stop;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#queue.push(resolve));
    try {
      this.#stop.signal.throwIfAborted();
      return await fn();
    } catch (e) {
      if (!this.#stop.signal.aborted) this.#stop.abort(e);
      throw e;
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

async function readAll(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > limit) {
      throw new BadInputError(`a manifest of more than ${limit} bytes cannot be copied`);
    }
    parts.push(chunk);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Copies the graph under `root` from `fetchContent` into `repo` of
 * `client`'s registry (see the module doc for the rules). Bytes given
 * whole are checked against their descriptor before they are sent;
 * streamed blobs are checked by the registry (digest) and the upload
 * (size).
 *
 * @example
 * ```ts ignore
 * import { RegistryClient } from "./client.ts";
 * import { copyGraph } from "./copy_graph.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true });
 * const store = new Map<string, Uint8Array>(); // digest -> bytes of the image
 * const result = await copyGraph(client, "app", imageManifestDescriptor,
 *   async (d) => store.get(d.digest)!, {
 *     tag: "v1",
 *     onEvent: (e) => console.log(e.kind, e.desc.digest),
 *   });
 * console.log(result.copied.length, result.skipped.length);
 * ```
 */
export async function copyGraph(
  client: RegistryClient,
  repo: string,
  root: Descriptor,
  fetchContent: ContentFetcher,
  opts: CopyGraphOptions = {},
): Promise<CopyGraphResult> {
  if (opts.tag !== undefined && !isManifestNode(root)) {
    throw new BadInputError(`cannot tag ${root.digest}: ${root.mediaType} is not a manifest`);
  }
  const stop = new AbortController();
  const limiter = new Limiter(
    opts.concurrency && opts.concurrency > 0 ? opts.concurrency : 3,
    stop,
  );
  const successors = opts.successors ?? successorsOf;
  const emit = (e: CopyEvent) => opts.onEvent?.(e);
  const result: CopyGraphResult = {
    root: plain(root),
    rootExisted: false,
    copied: [],
    skipped: [],
    mounted: [],
  };
  const done = new Map<string, Promise<void>>();
  let rootBytes: Uint8Array | undefined;

  const verified = (desc: Descriptor, bytes: Uint8Array): Uint8Array => {
    if (bytes.length !== desc.size || digestOf(bytes, desc.digest) !== desc.digest) {
      throw new BadInputError(
        `content for ${desc.digest} does not match its descriptor (size ${desc.size})`,
      );
    }
    return bytes;
  };
  const readBytes = async (desc: Descriptor): Promise<Uint8Array> => {
    const got = await fetchContent(desc);
    return verified(desc, got instanceof Uint8Array ? got : await readAll(got, MAX_MANIFEST_BYTES));
  };

  /** Copies one node once, however many parents it has. */
  const copy = (desc: Descriptor): Promise<void> => {
    let p = done.get(desc.digest);
    if (!p) {
      p = copyNode(desc).catch((e) => {
        if (!stop.signal.aborted) stop.abort(e);
        throw e;
      });
      done.set(desc.digest, p);
    }
    return p;
  };

  /** Copies every node; on a failure, waits for the siblings still running. */
  const copyAll = async (descs: Descriptor[]): Promise<void> => {
    const results = await Promise.allSettled(descs.map((d) => copy(d)));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  };

  const copyNode = async (desc: Descriptor): Promise<void> => {
    const manifest = isManifestNode(desc);
    const isRoot = desc.digest === root.digest;
    const exists = await limiter.run(() => inRepository(client, repo, desc));
    if (exists) {
      if (isRoot) result.rootExisted = true;
      result.skipped.push(plain(desc));
      emit({ kind: "skipped", desc });
      return;
    }
    if (manifest) {
      const bytes = await readBytes(desc);
      if (isRoot) rootBytes = bytes;
      await copyAll(successors(desc, bytes));
      await limiter.run(async () => {
        emit({ kind: "copying", desc });
        const put = await client.manifests.put(repo, desc.digest, bytes, desc.mediaType);
        if (isRoot) result.rootPut = put;
      });
    } else {
      const mounted = await limiter.run(async () => {
        emit({ kind: "copying", desc });
        const from = opts.mountFrom;
        if (from && from !== repo) {
          if (await client.blobs.mount(repo, desc.digest, from)) return true;
          emit({ kind: "mount-declined", desc, from });
        }
        const got = await fetchContent(desc);
        await client.blobs.upload(
          repo,
          desc,
          got instanceof Uint8Array ? verified(desc, got) : got,
        );
        return false;
      });
      if (mounted) {
        result.mounted.push(plain(desc));
        result.copied.push(plain(desc));
        emit({ kind: "mounted", desc, from: opts.mountFrom! });
        return;
      }
    }
    result.copied.push(plain(desc));
    emit({ kind: "copied", desc });
  };

  try {
    await copy(root);
  } catch (e) {
    // Report the first failure, not the abort it caused elsewhere, once
    // nothing is in flight any more.
    const first = stop.signal.aborted ? stop.signal.reason : e;
    for (let n = -1; n !== done.size;) {
      n = done.size;
      await Promise.allSettled([...done.values()]);
    }
    throw first;
  }

  if (opts.tag !== undefined) {
    const now = await client.manifests.head(repo, opts.tag);
    if (now?.digest === root.digest) {
      result.tagged = false;
    } else {
      const bytes = rootBytes ?? (await readBytes(root));
      await client.manifests.put(repo, opts.tag, bytes, root.mediaType);
      result.tagged = true;
      emit({ kind: "tagged", desc: root, tag: opts.tag });
    }
  }
  return result;
}
