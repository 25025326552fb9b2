/**
 * An image in a registry, named `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`.
 * Layers are streamed straight from the registry (nothing written to disk,
 * at most one response chunk held), manifests and configs are verified
 * against their digests, ranges use HTTP `Range` requests.
 *
 * @module
 */
import { NotFoundError, RegistryError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isIndexType, isManifestType } from "../oci/media_types.ts";
import {
  DOCKER_TRANSPORT,
  type DockerReference,
  formatReference,
  parseDockerReference,
  referenceTarget,
  withDefaultTag,
} from "../oci/reference.ts";
import { RegistryClient, type RegistryClientOptions } from "../registry/client.ts";
import { type CredentialOptions, resolveCredentials } from "../registry/credentials.ts";
import type { ImageSource } from "./source.ts";

/** Options of {@link RegistrySource}: a ready client, or how to make one. */
export interface RegistrySourceOptions extends RegistryClientOptions {
  /** A client for the reference's registry to use instead of making one. */
  client?: RegistryClient;
}

function notFound(e: unknown, what: string): unknown {
  if (e instanceof RegistryError && e.status === 404) {
    return new NotFoundError(`${what}: not found (${e.message})`, { cause: e });
  }
  return e;
}

/**
 * `ImageSource` over a registry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RegistrySource } from "./registry_source.ts";
 * const src = new RegistrySource("docker://127.0.0.1:5000/team/app:v1", { plainHttp: true });
 * assert.ok(src.storeName === "127.0.0.1:5000/team/app:v1");
 * assert.ok(src.repository === "team/app");
 * await src.close();
 * ```
 */
export class RegistrySource implements ImageSource {
  /** The reference as given. */
  readonly reference: string;
  /** `host[:port]/repo:tag` (or `@digest`); `:latest` when neither was written. */
  readonly storeName: string;
  /** The parsed reference. */
  readonly ref: DockerReference;
  /** The repository path inside the registry. */
  readonly repository: string;
  /** The client used for every request. */
  readonly client: RegistryClient;
  readonly #ownsClient: boolean;
  #manifests = new Map<string, Uint8Array>();

  /**
   * Parses the reference (a `BadInputError` when malformed); no request is made.
   *
   * @param reference `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]` (the prefix is optional).
   * @param opts a client, or the options to make one.
   */
  constructor(reference: string, opts: RegistrySourceOptions = {}) {
    this.reference = reference;
    const ref = withDefaultTag(parseDockerReference(reference));
    this.ref = ref;
    this.repository = ref.repository;
    this.storeName = formatReference(ref);
    if (opts.client) {
      if (opts.client.registry !== ref.registry) {
        throw new RegistryError(
          `client for ${opts.client.registry} cannot serve ${formatReference(ref)}`,
        );
      }
      this.client = opts.client;
      this.#ownsClient = false;
    } else {
      this.client = new RegistryClient(ref.registry, opts);
      this.#ownsClient = true;
    }
  }

  /**
   * Makes a source whose credentials are resolved like `soci push` does
   * (`--user`, else the Docker config and its helpers, else anonymous).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { RegistrySource } from "./registry_source.ts";
   * const dir = await Deno.makeTempDir();
   * const src = await RegistrySource.open("docker://127.0.0.1:5000/app:v1",
   *   { plainHttp: true, configDir: dir });
   * assert.ok(src.client.registry === "127.0.0.1:5000");
   * await src.close();
   * await Deno.remove(dir);
   * ```
   */
  static async open(
    reference: string,
    opts: RegistryClientOptions & CredentialOptions = {},
  ): Promise<RegistrySource> {
    const ref = parseDockerReference(reference);
    const credentials = opts.credentials ?? (await resolveCredentials(ref.registry, opts));
    return new RegistrySource(reference, { ...opts, credentials });
  }

  /**
   * The image's target descriptor (the manifest is fetched once, verified,
   * and kept for `fetchBytes`). `NotFoundError` when the registry has no
   * such image. `signal` stops the request (it fails with the signal's reason).
   */
  async resolve(signal?: AbortSignal): Promise<Descriptor> {
    const target = referenceTarget(this.ref);
    try {
      const m = await this.client.manifests.get(this.repository, target, undefined, { signal });
      this.#manifests.set(m.digest, m.bytes);
      return { mediaType: m.mediaType, digest: m.digest, size: m.size };
    } catch (e) {
      throw notFound(e, `image ${DOCKER_TRANSPORT}${this.storeName}`);
    }
  }

  /**
   * A manifest, index or config, verified against `desc.digest` and
   * `desc.size` (a mismatch is a `BadInputError` naming both digests).
   * `signal` stops the request.
   */
  async fetchBytes(desc: Descriptor, signal?: AbortSignal): Promise<Uint8Array> {
    const cached = this.#manifests.get(desc.digest);
    if (cached && cached.length === desc.size) return cached;
    try {
      if (isManifestType(desc.mediaType) || isIndexType(desc.mediaType)) {
        const m = await this.client.manifests.get(this.repository, desc.digest, undefined, {
          signal,
        });
        if (m.size !== desc.size) {
          throw new RegistryError(
            `${this.client.registry}: manifest ${desc.digest} has ${m.size} bytes, expected ${desc.size}`,
          );
        }
        return m.bytes;
      }
      return await this.client.blobs.get(this.repository, desc, { signal });
    } catch (e) {
      throw notFound(e, `blob ${desc.digest} of ${this.storeName}`);
    }
  }

  /**
   * Streams a blob from the registry (redirects followed, dropped
   * connections resumed with `Range`); not verified here. `signal` stops
   * the request and the stream.
   */
  async openBlob(desc: Descriptor, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    try {
      return await this.client.blobs.open(this.repository, desc.digest, {
        size: desc.size,
        signal,
      });
    } catch (e) {
      throw notFound(e, `blob ${desc.digest} of ${this.storeName}`);
    }
  }

  /**
   * Streams a blob straight from the response body (resumed when the
   * connection drops); `signal` stops it.
   */
  async *readChunks(desc: Descriptor, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    let chunks: AsyncGenerator<Uint8Array>;
    try {
      chunks = await this.client.blobs.chunks(this.repository, desc.digest, {
        size: desc.size,
        signal,
      });
    } catch (e) {
      throw notFound(e, `blob ${desc.digest} of ${this.storeName}`);
    }
    yield* chunks;
  }

  /**
   * Bytes `[start, end)` of a blob through an HTTP `Range` request, checked
   * against the range asked for and the blob's size; `signal` stops it.
   */
  async readRange(
    desc: Descriptor,
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    try {
      return await this.client.blobs.getRange(this.repository, desc.digest, start, end, {
        size: desc.size,
        signal,
      });
    } catch (e) {
      throw notFound(e, `blob ${desc.digest} of ${this.storeName}`);
    }
  }

  /** Closes the client when this source made it. */
  close(): Promise<void> {
    if (this.#ownsClient) this.client.close();
    return Promise.resolve();
  }
}
