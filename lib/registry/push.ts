/**
 * Pushing a v1 SOCI index (`soci-cli.md` §5.2, `soci-format.md` §11): an
 * oras `CopyGraph` rooted at the index manifest (successors: subject,
 * config, layers), existing nodes skipped, missing blobs uploaded with
 * bounded concurrency, the root PUT last; then the referrers API
 * (`OCI-Subject`) or the `sha256-<hex>` fallback tag. Also the referrers
 * listing used by `--existing-index`.
 *
 * @module
 */
import { BadInputError, NotFoundError, RegistryError, SociError } from "../errors.ts";
import type { Descriptor, ImageIndex, ImageManifest } from "../oci/descriptor.ts";
import { decodeIndex, decodeManifest } from "../oci/json_decode.ts";
import { isIndexType, isManifestType, OCI_MANIFEST } from "../oci/media_types.ts";
import { digestOf, type RegistryClient } from "./client.ts";
import { addToFallbackIndex, type FallbackOptions } from "./referrers_fallback.ts";

/** What happened to one node of the graph (one line of `soci push` output). */
export type PushEventKind = "pushing" | "pushed" | "skipped";

/** Options of {@link pushIndex}. */
export interface PushOptions {
  /** Nodes in flight at once (`--max-concurrent-uploads`, default 3). */
  concurrency?: number;
  /** Called for each node: `skipped` (already there), `pushing`, `pushed`. */
  onEvent?: (kind: PushEventKind, desc: Descriptor) => void;
  /** A repository of the same registry to mount missing blobs from first. */
  mountFrom?: string;
  /** Fallback-tag update tuning (tests). */
  fallback?: FallbackOptions;
}

/** What {@link pushIndex} did. */
export interface PushResult {
  /** The pushed index descriptor. */
  index: Descriptor;
  /** The index manifest was already in the repository (nothing to copy). */
  alreadyPresent: boolean;
  /** Nodes uploaded by this push (blobs and manifests, root last). */
  pushed: Descriptor[];
  /** Nodes that already existed. */
  skipped: Descriptor[];
  /** How the index is discoverable: `api` (referrers API), `tag` (fallback), `none` (no subject). */
  referrers: "api" | "tag" | "none";
  /** The fallback tag, when used. */
  fallbackTag?: string;
  /** The fallback index the tag points at afterwards, when used. */
  fallbackIndex?: Descriptor;
  /** False when the fallback tag already listed the index. */
  fallbackChanged?: boolean;
  /** Superseded fallback index digests that were deleted. */
  deleted: string[];
  /** Problems that did not fail the push. */
  warnings: string[];
}

/** Fetches the bytes of a node from the local side (store). */
export type BlobGetter = (desc: Descriptor) => Promise<Uint8Array>;

class Limiter {
  #free: number;
  #queue: (() => void)[] = [];
  #stop: AbortController;
  constructor(n: number, stop: AbortController) {
    this.#free = Math.max(1, n);
    this.#stop = stop;
  }
  /**
   * Runs `fn` when a slot is free. The first failure aborts `stop` before
   * its slot is handed on, so work still queued never starts.
   */
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

function isManifestNode(d: Descriptor): boolean {
  return isManifestType(d.mediaType) || isIndexType(d.mediaType);
}

function plain(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

function successorsOf(desc: Descriptor, bytes: Uint8Array): Descriptor[] {
  if (isIndexType(desc.mediaType)) {
    const index: ImageIndex = decodeIndex(bytes);
    return [...(index.subject ? [index.subject] : []), ...index.manifests];
  }
  const m: ImageManifest = decodeManifest(bytes);
  return [...(m.subject ? [m.subject] : []), m.config, ...m.layers];
}

/**
 * Copies the graph of a v1 SOCI index to `repo` and makes it discoverable
 * as a referrer of its subject. `getBlob` serves every node that is
 * missing remotely (the index manifest itself is always read); its bytes
 * are checked against the descriptor before upload. A push of an index
 * that is already there copies nothing and reports `alreadyPresent`
 * (the fallback tag is still checked and repaired if it lacks the index).
 *
 * @example
 * ```ts ignore
 * import { RegistryClient } from "./client.ts";
 * import { pushIndex } from "./push.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true });
 * const store = new Map<string, Uint8Array>(); // digest -> bytes of index, config, zTOCs
 * const index = { mediaType: "application/vnd.oci.image.manifest.v1+json",
 *   digest: "sha256:…", size: 512 };
 * const result = await pushIndex(client, "app", index, async (d) => store.get(d.digest)!, {
 *   concurrency: 3,
 *   onEvent: (kind, d) => console.log(kind, d.digest),
 * });
 * console.log(result.referrers, result.fallbackTag);
 * ```
 */
export async function pushIndex(
  client: RegistryClient,
  repo: string,
  index: Descriptor,
  getBlob: BlobGetter,
  opts: PushOptions = {},
): Promise<PushResult> {
  // The first failure stops the copy: queued nodes never start, and the
  // push only rejects once the nodes already in flight have settled.
  const stop = new AbortController();
  const limiter = new Limiter(
    opts.concurrency && opts.concurrency > 0 ? opts.concurrency : 3,
    stop,
  );
  const pushed: Descriptor[] = [];
  const skipped: Descriptor[] = [];
  const emit = (kind: PushEventKind, d: Descriptor) => opts.onEvent?.(kind, d);
  const done = new Map<string, Promise<boolean>>();

  const read = async (desc: Descriptor): Promise<Uint8Array> => {
    let bytes: Uint8Array;
    try {
      bytes = await getBlob(desc);
    } catch (e) {
      // A blob missing locally (NotFoundError) gets the context too: the
      // registry lacks it as well, which is what the user must learn.
      if (e instanceof SociError && !(e instanceof NotFoundError)) throw e;
      throw new NotFoundError(
        `cannot push ${desc.digest}: not in ${client.registry}/${repo} and not readable locally: ${
          (e as Error).message
        }`,
        { cause: e },
      );
    }
    if (bytes.length !== desc.size || digestOf(bytes, desc.digest) !== desc.digest) {
      throw new BadInputError(
        `local content for ${desc.digest} does not match its descriptor (size ${desc.size})`,
      );
    }
    return bytes;
  };

  const rootBytes = await read(index);
  let ociSubject = false;

  /** Copies one node; true when it was uploaded, false when it existed. */
  const copy = (desc: Descriptor, bytes?: Uint8Array): Promise<boolean> => {
    let p = done.get(desc.digest);
    if (!p) {
      p = copyNode(desc, bytes).catch((e) => {
        if (!stop.signal.aborted) stop.abort(e);
        throw e;
      });
      done.set(desc.digest, p);
    }
    return p;
  };

  /** Copies every node; on a failure, waits for the siblings still running. */
  const copyAll = async (descs: Descriptor[]): Promise<void> => {
    const results = await Promise.allSettled(descs.map((s) => copy(s)));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  };

  const copyNode = async (desc: Descriptor, known?: Uint8Array): Promise<boolean> => {
    const manifest = isManifestNode(desc);
    const exists = await limiter.run(async () =>
      manifest
        ? (await client.headManifest(repo, desc.digest)) !== undefined
        : (await client.headBlob(repo, desc.digest)) !== undefined
    );
    if (exists) {
      skipped.push(plain(desc));
      emit("skipped", desc);
      return false;
    }
    if (manifest) {
      const bytes = known ?? (await read(desc));
      await copyAll(successorsOf(desc, bytes));
      await limiter.run(async () => {
        emit("pushing", desc);
        const put = await client.putManifest(repo, desc.digest, bytes, desc.mediaType);
        if (desc.digest === index.digest && put.ociSubject) ociSubject = true;
      });
    } else {
      await limiter.run(async () => {
        emit("pushing", desc);
        if (opts.mountFrom && opts.mountFrom !== repo) {
          if (await client.mountBlob(repo, desc.digest, opts.mountFrom)) return;
        }
        await client.uploadBlob(repo, desc, await read(desc));
      });
    }
    pushed.push(plain(desc));
    emit("pushed", desc);
    return true;
  };

  let uploadedRoot: boolean;
  try {
    uploadedRoot = await copy(
      { ...plain(index), mediaType: index.mediaType || OCI_MANIFEST },
      rootBytes,
    );
  } catch (e) {
    // Report the first failure, not the abort it caused elsewhere.
    const first = stop.signal.aborted ? stop.signal.reason : e;
    for (let n = -1; n !== done.size;) {
      n = done.size;
      await Promise.allSettled([...done.values()]);
    }
    throw first;
  }
  const result: PushResult = {
    index: plain(index),
    alreadyPresent: !uploadedRoot,
    pushed,
    skipped,
    referrers: "none",
    deleted: [],
    warnings: [],
  };

  const doc = decodeManifest(rootBytes);
  if (!doc.subject) return result;
  if (ociSubject) {
    client.setReferrersSupport("supported");
    result.referrers = "api";
    return result;
  }
  const artifactType = doc.artifactType || doc.config.mediaType;
  if (client.referrersSupport === "unknown") {
    // No OCI-Subject header (or nothing was PUT): ask the API directly
    // (the fallback tag is read once, below, only when it is needed).
    await client.referrersApi(repo, doc.subject.digest, artifactType);
  }
  if (client.referrersSupport === "supported") {
    result.referrers = "api";
    return result;
  }
  const entry: Descriptor = { ...plain(index), mediaType: index.mediaType || OCI_MANIFEST };
  if (doc.annotations && Object.keys(doc.annotations).length > 0) {
    entry.annotations = doc.annotations;
  }
  if (artifactType) entry.artifactType = artifactType;
  const update = await addToFallbackIndex(client, repo, doc.subject.digest, entry, opts.fallback);
  result.referrers = "tag";
  result.fallbackTag = update.tag;
  result.fallbackIndex = update.index;
  result.fallbackChanged = update.changed;
  result.deleted = update.deleted;
  result.warnings.push(...update.warnings);
  return result;
}

/**
 * The referrers of `subjectDigest` in `repo` with the given artifact type
 * (F§11.2: referrers API, else the fallback tag).
 *
 * @example
 * ```ts ignore
 * import { RegistryClient } from "./client.ts";
 * import { listReferrers } from "./push.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true });
 * const found = await listReferrers(client, "app", "sha256:…",
 *   "application/vnd.amazon.soci.index.v1+json");
 * console.log(found.map((d) => d.digest));
 * ```
 */
export async function listReferrers(
  client: RegistryClient,
  repo: string,
  subjectDigest: string,
  artifactType: string,
): Promise<Descriptor[]> {
  try {
    return (await client.listReferrers(repo, subjectDigest, artifactType)).manifests;
  } catch (e) {
    if (e instanceof RegistryError || e instanceof BadInputError) {
      throw new RegistryError(`failed to fetch list of referrers: ${e.message}`, {
        status: (e as RegistryError).status,
        code: (e as RegistryError).code,
      });
    }
    throw e;
  }
}

/**
 * The `<msg>` of `--existing-index` (C§5.3) for the SOCI indexes found
 * remotely, or `undefined` when none: `soci index found in remote
 * repository with digest: <d>` for one, `multiple soci indices found in
 * remote repository` for more.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { existingIndexMessage } from "./push.ts";
 * assert.ok(existingIndexMessage([]) === undefined);
 * const d = { mediaType: "m", digest: "sha256:ab", size: 1 };
 * assert.ok(existingIndexMessage([d]) ===
 *   "soci index found in remote repository with digest: sha256:ab");
 * assert.ok(existingIndexMessage([d, d]) === "multiple soci indices found in remote repository");
 * ```
 */
export function existingIndexMessage(found: Descriptor[]): string | undefined {
  if (found.length === 0) return undefined;
  if (found.length === 1) {
    return `soci index found in remote repository with digest: ${found[0].digest}`;
  }
  return "multiple soci indices found in remote repository";
}
