/**
 * Pushing a v1 SOCI index (`soci-cli.md` §5.2, `soci-format.md` §11): a
 * {@link copyGraph} rooted at the index manifest (successors: subject,
 * config, layers), existing nodes skipped, missing blobs uploaded with
 * bounded concurrency, the root PUT last; then the referrers API
 * (`OCI-Subject`) or the `sha256-<hex>` fallback tag. Also the referrers
 * listing used by `--existing-index`.
 *
 * @module
 */
import { BadInputError, errorMessage, NotFoundError, RegistryError, SociError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { decodeManifest } from "../oci/json_decode.ts";
import { OCI_MANIFEST } from "../oci/media_types.ts";
import type { RegistryClient } from "./client.ts";
import { type CopyEvent, copyGraph } from "./copy_graph.ts";
import { digestOf } from "./manifests.ts";
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

function plain(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** The `soci push` line kind of a copy event (none for the others). */
function pushEventKind(e: CopyEvent): PushEventKind | undefined {
  switch (e.kind) {
    case "copying":
      return "pushing";
    case "copied":
    case "mounted":
      return "pushed";
    case "skipped":
      return "skipped";
    default:
      return undefined;
  }
}

/**
 * The error for a node that `repo` lacks and the local side could not give
 * (`cause`): a `SociError` other than `NotFoundError` as it is; else
 * `cannot push <digest>: not in <registry>/<repo> and not readable locally:
 * <why>` (a blob missing locally gets that context too: the registry lacks
 * it as well, which is what the user must learn).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NotFoundError } from "../errors.ts";
 * import { RegistryClient } from "./client.ts";
 * import { unreadableNode } from "./push.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true });
 * const d = { mediaType: "application/octet-stream", digest: "sha256:" + "a".repeat(64), size: 1 };
 * const e = unreadableNode(client, "app", d, new NotFoundError("not in the local store"));
 * assert.equal(e.message,
 *   `cannot push ${d.digest}: not in 127.0.0.1:5000/app and not readable locally: not in the local store`);
 * client.close();
 * ```
 */
export function unreadableNode(
  client: RegistryClient,
  repo: string,
  desc: Descriptor,
  cause: unknown,
): Error {
  if (cause instanceof SociError && !(cause instanceof NotFoundError)) return cause;
  return new NotFoundError(
    `cannot push ${desc.digest}: not in ${client.registry}/${repo} and not readable locally: ` +
      errorMessage(cause),
    { cause },
  );
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
  const read = async (desc: Descriptor): Promise<Uint8Array> => {
    try {
      return await getBlob(desc);
    } catch (e) {
      throw unreadableNode(client, repo, desc, e);
    }
  };
  const root: Descriptor = { ...plain(index), mediaType: index.mediaType || OCI_MANIFEST };
  const rootBytes = await read(root);
  if (rootBytes.length !== root.size || digestOf(rootBytes, root.digest) !== root.digest) {
    throw new BadInputError(
      `content for ${root.digest} does not match its descriptor (size ${root.size})`,
    );
  }
  const copied = await copyGraph(
    client,
    repo,
    root,
    (d) => d.digest === root.digest ? Promise.resolve(rootBytes) : read(d),
    {
      concurrency: opts.concurrency,
      mountFrom: opts.mountFrom,
      onEvent: (e) => {
        const kind = pushEventKind(e);
        if (kind) opts.onEvent?.(kind, e.desc);
      },
    },
  );
  const result: PushResult = {
    index: plain(index),
    alreadyPresent: copied.rootExisted,
    pushed: copied.copied,
    skipped: copied.skipped,
    referrers: "none",
    deleted: [],
    warnings: [],
  };

  const doc = decodeManifest(rootBytes);
  if (!doc.subject) return result;
  if (copied.rootPut?.ociSubject) {
    client.referrers.support = "supported";
    result.referrers = "api";
    return result;
  }
  const artifactType = doc.artifactType || doc.config.mediaType;
  if (client.referrers.support === "unknown") {
    // No OCI-Subject header (or nothing was PUT): ask the API directly
    // (the fallback tag is read once, below, only when it is needed).
    await client.referrers.api(repo, doc.subject.digest, artifactType);
  }
  if (client.referrers.support === "supported") {
    result.referrers = "api";
    return result;
  }
  const entry: Descriptor = { ...root };
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
    return (await client.referrers.list(repo, subjectDigest, artifactType)).manifests;
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
