/**
 * `docker://HOST/REPO:TAG` as a destination: a repository of a registry.
 * Layers read for their scans are uploaded from the same bytes, while
 * they are read ({@link RegistryWriter.openBlob}, a streaming
 * `BlobUpload`); blobs of another repository of the same registry are
 * mounted instead of uploaded; the rest goes with `copyGraph` (leaves
 * first, manifests by digest), and the tag is moved last. On failure,
 * what this writer put is deleted again where the registry allows it.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import {
  DOCKER_TRANSPORT,
  type DockerReference,
  formatReference,
  parseDockerReference,
} from "../oci/reference.ts";
import { RegistryClient, type RegistryClientOptions } from "../registry/client.ts";
import { copyGraph } from "../registry/copy_graph.ts";
import { type CredentialOptions, resolveCredentials } from "../registry/credentials.ts";
import type { BlobSink, CommitImageOptions, ContentFetcher, ImageWriter } from "./writer.ts";
import { isDocument } from "./writer.ts";

/** Upstream's text for a destination that is not `registry/repository:tag`. */
const NOT_TAGGED =
  'the destination image must be a tagged ref of the form "registry/repository:tag"';

/**
 * Parses a registry destination: it must name a host and carry a tag and
 * no digest (upstream's rule and message, `soci-cli.md` §6.1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDestination } from "./registry_writer.ts";
 * assert.equal(parseDestination("docker://127.0.0.1:5000/app:v2").tag, "v2");
 * assert.throws(() => parseDestination("docker://127.0.0.1:5000/app"), /reference must be tagged/);
 * ```
 */
export function parseDestination(reference: string): DockerReference & { tag: string } {
  let ref: DockerReference;
  try {
    ref = parseDockerReference(reference);
  } catch (e) {
    throw new BadInputError(`${NOT_TAGGED}: could not parse reference: ${(e as Error).message}`);
  }
  if (ref.digest !== undefined) {
    throw new BadInputError(`${NOT_TAGGED}: reference must not contain a digest`);
  }
  if (ref.tag === undefined) throw new BadInputError(`${NOT_TAGGED}: reference must be tagged`);
  return ref as DockerReference & { tag: string };
}

/** Options of {@link RegistryWriter.open}. */
export interface RegistryWriterOptions extends RegistryClientOptions, CredentialOptions {
  /** A client for the destination's registry (e.g. the source's, same host). */
  client?: RegistryClient;
  /** A repository of the same registry to mount blobs from (the source's). */
  mountFrom?: string;
  /** Blobs and manifests sent at once by the final copy (default 3). */
  concurrency?: number;
}

/**
 * A registry repository as a destination (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RegistryWriter } from "./registry_writer.ts";
 * const dir = await Deno.makeTempDir();
 * const w = await RegistryWriter.open("docker://127.0.0.1:5000/team/app:v1-soci",
 *   { plainHttp: true, configDir: dir });
 * assert.equal(w.storeName, "127.0.0.1:5000/team/app:v1-soci");
 * assert.equal(w.allowsPartial, false);
 * await w.close();
 * await Deno.remove(dir);
 * ```
 */
export class RegistryWriter implements ImageWriter {
  /** The destination as written. */
  readonly reference: string;
  /** `host/repo:tag`. */
  readonly storeName: string;
  /** The destination itself: its layers can be read from there. */
  readonly layerSource: string;
  /** A registry refuses an index whose manifests it lacks. */
  readonly allowsPartial = false;
  /** The parsed destination. */
  readonly ref: DockerReference & { tag: string };
  /** The client used for every request. */
  readonly client: RegistryClient;
  readonly #ownsClient: boolean;
  readonly #mountFrom?: string;
  readonly #concurrency?: number;
  /** What this writer added (for abort): blobs and manifests by digest. */
  #blobs = new Set<string>();
  #manifests = new Set<string>();
  #committed = false;

  private constructor(
    reference: string,
    ref: DockerReference & { tag: string },
    client: RegistryClient,
    ownsClient: boolean,
    options: RegistryWriterOptions,
  ) {
    this.reference = reference;
    this.ref = ref;
    this.storeName = formatReference(ref);
    this.layerSource = DOCKER_TRANSPORT + this.storeName;
    this.client = client;
    this.#ownsClient = ownsClient;
    this.#mountFrom = options.mountFrom !== ref.repository ? options.mountFrom : undefined;
    this.#concurrency = options.concurrency;
  }

  /**
   * A writer for `reference` (checked by {@link parseDestination} first).
   * Credentials are resolved as for `push` unless a client is given.
   */
  static async open(
    reference: string,
    options: RegistryWriterOptions = {},
  ): Promise<RegistryWriter> {
    const ref = parseDestination(reference);
    if (options.client) {
      if (options.client.registry !== ref.registry) {
        throw new BadInputError(
          `client for ${options.client.registry} cannot write to ${ref.registry}`,
        );
      }
      return new RegistryWriter(reference, ref, options.client, false, options);
    }
    const credentials = options.credentials ?? (await resolveCredentials(ref.registry, options));
    const client = new RegistryClient(ref.registry, { ...options, credentials });
    return new RegistryWriter(reference, ref, client, true, options);
  }

  /** The repository path. */
  get repository(): string {
    return this.ref.repository;
  }

  /** HEADs the manifest or blob. */
  async has(desc: Descriptor): Promise<boolean> {
    if (isDocument(desc)) {
      return (await this.client.manifests.head(this.repository, desc.digest)) !== undefined;
    }
    return (await this.client.blobs.head(this.repository, desc.digest)) !== undefined;
  }

  /** True when the repository has the blob, or got it by a cross-repository mount. */
  async obtain(desc: Descriptor): Promise<boolean> {
    if (await this.has(desc)) return true;
    if (this.#mountFrom && !isDocument(desc)) {
      if (await this.client.blobs.mount(this.repository, desc.digest, this.#mountFrom)) {
        this.#blobs.add(desc.digest);
        return true;
      }
    }
    return false;
  }

  /** An upload fed with the bytes as they are read (back-pressure from the network). */
  async openBlob(desc: Descriptor): Promise<BlobSink> {
    const up = await this.client.blobs.startUpload(this.repository);
    return {
      write: (chunk) => up.write(chunk),
      commit: async () => {
        await up.commit(desc.digest, desc.size);
        this.#blobs.add(desc.digest);
      },
      abort: () => up.cancel(),
    };
  }

  /** `copyGraph` of what the repository lacks (mounting from the source's repository), then the tag. */
  async commit(
    root: Descriptor,
    fetch: ContentFetcher,
    options: CommitImageOptions = {},
  ): Promise<void> {
    await copyGraph(this.client, this.repository, root, fetch, {
      concurrency: this.#concurrency,
      mountFrom: this.#mountFrom,
      tag: this.ref.tag,
      onEvent: (e) => {
        if (e.kind === "copied" || e.kind === "mounted") {
          (isDocument(e.desc) ? this.#manifests : this.#blobs).add(e.desc.digest);
        }
        if (e.kind === "skipped") options.onEvent?.({ kind: "skipped", desc: e.desc });
        else if (e.kind === "copied") options.onEvent?.({ kind: "written", desc: e.desc });
        else if (e.kind === "mounted") options.onEvent?.({ kind: "mounted", desc: e.desc });
        else if (e.kind === "tagged") options.onEvent?.({ kind: "tagged", desc: e.desc });
      },
    });
    this.#committed = true;
  }

  /**
   * Deletes what this writer put, best effort (manifests first, then
   * blobs): registries that refuse deletes keep unreferenced blobs, which
   * nothing names and their garbage collection removes.
   */
  async abort(): Promise<void> {
    if (this.#committed) return;
    for (const d of [...this.#manifests].reverse()) {
      await this.client.manifests.delete(this.repository, d, { retry: false }).catch(() => {});
    }
    for (const d of this.#blobs) {
      await this.client.blobs.delete(this.repository, d).catch(() => {});
    }
    this.#manifests.clear();
    this.#blobs.clear();
  }

  /** Closes the client when this writer made it. */
  close(): Promise<void> {
    if (this.#ownsClient) this.client.close();
    return Promise.resolve();
  }
}
