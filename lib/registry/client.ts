/**
 * An OCI distribution API client for one registry host: the parts of the
 * API, each in its own module, over one shared {@link Transport}:
 *
 * - `client.blobs` ({@link Blobs}): head, verified get, streamed and
 *   ranged reads, uploads (whole, or fed chunk by chunk with
 *   `startUpload`), cross-repository mounts;
 * - `client.manifests` ({@link Manifests}): get (verified), head, put,
 *   delete, tags;
 * - `client.referrers` ({@link Referrers}): the referrers API and the
 *   `sha256-<hex>` fallback tag (`soci-format.md` §11.2).
 *
 * The transport does authentication (anonymous, Basic, Bearer tokens),
 * retries with backoff for idempotent work (429, 5xx, dropped connections,
 * honouring `Retry-After`), the total time budget and the `--debug` trace.
 * Errors are `RegistryError`s with one line naming the host, what was
 * being done, the HTTP status and the OCI error; credentials never appear
 * in errors or trace lines.
 *
 * TLS is on by default. Extra CA certificates can be given with `caCerts`
 * (PEM text) or, as for any Deno program, with the `DENO_CERT` environment
 * variable naming a PEM file.
 *
 * @module
 */
import { type BlobOptions, Blobs } from "./blobs.ts";
import { Manifests } from "./manifests.ts";
import { Referrers } from "./referrers.ts";
import { backoffDelayMs, type RetryPolicy } from "./retry.ts";
import { Transport, type TransportOptions } from "./transport.ts";

export type { FetchedManifest, PutManifestResult, RequestOptions } from "./manifests.ts";
export type { ReferrersListing, ReferrersSupport } from "./referrers.ts";

/** Options of a {@link RegistryClient}: transport, credentials, retries and upload tuning. */
export interface RegistryClientOptions extends TransportOptions, BlobOptions {}

/**
 * A client for one registry host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RegistryClient } from "./client.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true, timeoutMs: 30_000 });
 * assert.ok(client.baseUrl === "http://127.0.0.1:5000");
 * assert.ok(client.referrers.support === "unknown");
 * client.close();
 * ```
 */
export class RegistryClient {
  /** Registry host as written in references (`host[:port]`). */
  readonly registry: string;
  /** `http(s)://<api host>`: Docker Hub's `docker.io` maps to `registry-1.docker.io`. */
  readonly baseUrl: string;
  /** Blobs of this registry's repositories. */
  readonly blobs: Blobs;
  /** Manifests and tags of this registry's repositories. */
  readonly manifests: Manifests;
  /** Referrers listing (API or fallback tag), and whether the API exists. */
  readonly referrers: Referrers;
  readonly #t: Transport;

  /**
   * Makes a client; nothing is sent until the first request.
   *
   * @param registry the host (`host[:port]`) of a reference.
   * @param opts transport, credentials, retry and upload options.
   */
  constructor(registry: string, opts: RegistryClientOptions = {}) {
    this.#t = new Transport(registry, opts);
    this.registry = registry;
    this.baseUrl = this.#t.baseUrl;
    this.blobs = new Blobs(this.#t, opts);
    this.manifests = new Manifests(this.#t);
    this.referrers = new Referrers(this.#t);
  }

  /** How transient failures are retried (`maxRetries`, backoff delays). */
  get retryPolicy(): RetryPolicy {
    return { ...this.#t.policy };
  }

  /**
   * Waits before attempt number `attempt` (1-based) of work the caller
   * retries itself: the server's `Retry-After` when given, else the
   * client's exponential backoff. A `RegistryError` (timed out) when the
   * wait would pass the client's time budget.
   */
  async backoff(attempt: number, retryAfterMs: number | undefined, action: string): Promise<void> {
    const delay = backoffDelayMs(attempt, retryAfterMs, this.#t.policy);
    this.#t.trace(`http retry ${action} in ${delay} ms`);
    await this.#t.wait(delay, action);
  }

  /** Releases the TLS client (if `caCerts` were given). */
  close(): void {
    this.#t.close();
  }
}
