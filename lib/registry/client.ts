/**
 * An OCI distribution API client for one registry host, over `fetch`:
 * manifests, blobs (whole, streamed, ranged; monolithic, chunked and
 * streamed uploads; cross-repository mounts), tags, and the referrers
 * listing with the tag-schema fallback (`soci-format.md` §11.2).
 *
 * Authentication (anonymous, Basic, Bearer tokens), retries with backoff
 * for idempotent work (429, 5xx, dropped connections, honouring
 * `Retry-After`) and a total time budget are handled here. Every manifest
 * and whole blob downloaded is verified against its digest. Errors are
 * {@link RegistryError}s with one line naming the host, what was being
 * done, the HTTP status and the OCI error; credentials never appear in
 * errors or debug lines.
 *
 * TLS is on by default. Extra CA certificates can be given with `caCerts`
 * (PEM text) or, as for any Deno program, with the `DENO_CERT` environment
 * variable naming a PEM file.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { BadInputError, RegistryError } from "../errors.ts";
import type { Descriptor, ImageIndex } from "../oci/descriptor.ts";
import { digestHex, parseDigest } from "../oci/digest.ts";
import { decodeIndex } from "../oci/json_decode.ts";
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
} from "../oci/media_types.ts";
import { Authenticator, repositoryScope } from "./auth.ts";
import type { Credentials } from "./credentials.ts";
import { networkReason, oneLine, parseErrorBody, redactUrl } from "./http_errors.ts";
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  isRetryableStatus,
  parseRetryAfter,
  type RetryPolicy,
  sleep,
} from "./retry.ts";

/** Options of a {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Use `http://` instead of `https://` (`--plain-http`). */
  plainHttp?: boolean;
  /** Credentials; none = anonymous. */
  credentials?: Credentials;
  /** Extra CA certificates (PEM text) trusted for TLS, besides `DENO_CERT`. */
  caCerts?: string[];
  /**
   * Total time budget in milliseconds for everything this client does,
   * counted from its creation (`--timeout`); 0 or absent = no limit.
   */
  timeoutMs?: number;
  /** Receives `http req|res|err …` trace lines (`--debug`); never secrets. */
  debug?: (line: string) => void;
  /** Retries after the first attempt of idempotent work (default 5). */
  maxRetries?: number;
  /** First backoff delay in milliseconds (default 200). */
  retryDelayMs?: number;
  /** Chunk size for chunked and streamed uploads (default 8 MiB). */
  chunkSize?: number;
  /** Uploads of in-memory bytes up to this size are monolithic (default 32 MiB). */
  monolithicMaxBytes?: number;
}

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

/** Result of a referrers listing. */
export interface ReferrersListing {
  /** Referrer descriptors, filtered by artifact type when one was asked for. */
  manifests: Descriptor[];
  /** `api` = the referrers API answered; `tag` = the `sha256-<hex>` fallback tag. */
  via: "api" | "tag";
}

/** Whether the registry has the referrers API, as learned so far. */
export type ReferrersSupport = "unknown" | "supported" | "unsupported";

/** Accept list for image manifests and indexes (OCI and Docker). */
export const MANIFEST_ACCEPT: readonly string[] = [
  OCI_MANIFEST,
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
];

/** Biggest manifest accepted (distribution's own limit). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;

/** The tag under which the referrers fallback index of `subject` lives. */
export function fallbackTag(subjectDigest: string): string {
  const d = parseDigest(subjectDigest);
  return `${d.slice(0, d.indexOf(":"))}-${digestHex(d)}`;
}

/** Digest of bytes with the algorithm of `like` (sha256 by default). */
export function digestOf(bytes: Uint8Array, like = "sha256:"): string {
  const alg = like.slice(0, like.indexOf(":")) || "sha256";
  return `${alg}:${createHash(alg).update(bytes).digest("hex")}`;
}

/**
 * A {@link RegistryError} for a failure worth another try (429, 5xx, a
 * dropped connection), thrown by requests made without internal retries
 * (`{ retry: false }`) so the caller can decide what to do next.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TransientRegistryError } from "./client.ts";
 * const e = new TransientRegistryError("r: put manifest a:t: 429 Too Many Requests", 429, 1000);
 * assert.ok(e.status === 429 && e.retryAfterMs === 1000);
 * ```
 */
export class TransientRegistryError extends RegistryError {
  /** The server's `Retry-After`, in milliseconds, when it sent one. */
  readonly retryAfterMs?: number;
  /**
   * @param message one line naming the host, the action and the failure.
   * @param status the HTTP status, when there was a response.
   * @param retryAfterMs the server's `Retry-After` in milliseconds.
   */
  constructor(message: string, status?: number, retryAfterMs?: number) {
    super(message, { status });
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

/** Options of a single request that can opt out of internal retries. */
export interface RequestOptions {
  /**
   * Retry transient failures with backoff inside the call (default true).
   * With false, the first transient failure is thrown as a
   * {@link TransientRegistryError} (for writes whose bytes may be stale by
   * the time a retry would be sent).
   */
  retry?: boolean;
}

/** A transient failure worth retrying; becomes a RegistryError when retries run out. */
class TransientError extends Error {
  constructor(message: string, readonly retryAfterMs?: number, readonly status?: number) {
    super(message);
  }
}

interface Exchange {
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string | ReadableStream<Uint8Array>;
  scopes: string[];
}

function baseType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0].trim();
}

/**
 * A client for one registry host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RegistryClient } from "./client.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true, timeoutMs: 30_000 });
 * assert.ok(client.baseUrl === "http://127.0.0.1:5000");
 * client.close();
 * ```
 */
export class RegistryClient {
  /** Registry host as written in references (`host[:port]`). */
  readonly registry: string;
  /** `http(s)://<api host>`: Docker Hub's `docker.io` maps to `registry-1.docker.io`. */
  readonly baseUrl: string;
  readonly #opts: RegistryClientOptions;
  readonly #auth: Authenticator;
  readonly #http?: Deno.HttpClient;
  readonly #deadline?: number;
  readonly #policy: RetryPolicy;
  #referrers: ReferrersSupport = "unknown";

  /**
   * Makes a client; nothing is sent until the first request.
   *
   * @param registry the host (`host[:port]`) of a reference.
   * @param opts transport, credentials and retry options.
   */
  constructor(registry: string, opts: RegistryClientOptions = {}) {
    this.registry = registry;
    this.#opts = opts;
    const apiHost = registry === "docker.io" || registry === "index.docker.io"
      ? "registry-1.docker.io"
      : registry;
    this.baseUrl = `${opts.plainHttp ? "http" : "https"}://${apiHost}`;
    if (opts.caCerts && opts.caCerts.length > 0) {
      this.#http = Deno.createHttpClient({ caCerts: opts.caCerts });
    }
    if (opts.timeoutMs && opts.timeoutMs > 0) this.#deadline = Date.now() + opts.timeoutMs;
    this.#policy = {
      ...DEFAULT_RETRY_POLICY,
      ...(opts.maxRetries !== undefined ? { maxRetries: opts.maxRetries } : {}),
      ...(opts.retryDelayMs !== undefined ? { baseDelayMs: opts.retryDelayMs } : {}),
    };
    this.#auth = new Authenticator(
      registry,
      opts.credentials,
      (url, init) => this.#rawFetch(url, init, "authenticate"),
    );
  }

  /** How transient failures are retried (`maxRetries`, backoff delays). */
  get retryPolicy(): RetryPolicy {
    return { ...this.#policy };
  }

  /**
   * Waits before attempt number `attempt` (1-based) of work the caller
   * retries itself: the server's `Retry-After` when given, else the
   * client's exponential backoff. A {@link RegistryError} (timed out) when
   * the wait would pass the client's time budget.
   */
  async backoff(attempt: number, retryAfterMs: number | undefined, action: string): Promise<void> {
    const delay = backoffDelayMs(attempt, retryAfterMs, this.#policy);
    this.#debug(`http retry ${action} in ${delay} ms`);
    await this.#pause(delay, action);
  }

  /** Whether the referrers API is known to exist on this registry. */
  get referrersSupport(): ReferrersSupport {
    return this.#referrers;
  }

  /** Records the referrers API state (learned from an `OCI-Subject` header). */
  setReferrersSupport(state: ReferrersSupport): void {
    this.#referrers = state;
  }

  /** Releases the TLS client (if `caCerts` were given). */
  close(): void {
    this.#http?.close();
  }

  // ---------------------------------------------------------------- manifests

  /**
   * Fetches a manifest or index by tag or digest. Verified: a digest
   * reference must match the bytes; for a tag, the `Docker-Content-Digest`
   * header (when sent) must match.
   */
  async getManifest(
    repo: string,
    reference: string,
    accept: readonly string[] = MANIFEST_ACCEPT,
  ): Promise<FetchedManifest> {
    const action = `get manifest ${repo}:${reference}`;
    return await this.#retrying(action, async () => {
      const res = await this.#call(action, {
        method: "GET",
        url: this.#url(repo, "manifests", reference),
        headers: { accept: accept.join(", ") },
        scopes: [repositoryScope(repo, "pull")],
      }, [200]);
      const bytes = await this.#readBody(res, action, MAX_MANIFEST_BYTES);
      const isDigest = reference.includes(":");
      const digest = digestOf(bytes, isDigest ? reference : "sha256:");
      if (isDigest && digest !== reference) {
        throw new BadInputError(
          `${this.registry}: manifest ${repo}@${reference} does not match its digest (got ${digest})`,
        );
      }
      const header = res.headers.get("docker-content-digest");
      if (!isDigest && header && header.startsWith("sha256:") && header !== digest) {
        throw new BadInputError(
          `${this.registry}: manifest ${repo}:${reference} does not match the digest the registry announced (${header} vs ${digest})`,
        );
      }
      let mediaType = baseType(res.headers.get("content-type"));
      if (!accept.includes(mediaType)) mediaType = mediaTypeOfDocument(bytes) ?? mediaType;
      return { bytes, mediaType, digest, size: bytes.length };
    });
  }

  /**
   * HEADs a manifest: its descriptor (media type, digest, size) or
   * `undefined` when it does not exist. When the registry omits the digest
   * header, the manifest is fetched to compute it.
   */
  async headManifest(
    repo: string,
    reference: string,
    accept: readonly string[] = MANIFEST_ACCEPT,
  ): Promise<Descriptor | undefined> {
    const action = `check manifest ${repo}:${reference}`;
    const res = await this.#retrying(action, () =>
      this.#call(
        action,
        {
          method: "HEAD",
          url: this.#url(repo, "manifests", reference),
          headers: { accept: accept.join(", ") },
          scopes: [repositoryScope(repo, "pull")],
        },
        [200],
        [404],
      ));
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    const digest = res.headers.get("docker-content-digest");
    const size = Number(res.headers.get("content-length") ?? NaN);
    const mediaType = baseType(res.headers.get("content-type"));
    if (!digest || !Number.isFinite(size) || !mediaType) {
      const m = await this.getManifest(repo, reference, accept);
      return { mediaType: m.mediaType, digest: m.digest, size: m.size };
    }
    if (reference.includes(":") && digest !== reference) {
      throw new BadInputError(
        `${this.registry}: manifest ${repo}@${reference} is announced with digest ${digest}`,
      );
    }
    return { mediaType, digest, size };
  }

  /**
   * PUTs a manifest under a tag or its digest with the given
   * `Content-Type`. Reports the registry's `OCI-Subject` header. With
   * `{ retry: false }` a transient failure is thrown at once as a
   * {@link TransientRegistryError} (the bytes are not sent again).
   */
  async putManifest(
    repo: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    opts: RequestOptions = {},
  ): Promise<PutManifestResult> {
    const action = `put manifest ${repo}:${reference}`;
    const res = await this.#maybeRetrying(opts, action, () =>
      this.#call(action, {
        method: "PUT",
        url: this.#url(repo, "manifests", reference),
        headers: { "content-type": mediaType },
        body: bytes,
        scopes: [repositoryScope(repo, "pull,push")],
      }, [200, 201, 202, 204]));
    await res.body?.cancel();
    const digest = res.headers.get("docker-content-digest") ?? digestOf(bytes);
    const subject = res.headers.get("oci-subject");
    return subject ? { digest, ociSubject: subject } : { digest };
  }

  /**
   * Deletes a manifest by digest; false when it was not there. With
   * `{ retry: false }` a transient failure is thrown at once as a
   * {@link TransientRegistryError}.
   */
  async deleteManifest(
    repo: string,
    digest: string,
    opts: RequestOptions = {},
  ): Promise<boolean> {
    parseDigest(digest);
    const action = `delete manifest ${repo}@${digest}`;
    const res = await this.#maybeRetrying(opts, action, () =>
      this.#call(
        action,
        {
          method: "DELETE",
          url: this.#url(repo, "manifests", digest),
          scopes: [repositoryScope(repo, "delete"), repositoryScope(repo, "pull,push")],
        },
        [200, 202, 204],
        [404],
      ));
    await res.body?.cancel();
    return res.status !== 404;
  }

  /** Lists every tag of a repository (following `Link` pagination). */
  async listTags(repo: string): Promise<string[]> {
    const action = `list tags of ${repo}`;
    const tags: string[] = [];
    let url: string | undefined = this.#url(repo, "tags", "list");
    for (let page = 0; url && page < 10_000; page++) {
      const pageUrl: string = url;
      const { res, bytes } = await this.#exchange(
        action,
        {
          method: "GET",
          url: pageUrl,
          scopes: [repositoryScope(repo, "pull")],
        },
        [200],
        [],
        64 << 20,
      );
      const body = JSON.parse(new TextDecoder().decode(bytes));
      if (Array.isArray(body?.tags)) tags.push(...body.tags);
      url = nextLink(res.headers.get("link"), pageUrl);
    }
    return tags;
  }

  // -------------------------------------------------------------------- blobs

  /** HEADs a blob: its size, or `undefined` when it does not exist. */
  async headBlob(repo: string, digest: string): Promise<number | undefined> {
    const action = `check blob ${repo}@${digest}`;
    const res = await this.#retrying(action, () =>
      this.#call(
        action,
        {
          method: "HEAD",
          url: this.#url(repo, "blobs", digest),
          scopes: [repositoryScope(repo, "pull")],
        },
        [200],
        [404],
      ));
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    const size = Number(res.headers.get("content-length") ?? NaN);
    return Number.isFinite(size) ? size : -1;
  }

  /** Downloads a whole (small) blob, verified against its digest and size. */
  async getBlob(repo: string, desc: { digest: string; size?: number }): Promise<Uint8Array> {
    const action = `get blob ${repo}@${desc.digest}`;
    return await this.#retrying(action, async () => {
      const res = await this.#call(action, {
        method: "GET",
        url: this.#url(repo, "blobs", desc.digest),
        scopes: [repositoryScope(repo, "pull")],
      }, [200]);
      const bytes = await this.#readBody(res, action, desc.size ?? Number.MAX_SAFE_INTEGER);
      this.#verify(bytes, desc, `blob ${repo}@${desc.digest}`);
      return bytes;
    });
  }

  /**
   * Streams a blob from byte `offset`. The stream passes the response
   * chunks through (nothing is buffered beyond one chunk) and, when the
   * connection drops, resumes with a `Range` request where it stopped.
   * Not verified here: the consumer hashes what it reads.
   */
  async openBlob(
    repo: string,
    digest: string,
    opts: { size?: number; offset?: number } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    return ReadableStream.from(await this.blobChunks(repo, digest, opts));
  }

  /**
   * {@link RegistryClient.openBlob} as an async generator (no stream layer
   * of its own between the response body and the consumer). The request is
   * made before this resolves, so a missing blob fails here.
   */
  async blobChunks(
    repo: string,
    digest: string,
    opts: { size?: number; offset?: number } = {},
  ): Promise<AsyncGenerator<Uint8Array>> {
    const action = `get blob ${repo}@${digest}`;
    const open = (from: number) =>
      this.#retrying(action, async () => {
        const res = await this.#call(action, {
          method: "GET",
          url: this.#url(repo, "blobs", digest),
          headers: from > 0 ? { range: `bytes=${from}-` } : undefined,
          scopes: [repositoryScope(repo, "pull")],
        }, [200, 206]);
        const skip = from > 0 && res.status === 200 ? from : 0;
        return skipBytes(res.body ?? emptyStream(), skip).getReader();
      });
    let received = opts.offset ?? 0;
    const total = opts.size;
    let reader = await open(received);
    // deno-lint-ignore no-this-alias
    const self = this;
    return (async function* () {
      let failures = 0;
      try {
        for (;;) {
          let problem: unknown;
          try {
            const { done, value } = await reader.read();
            if (!done) {
              // Data is flowing again: a resume that makes progress starts
              // the count of consecutive failures afresh.
              if (value.length > 0) failures = 0;
              received += value.length;
              if (total !== undefined && received > total) {
                throw new BadInputError(
                  `${self.registry}: blob ${repo}@${digest} is larger than its size ${total}`,
                );
              }
              yield value;
              continue;
            }
            if (total === undefined || received >= total) return;
            problem = new Error(`connection closed at byte ${received} of ${total}`);
          } catch (e) {
            if (e instanceof BadInputError || e instanceof RegistryError) throw e;
            problem = e;
          }
          if (self.#expired()) throw self.#timeoutError(action);
          failures++;
          if (failures > self.#policy.maxRetries) {
            throw new RegistryError(
              `${self.registry}: ${action}: download failed at byte ${received}: ${
                networkReason(problem, !!self.#opts.plainHttp)
              }`,
            );
          }
          self.#debug(`http retry ${action} from byte ${received}`);
          await self.#pause(backoffDelayMs(failures, undefined, self.#policy), action);
          reader = await open(received);
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
    })();
  }

  /** Reads bytes `[start, end)` of a blob with a `Range` request. */
  async getBlobRange(
    repo: string,
    digest: string,
    start: number,
    end: number,
  ): Promise<Uint8Array> {
    if (!(start >= 0 && end >= start)) {
      throw new BadInputError(`invalid byte range [${start}, ${end})`);
    }
    if (end === start) return new Uint8Array(0);
    const action = `get bytes ${start}-${end - 1} of blob ${repo}@${digest}`;
    return await this.#retrying(action, async () => {
      const res = await this.#call(action, {
        method: "GET",
        url: this.#url(repo, "blobs", digest),
        headers: { range: `bytes=${start}-${end - 1}` },
        scopes: [repositoryScope(repo, "pull")],
      }, [200, 206]);
      const want = end - start;
      const skip = res.status === 200 ? start : 0;
      const out = new Uint8Array(want);
      let have = 0;
      const reader = skipBytes(res.body ?? emptyStream(), skip).getReader();
      try {
        while (have < want) {
          const { done, value } = await reader.read();
          if (done) break;
          const n = Math.min(value.length, want - have);
          out.set(value.subarray(0, n), have);
          have += n;
        }
      } catch (e) {
        throw new TransientError(
          `${this.registry}: ${action}: ${networkReason(e, !!this.#opts.plainHttp)}`,
        );
      } finally {
        await reader.cancel().catch(() => {});
      }
      if (have < want) {
        throw new BadInputError(
          `${this.registry}: ${action}: the blob ended after ${start + have} bytes`,
        );
      }
      return out;
    });
  }

  /**
   * Uploads a blob. In-memory bytes up to `monolithicMaxBytes` go in one
   * POST+PUT, bigger ones in PATCH chunks; the whole upload is retried on
   * transient failures. A stream (of known size) is sent in chunks of
   * `chunkSize` (each held in memory while sent) and is not retried.
   */
  async uploadBlob(
    repo: string,
    desc: { digest: string; size: number },
    data: Uint8Array | ReadableStream<Uint8Array>,
  ): Promise<void> {
    parseDigest(desc.digest);
    const action = `upload blob ${repo}@${desc.digest}`;
    const chunkSize = Math.max(1, this.#opts.chunkSize ?? 8 * 1024 * 1024);
    if (data instanceof Uint8Array) {
      if (data.length !== desc.size) {
        throw new BadInputError(`${action}: ${data.length} bytes given for size ${desc.size}`);
      }
      const mono = data.length <= (this.#opts.monolithicMaxBytes ?? 32 * 1024 * 1024);
      await this.#retrying(action, async () => {
        const start = await this.#startUpload(repo, action);
        if (mono) {
          await this.#finishUpload(start.location, desc.digest, data, repo, action);
        } else {
          const step = Math.max(chunkSize, start.minChunk);
          let location = start.location;
          for (let off = 0; off < data.length; off += step) {
            const chunk = data.subarray(off, Math.min(data.length, off + step));
            location = await this.#patch(location, off, chunk, repo, action);
          }
          await this.#finishUpload(location, desc.digest, undefined, repo, action);
        }
      });
      return;
    }
    // Streams cannot be replayed: no retries past this point.
    const start = await this.#retrying(action, () => this.#startUpload(repo, action));
    const step = Math.max(chunkSize, start.minChunk);
    let location = start.location;
    let offset = 0;
    const reader = data.getReader();
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = async (final: boolean) => {
      const chunk = concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      if (final && offset === 0) {
        await this.#once(
          action,
          () => this.#finishUpload(location, desc.digest, chunk, repo, action),
        );
        return;
      }
      if (chunk.length > 0) {
        location = await this.#once(
          action,
          () => this.#patch(location, offset, chunk, repo, action),
        );
        offset += chunk.length;
      }
      if (final) {
        await this.#once(
          action,
          () => this.#finishUpload(location, desc.digest, undefined, repo, action),
        );
      }
    };
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let v = value;
        while (v.length > 0) {
          const take = Math.min(v.length, step - pendingBytes);
          pending.push(v.subarray(0, take));
          pendingBytes += take;
          v = v.subarray(take);
          if (pendingBytes === step) await flush(false);
        }
      }
      if (offset + pendingBytes !== desc.size) {
        throw new BadInputError(
          `${action}: the stream gave ${offset + pendingBytes} bytes for size ${desc.size}`,
        );
      }
      await flush(true);
    } catch (e) {
      await reader.cancel().catch(() => {});
      await this.#cancelUpload(location);
      throw e;
    }
  }

  /**
   * Mounts a blob from another repository of the same registry. True when
   * mounted; false when the registry declined (the upload it opened
   * instead is cancelled).
   */
  async mountBlob(repo: string, digest: string, fromRepo: string): Promise<boolean> {
    parseDigest(digest);
    const action = `mount blob ${digest} from ${fromRepo} into ${repo}`;
    const url = new URL(`${this.baseUrl}/v2/${repo}/blobs/uploads/`);
    url.searchParams.set("mount", digest);
    url.searchParams.set("from", fromRepo);
    const res = await this.#retrying(action, () =>
      this.#call(action, {
        method: "POST",
        url: url.href,
        scopes: [repositoryScope(repo, "pull,push"), repositoryScope(fromRepo, "pull")],
      }, [201, 202]));
    await res.body?.cancel();
    if (res.status === 201) return true;
    const location = res.headers.get("location");
    if (location) await this.#cancelUpload(new URL(location, this.baseUrl).href);
    return false;
  }

  // ---------------------------------------------------------------- referrers

  /**
   * Lists the referrers of `subjectDigest` (F§11.2): the referrers API
   * first; a 404 that is not `NAME_UNKNOWN` (or a non-index answer) marks
   * the API unsupported for this client and the `sha256-<hex>` fallback
   * tag is read instead. Filtered by `artifactType` when given (unless the
   * server says it already filtered).
   */
  async listReferrers(
    repo: string,
    subjectDigest: string,
    artifactType?: string,
  ): Promise<ReferrersListing> {
    parseDigest(subjectDigest);
    const action = `list referrers of ${repo}@${subjectDigest}`;
    if (this.#referrers !== "unsupported") {
      const found = await this.#referrersByApi(repo, subjectDigest, artifactType, action);
      if (found) return { manifests: found, via: "api" };
    }
    const index = await this.getFallbackIndex(repo, subjectDigest);
    const manifests = (index?.index.manifests ?? []).filter((d) =>
      artifactType === undefined || d.artifactType === artifactType
    );
    return { manifests, via: "tag" };
  }

  /**
   * Asks the referrers API only (no fallback tag): the referrers of
   * `subjectDigest` filtered by `artifactType`, or `undefined` when the
   * registry has no referrers API (which {@link referrersSupport} then
   * records). Once the API is known to be missing, nothing is sent.
   */
  async referrersApi(
    repo: string,
    subjectDigest: string,
    artifactType?: string,
  ): Promise<Descriptor[] | undefined> {
    parseDigest(subjectDigest);
    if (this.#referrers === "unsupported") return undefined;
    const action = `list referrers of ${repo}@${subjectDigest}`;
    return await this.#referrersByApi(repo, subjectDigest, artifactType, action);
  }

  /**
   * Reads the fallback referrers index at tag `sha256-<hex>` of the
   * subject: `undefined` when the tag does not exist. A missing repository
   * is an error (`NAME_UNKNOWN`).
   */
  async getFallbackIndex(
    repo: string,
    subjectDigest: string,
  ): Promise<{ index: ImageIndex; digest: string; bytes: Uint8Array } | undefined> {
    const tag = fallbackTag(subjectDigest);
    const action = `get manifest ${repo}:${tag}`;
    const { res, bytes } = await this.#exchange(
      action,
      {
        method: "GET",
        url: this.#url(repo, "manifests", tag),
        headers: {
          accept: [OCI_INDEX, ...MANIFEST_ACCEPT.filter((t) => t !== OCI_INDEX)].join(", "),
        },
        scopes: [repositoryScope(repo, "pull")],
      },
      [200],
      [404],
      MAX_MANIFEST_BYTES,
    );
    if (res.status === 404) {
      const info = parseErrorBody(new TextDecoder().decode(bytes));
      if (info.code === "NAME_UNKNOWN") throw this.#statusError(action, res, info);
      return undefined;
    }
    let index: ImageIndex;
    try {
      index = decodeIndex(bytes);
    } catch (e) {
      throw new BadInputError(
        `${this.registry}: ${repo}:${tag} is not a referrers index: ${(e as Error).message}`,
      );
    }
    return { index, digest: digestOf(bytes), bytes };
  }

  async #referrersByApi(
    repo: string,
    subject: string,
    artifactType: string | undefined,
    action: string,
  ): Promise<Descriptor[] | undefined> {
    const first = new URL(`${this.baseUrl}/v2/${repo}/referrers/${subject}`);
    if (artifactType) first.searchParams.set("artifactType", artifactType);
    const out: Descriptor[] = [];
    let url: string | undefined = first.href;
    for (let page = 0; url && page < 10_000; page++) {
      const pageUrl: string = url;
      const { res, bytes } = await this.#exchange(
        action,
        {
          method: "GET",
          url: pageUrl,
          headers: { accept: OCI_INDEX },
          scopes: [repositoryScope(repo, "pull")],
        },
        [200],
        [404],
        MAX_MANIFEST_BYTES,
      );
      if (res.status === 404) {
        const info = parseErrorBody(new TextDecoder().decode(bytes));
        if (info.code === "NAME_UNKNOWN") throw this.#statusError(action, res, info);
        this.#referrers = "unsupported";
        return undefined;
      }
      if (baseType(res.headers.get("content-type")) !== OCI_INDEX) {
        this.#referrers = "unsupported";
        return undefined;
      }
      this.#referrers = "supported";
      let index: ImageIndex;
      try {
        index = decodeIndex(bytes);
      } catch (e) {
        throw new BadInputError(`${this.registry}: ${action}: ${(e as Error).message}`);
      }
      const applied = (res.headers.get("oci-filters-applied") ?? "").split(",").map((s) =>
        s.trim()
      );
      const annotated = index.annotations?.["org.opencontainers.referrers.filtersApplied"] ?? "";
      const filtered = applied.includes("artifactType") ||
        annotated.split(",").map((s) => s.trim()).includes("artifactType");
      for (const d of index.manifests ?? []) {
        if (!artifactType || filtered || d.artifactType === artifactType) out.push(d);
      }
      url = nextLink(res.headers.get("link"), pageUrl);
    }
    return out;
  }

  // ---------------------------------------------------------------- internals

  #url(repo: string, kind: "manifests" | "blobs" | "tags", ref: string): string {
    return `${this.baseUrl}/v2/${repo}/${kind}/${ref}`;
  }

  #debug(line: string): void {
    this.#opts.debug?.(line);
  }

  #expired(): boolean {
    return this.#deadline !== undefined && Date.now() >= this.#deadline;
  }

  #timeoutError(action: string): RegistryError {
    return new RegistryError(
      `${this.registry}: ${action}: timed out after ${this.#opts.timeoutMs} ms`,
    );
  }

  async #pause(ms: number, action: string): Promise<void> {
    if (this.#deadline !== undefined && Date.now() + ms >= this.#deadline) {
      throw this.#timeoutError(action);
    }
    await sleep(ms);
  }

  #verify(bytes: Uint8Array, desc: { digest: string; size?: number }, what: string): void {
    if (desc.size !== undefined && bytes.length !== desc.size) {
      throw new BadInputError(
        `${this.registry}: ${what}: got ${bytes.length} bytes, expected ${desc.size}`,
      );
    }
    const got = digestOf(bytes, desc.digest);
    if (got !== desc.digest) {
      throw new BadInputError(`${this.registry}: ${what}: content has digest ${got}`);
    }
  }

  /** One fetch with the client's TLS settings, deadline and debug trace. */
  async #rawFetch(url: string, init: RequestInit, action: string): Promise<Response> {
    if (this.#expired()) throw this.#timeoutError(action);
    const signal = this.#deadline !== undefined
      ? AbortSignal.timeout(Math.max(1, this.#deadline - Date.now()))
      : undefined;
    this.#debug(`http req ${init.method ?? "GET"} ${redactUrl(url)}`);
    try {
      const res = await fetch(url, {
        ...init,
        redirect: "manual",
        signal,
        ...(this.#http ? { client: this.#http } : {}),
      } as RequestInit);
      this.#debug(`http res ${res.status} ${res.statusText}`.trimEnd());
      return res;
    } catch (e) {
      if (signal?.aborted || this.#expired()) {
        this.#debug(`http err timeout`);
        throw this.#timeoutError(action);
      }
      const reason = networkReason(e, !!this.#opts.plainHttp);
      this.#debug(`http err ${reason}`);
      throw new TransientError(`cannot reach registry ${this.registry}: ${reason}`);
    }
  }

  /**
   * One exchange: authorization, one re-authentication on 401, redirects
   * for GET/HEAD (credentials are not sent to another origin). Statuses in
   * `ok` or `allowed` are returned; retryable statuses become
   * TransientErrors; others RegistryErrors.
   */
  async #call(
    action: string,
    ex: Exchange,
    ok: number[],
    allowed: number[] = [],
  ): Promise<Response> {
    const replayable = !(ex.body instanceof ReadableStream);
    let reauthed = false;
    for (;;) {
      const headers: Record<string, string> = { ...ex.headers };
      const authorization = await this.#auth.header(ex.scopes);
      if (authorization) headers.authorization = authorization;
      const init: RequestInit = { method: ex.method, headers, body: ex.body as BodyInit };
      let res = await this.#rawFetch(ex.url, init, action);
      if (res.status === 401 && !reauthed && replayable) {
        const challenge = res.headers.get("www-authenticate");
        const text = await res.text().catch(() => "");
        if (await this.#auth.challenge(challenge, ex.scopes)) {
          reauthed = true;
          continue;
        }
        return this.#fail(action, res, text, true);
      }
      if ((ex.method === "GET" || ex.method === "HEAD") && isRedirect(res.status)) {
        res = await this.#followRedirects(res, ex, headers, action);
      }
      if (ok.includes(res.status) || allowed.includes(res.status)) return res;
      return this.#fail(action, res);
    }
  }

  async #followRedirects(
    first: Response,
    ex: Exchange,
    headers: Record<string, string>,
    action: string,
  ): Promise<Response> {
    let res = first;
    let url = ex.url;
    for (let hop = 0; hop < MAX_REDIRECTS && isRedirect(res.status); hop++) {
      const location = res.headers.get("location");
      await res.body?.cancel();
      if (!location) return res;
      const next = new URL(location, url);
      const sameOrigin = next.origin === new URL(url).origin;
      const h: Record<string, string> = { ...headers };
      if (!sameOrigin) delete h.authorization;
      url = next.href;
      res = await this.#rawFetch(url, { method: ex.method, headers: h }, action);
    }
    return res;
  }

  async #fail(action: string, res: Response, body?: string, auth = false): Promise<never> {
    const text = body ?? (await res.text().catch(() => ""));
    const info = parseErrorBody(text);
    if (isRetryableStatus(res.status)) {
      throw new TransientError(
        this.#statusError(action, res, info).message,
        parseRetryAfter(res.headers.get("retry-after")),
        res.status,
      );
    }
    const err = this.#statusError(action, res, info);
    if (auth || res.status === 401) {
      const hint = this.#auth.hasCredentials
        ? " (the credentials were refused)"
        : " (no credentials: use --user or log in with the docker config)";
      throw new RegistryError(err.message + hint, { status: res.status, code: err.code });
    }
    throw err;
  }

  #statusError(action: string, res: Response, info: { code?: string; message?: string }) {
    let msg = `${this.registry}: ${action}: ${res.status}`;
    if (res.statusText) msg += ` ${res.statusText}`;
    if (info.code) msg += `: ${info.code}`;
    if (info.message) msg += `: ${info.message}`;
    if (
      this.#opts.plainHttp && res.status === 400 && /HTTP request to an HTTPS server/i.test(
        info.message ?? "",
      )
    ) {
      msg += " (the registry speaks HTTPS: drop --plain-http)";
    }
    return new RegistryError(oneLine(msg, 400), { status: res.status, code: info.code });
  }

  /** A retried exchange whose body (up to `limit` bytes) is read inside the retry. */
  #exchange(
    action: string,
    ex: Exchange,
    ok: number[],
    allowed: number[],
    limit: number,
  ): Promise<{ res: Response; bytes: Uint8Array }> {
    return this.#retrying(action, async () => {
      const res = await this.#call(action, ex, ok, allowed);
      return { res, bytes: await this.#readBody(res, action, limit) };
    });
  }

  /** Runs `fn`, retrying TransientErrors with backoff within the budget. */
  async #retrying<T>(action: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0;; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof TransientError)) throw e;
        if (attempt >= this.#policy.maxRetries) {
          throw new RegistryError(e.message, { status: e.status });
        }
        const delay = backoffDelayMs(attempt + 1, e.retryAfterMs, this.#policy);
        this.#debug(`http retry ${action} in ${delay} ms`);
        await this.#pause(delay, action);
      }
    }
  }

  /** Runs `fn` once; a TransientError becomes a TransientRegistryError. */
  async #once<T>(_action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof TransientError) {
        throw new TransientRegistryError(e.message, e.status, e.retryAfterMs);
      }
      throw e;
    }
  }

  /** {@link RegistryClient.#retrying} unless `opts.retry` is false, else {@link RegistryClient.#once}. */
  #maybeRetrying<T>(opts: RequestOptions, action: string, fn: () => Promise<T>): Promise<T> {
    return opts.retry === false ? this.#once(action, fn) : this.#retrying(action, fn);
  }

  async #readBody(res: Response, action: string, limit: number): Promise<Uint8Array> {
    const declared = Number(res.headers.get("content-length") ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      await res.body?.cancel();
      throw new BadInputError(
        `${this.registry}: ${action}: response of ${declared} bytes is larger than expected (${limit})`,
      );
    }
    const parts: Uint8Array[] = [];
    let total = 0;
    if (res.body) {
      const reader = res.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          total += value.length;
          if (total > limit) {
            throw new BadInputError(
              `${this.registry}: ${action}: response is larger than expected (${limit} bytes)`,
            );
          }
          parts.push(value);
        }
      } catch (e) {
        await reader.cancel().catch(() => {});
        if (e instanceof BadInputError) throw e;
        if (this.#expired()) throw this.#timeoutError(action);
        throw new TransientError(
          `${this.registry}: ${action}: ${networkReason(e, !!this.#opts.plainHttp)}`,
        );
      }
    }
    return concat(parts, total);
  }

  async #startUpload(
    repo: string,
    action: string,
  ): Promise<{ location: string; minChunk: number }> {
    const res = await this.#call(action, {
      method: "POST",
      url: `${this.baseUrl}/v2/${repo}/blobs/uploads/`,
      scopes: [repositoryScope(repo, "pull,push")],
    }, [202]);
    await res.body?.cancel();
    const location = res.headers.get("location");
    if (!location) {
      throw new RegistryError(`${this.registry}: ${action}: the registry sent no upload location`);
    }
    const minChunk = Number(res.headers.get("oci-chunk-min-length") ?? 0) || 0;
    return { location: new URL(location, this.baseUrl).href, minChunk };
  }

  async #patch(
    location: string,
    offset: number,
    chunk: Uint8Array,
    repo: string,
    action: string,
  ): Promise<string> {
    const res = await this.#call(action, {
      method: "PATCH",
      url: location,
      headers: {
        "content-type": "application/octet-stream",
        "content-range": `${offset}-${offset + chunk.length - 1}`,
      },
      body: chunk,
      scopes: [repositoryScope(repo, "pull,push")],
    }, [202, 204]);
    await res.body?.cancel();
    const next = res.headers.get("location");
    return next ? new URL(next, location).href : location;
  }

  async #finishUpload(
    location: string,
    digest: string,
    body: Uint8Array | undefined,
    repo: string,
    action: string,
  ): Promise<void> {
    const url = new URL(location);
    url.searchParams.set("digest", digest);
    const res = await this.#call(action, {
      method: "PUT",
      url: url.href,
      headers: { "content-type": "application/octet-stream" },
      body: body ?? new Uint8Array(0),
      scopes: [repositoryScope(repo, "pull,push")],
    }, [201, 204]);
    await res.body?.cancel();
  }

  async #cancelUpload(location: string): Promise<void> {
    try {
      const res = await this.#rawFetch(location, {
        method: "DELETE",
        headers: await this.#authHeaders(location),
      }, "cancel upload");
      await res.body?.cancel();
    } catch {
      // best effort: the registry purges abandoned uploads itself
    }
  }

  async #authHeaders(location: string): Promise<Record<string, string>> {
    const m = /\/v2\/(.+?)\/blobs\/uploads\//.exec(new URL(location).pathname);
    const h = m ? await this.#auth.header([repositoryScope(m[1], "pull,push")]) : undefined;
    return h ? { authorization: h } : {};
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function nextLink(header: string | null, base: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(",")) {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return new URL(m[1], base).href;
  }
  return undefined;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0].length === total) return parts[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}

/** Drops the first `n` bytes of a stream (for servers that ignore `Range`). */
function skipBytes(stream: ReadableStream<Uint8Array>, n: number): ReadableStream<Uint8Array> {
  if (n <= 0) return stream;
  let left = n;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (left >= chunk.length) {
          left -= chunk.length;
          return;
        }
        controller.enqueue(left > 0 ? chunk.subarray(left) : chunk);
        left = 0;
      },
    }),
  );
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
