/**
 * Manifests and tags of a registry: get (verified against the digest),
 * head, put, delete, and the tag list.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { BadInputError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { parseDigest } from "../oci/digest.ts";
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
} from "../oci/media_types.ts";
import { repositoryScope } from "./auth.ts";
import type { SignalOptions, Transport } from "./transport.ts";

/** A manifest (or index) as fetched: verified bytes and what they are. */
export interface FetchedManifest {
  /** The exact bytes served. */
  bytes: Uint8Array;
  /** `Content-Type` of the response (or the document's `mediaType`). */
  mediaType: string;
  /** Digest of `bytes` (checked against the reference when it is a digest). */
  digest: string;
  /** Length of `bytes`. */
  size: number;
}

/** Result of a manifest PUT. */
export interface PutManifestResult {
  /** The digest the registry reports (or the digest of the bytes). */
  digest: string;
  /** Value of the `OCI-Subject` response header, when the registry sent one. */
  ociSubject?: string;
}

/** Options of a single write that can opt out of internal retries. */
export interface RequestOptions {
  /**
   * Retry transient failures with backoff inside the call (default true).
   * With false, the first transient failure is thrown as a
   * `TransientRegistryError` (for writes whose bytes may be stale by the
   * time a retry would be sent).
   */
  retry?: boolean;
}

/** Accept list for image manifests and indexes (OCI and Docker). */
export const MANIFEST_ACCEPT: readonly string[] = [
  OCI_MANIFEST,
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
];

/** Biggest manifest accepted (distribution's own limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Biggest tag list page accepted. */
const MAX_TAGS_PAGE_BYTES = 64 << 20;

/**
 * Digest of bytes with the algorithm of `like` (sha256 by default).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { digestOf } from "./manifests.ts";
 * assert.ok(digestOf(new TextEncoder().encode("{}")) ===
 *   "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
 * ```
 */
export function digestOf(bytes: Uint8Array, like = "sha256:"): string {
  const alg = like.slice(0, like.indexOf(":")) || "sha256";
  return `${alg}:${createHash(alg).update(bytes).digest("hex")}`;
}

/**
 * The media type part of a `Content-Type` header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { baseType } from "./manifests.ts";
 * assert.ok(baseType("application/json; charset=utf-8") === "application/json");
 * ```
 */
export function baseType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0].trim();
}

function mediaTypeOfDocument(bytes: Uint8Array): string | undefined {
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof doc?.mediaType === "string") return doc.mediaType;
    if (Array.isArray(doc?.manifests)) return OCI_INDEX;
    if (doc?.config) return OCI_MANIFEST;
  } catch {
    // not JSON
  }
  return undefined;
}

/**
 * The manifests and tags of the repositories of one registry
 * (`client.manifests`).
 *
 * @example
 * ```ts ignore
 * import { RegistryClient } from "./client.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true });
 * const m = await client.manifests.get("app", "v1");
 * console.log(m.mediaType, m.digest, await client.manifests.tags("app"));
 * client.close();
 * ```
 */
export class Manifests {
  readonly #t: Transport;

  /**
   * Manifest operations over `transport` (`client.manifests` is one).
   *
   * @param transport the registry's transport.
   */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  /**
   * Fetches a manifest or index by tag or digest. Verified: a digest
   * reference must match the bytes; for a tag, the `Docker-Content-Digest`
   * header (when sent) must match. `opts.signal` stops the request.
   */
  async get(
    repo: string,
    reference: string,
    accept: readonly string[] = MANIFEST_ACCEPT,
    opts: SignalOptions = {},
  ): Promise<FetchedManifest> {
    const t = this.#t;
    const action = `get manifest ${repo}:${reference}`;
    return await t.retry(action, async () => {
      const res = await t.send({
        action,
        method: "GET",
        url: t.url(repo, `manifests/${reference}`),
        headers: { accept: accept.join(", ") },
        scopes: [repositoryScope(repo, "pull")],
        signal: opts.signal,
      });
      const bytes = await t.readBody(res, action, MAX_MANIFEST_BYTES);
      const isDigest = reference.includes(":");
      const digest = digestOf(bytes, isDigest ? reference : "sha256:");
      if (isDigest && digest !== reference) {
        throw new BadInputError(
          `${t.registry}: manifest ${repo}@${reference} does not match its digest (got ${digest})`,
        );
      }
      const header = res.headers.get("docker-content-digest");
      if (!isDigest && header && header.startsWith("sha256:") && header !== digest) {
        throw new BadInputError(
          `${t.registry}: manifest ${repo}:${reference} does not match the digest the registry announced (${header} vs ${digest})`,
        );
      }
      let mediaType = baseType(res.headers.get("content-type"));
      if (!accept.includes(mediaType)) mediaType = mediaTypeOfDocument(bytes) ?? mediaType;
      return { bytes, mediaType, digest, size: bytes.length };
    }, opts.signal);
  }

  /**
   * HEADs a manifest: its descriptor (media type, digest, size) or
   * `undefined` when it does not exist. When the registry omits the digest
   * header, the manifest is fetched to compute it.
   */
  async head(
    repo: string,
    reference: string,
    accept: readonly string[] = MANIFEST_ACCEPT,
  ): Promise<Descriptor | undefined> {
    const t = this.#t;
    const action = `check manifest ${repo}:${reference}`;
    const res = await t.retry(action, () =>
      t.send({
        action,
        method: "HEAD",
        url: t.url(repo, `manifests/${reference}`),
        headers: { accept: accept.join(", ") },
        scopes: [repositoryScope(repo, "pull")],
        allowNotFound: true,
      }));
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    const digest = res.headers.get("docker-content-digest");
    const size = Number(res.headers.get("content-length") ?? NaN);
    const mediaType = baseType(res.headers.get("content-type"));
    if (!digest || !Number.isFinite(size) || !mediaType) {
      const m = await this.get(repo, reference, accept);
      return { mediaType: m.mediaType, digest: m.digest, size: m.size };
    }
    if (reference.includes(":") && digest !== reference) {
      throw new BadInputError(
        `${t.registry}: manifest ${repo}@${reference} is announced with digest ${digest}`,
      );
    }
    return { mediaType, digest, size };
  }

  /**
   * PUTs a manifest under a tag or its digest with the given
   * `Content-Type`. Reports the registry's `OCI-Subject` header. With
   * `{ retry: false }` a transient failure is thrown at once as a
   * `TransientRegistryError` (the bytes are not sent again).
   */
  async put(
    repo: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    opts: RequestOptions = {},
  ): Promise<PutManifestResult> {
    const t = this.#t;
    const action = `put manifest ${repo}:${reference}`;
    const res = await t.maybeRetry(opts.retry, action, () =>
      t.send({
        action,
        method: "PUT",
        url: t.url(repo, `manifests/${reference}`),
        headers: { "content-type": mediaType },
        body: bytes,
        scopes: [repositoryScope(repo, "pull,push")],
      }));
    await res.body?.cancel();
    const digest = res.headers.get("docker-content-digest") ?? digestOf(bytes);
    const subject = res.headers.get("oci-subject");
    return subject ? { digest, ociSubject: subject } : { digest };
  }

  /**
   * Deletes a manifest by digest; false when it was not there. With
   * `{ retry: false }` a transient failure is thrown at once as a
   * `TransientRegistryError`.
   */
  async delete(repo: string, digest: string, opts: RequestOptions = {}): Promise<boolean> {
    parseDigest(digest);
    const t = this.#t;
    const action = `delete manifest ${repo}@${digest}`;
    const res = await t.maybeRetry(opts.retry, action, () =>
      t.send({
        action,
        method: "DELETE",
        url: t.url(repo, `manifests/${digest}`),
        scopes: [repositoryScope(repo, "delete"), repositoryScope(repo, "pull,push")],
        allowNotFound: true,
      }));
    await res.body?.cancel();
    return res.status !== 404;
  }

  /** Lists every tag of a repository (following `Link` pagination). */
  async tags(repo: string): Promise<string[]> {
    const t = this.#t;
    const action = `list tags of ${repo}`;
    const tags: string[] = [];
    const scopes = [repositoryScope(repo, "pull")];
    const url = t.url(repo, "tags/list");
    for await (const { bytes } of t.pages({ action, scopes }, url, MAX_TAGS_PAGE_BYTES)) {
      let body: { tags?: unknown };
      try {
        body = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        throw new BadInputError(`${t.registry}: ${action}: the answer is not JSON`);
      }
      if (Array.isArray(body?.tags)) {
        tags.push(...body.tags.filter((x): x is string => typeof x === "string"));
      }
    }
    return tags;
  }
}
