/**
 * `containerd:NAME` as a destination: an image record of containerd and
 * its content, written through containerd's gRPC API (upstream's
 * containerd-mode `convert`, `soci-cli.md` §6.1).
 *
 * * Everything is written inside one lease, made when the writer opens and
 *   deleted when it closes or aborts, so containerd's GC never takes a
 *   half-written image. Blobs containerd already has are not written
 *   again; they are added to the lease before they are relied on. The
 *   lease of a killed process expires after 24 h, or goes at once when the
 *   next writer opens and sees that its owner is gone (`lease_owner.ts`;
 *   needs `--allow-read=/proc`).
 * * Layers read for their scans stream into a content write as they are
 *   read ({@link ContainerdImageWriter.openBlob}), with back-pressure from
 *   containerd: no layer is held whole in memory.
 * * Documents carry the GC labels that keep their children once the lease
 *   is gone (`gc_labels.ts`): an OCI index `m.<i>` → its manifests and v2
 *   SOCI indexes, an image manifest `config` and `l.<i>`, a SOCI index
 *   `config` and `ztoc.<i>`. A document containerd already has gets the
 *   references it lacks ({@link missingGcLabels}).
 * * {@link ContainerdImageWriter.commit} writes what is missing leaves
 *   first, then creates the record, or, when it exists, moves only its
 *   target (its labels are kept): the name last, so a failure never leaves
 *   it on a half-written image. `<dest>` may be the source's own record
 *   (convert in place).
 *
 * The name is normalized as containerd and nerdctl do (`app` →
 * `docker.io/library/app:latest`); a record that exists only under the
 * name as written (names `ctr images import` makes) is updated under that
 * name, as sources look names up (`containerd_source.ts`).
 *
 * @module
 */
import { BadInputError, NotFoundError, SociError } from "../errors.ts";
import { ContainerdClient } from "../containerd/client.ts";
import { ContainerdContent } from "../containerd/content.ts";
import { documentGcLabels, missingGcLabels } from "../containerd/gc_labels.ts";
import { ContainerdImages } from "../containerd/images.ts";
import { ContainerdLeases } from "../containerd/leases.ts";
import { LEASE_OWNER_LABEL, leaseOwner, ownerGone } from "../containerd/lease_owner.ts";
import { normalizeImageName } from "../containerd/names.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import {
  CONTAINERD_TRANSPORT,
  containerdImageName,
  type ContainerdSourceOptions,
} from "./containerd_source.ts";
import {
  type BlobSink,
  chunksOf,
  type CommitImageOptions,
  type ContentFetcher,
  graphNodes,
  type ImageWriter,
  missingNode,
} from "./writer.ts";

/** The lease label that names the image a writer's lease is for. */
export const LEASE_WRITER_LABEL = "dev.soci-deno/image-writer";

/** Options of {@link ContainerdImageWriter.open}. */
export interface ContainerdWriterOptions extends ContainerdSourceOptions {
  /** The destination as the user wrote it (default: the reference given). */
  reference?: string;
  /** How long the lease lives if nobody deletes it (a killed process; default 24 h). */
  leaseExpiryMs?: number;
}

/**
 * Bytes handed from a writer (`write`) to a reader (the content write's
 * loop), one chunk at a time: `push` resolves once the reader has taken
 * the chunk and asks for the next one (so the chunk may be reused), or
 * when the reader has stopped.
 */
class ChunkHandoff implements AsyncIterable<Uint8Array> {
  #chunk?: Uint8Array;
  #taken?: () => void;
  #wake?: () => void;
  #ended = false;
  #failed?: unknown;
  #stopped = false;

  push(chunk: Uint8Array): Promise<void> {
    if (this.#stopped || chunk.length === 0) return Promise.resolve();
    if (this.#chunk !== undefined) {
      return Promise.reject(new SociError("a blob write was called before the last one ended"));
    }
    this.#chunk = chunk;
    const taken = new Promise<void>((resolve) => this.#taken = resolve);
    this.#signal();
    return taken;
  }

  end(): void {
    this.#ended = true;
    this.#signal();
  }

  fail(reason: unknown): void {
    this.#failed ??= reason;
    this.#signal();
  }

  /** The reader is gone: a pending chunk and later ones are dropped. */
  close(): void {
    this.#stopped = true;
    this.#release();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #release(): void {
    const taken = this.#taken;
    this.#taken = undefined;
    this.#chunk = undefined;
    taken?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        while (this.#chunk === undefined && !this.#ended && this.#failed === undefined) {
          await new Promise<void>((resolve) => this.#wake = resolve);
        }
        if (this.#failed !== undefined) throw this.#failed;
        if (this.#chunk === undefined) return;
        yield this.#chunk;
        this.#release();
      }
    } finally {
      this.#stopped = true;
      this.#release();
    }
  }
}

/** A content write fed by `write()` calls (see {@link ContainerdImageWriter.openBlob}). */
class ContentBlobSink implements BlobSink {
  readonly #handoff = new ChunkHandoff();
  readonly #done: Promise<unknown>;
  /** `done`: the write ended (containerd had the blob, or all was committed). */
  #state: "open" | "done" | "failed" = "open";
  #error: unknown;
  #finished = false;

  constructor(content: ContainerdContent, desc: Descriptor) {
    this.#done = content.write(desc, this.#handoff).then(
      (r) => {
        this.#state = "done";
        this.#handoff.close();
        return r;
      },
      (e) => {
        this.#state = "failed";
        this.#error = e;
        this.#handoff.close();
        throw e;
      },
    );
    this.#done.catch(() => {}); // awaited by write, commit and abort
  }

  /**
   * Resolves when containerd has taken the chunk, or at once when the write
   * ended early (containerd has the blob: the bytes are not needed);
   * rejects when the write failed.
   */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.#state === "failed") throw this.#error;
    if (this.#state === "done") return;
    await Promise.race([this.#handoff.push(chunk), this.#done]);
    if (this.#failed()) throw this.#error;
  }

  /** Read through a method: `write`'s check after an `await` (TS narrows the field). */
  #failed(): boolean {
    return this.#state === "failed";
  }

  async commit(): Promise<void> {
    this.#finished = true;
    this.#handoff.end();
    await this.#done;
  }

  async abort(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    this.#handoff.fail(new SociError("blob write aborted"));
    await this.#done.catch(() => {});
  }
}

/**
 * An image record of containerd as a destination (see the module
 * documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdImageWriter } from "./containerd_writer.ts";
 * await assert.rejects(
 *   ContainerdImageWriter.open("containerd:app-soci", { address: "/nonexistent/containerd.sock" }),
 *   /containerd socket \/nonexistent\/containerd.sock does not exist/,
 * );
 * await assert.rejects(ContainerdImageWriter.open("containerd:app@sha256:" + "0".repeat(64)),
 *   /must not contain a digest/);
 * ```
 */
export class ContainerdImageWriter implements ImageWriter {
  /** The destination as written. */
  readonly reference: string;
  /** The image record's name (normalized, or as written when only that record exists). */
  readonly storeName: string;
  /** `containerd:<record name>`: the image's layers are in containerd. */
  readonly layerSource: string;
  /** containerd keeps an image whose other platforms were not pulled. */
  readonly allowsPartial = true;
  /** The client (namespace) every call goes through. */
  readonly client: ContainerdClient;
  /** The lease the writer's content is held by until the record keeps it. */
  readonly leaseId: string;
  readonly #ownsClient: boolean;
  readonly #content: ContainerdContent;
  readonly #leases: ContainerdLeases;
  #leaseHeld = true;
  #committed = false;

  private constructor(
    reference: string,
    name: string,
    client: ContainerdClient,
    ownsClient: boolean,
    leaseId: string,
  ) {
    this.reference = reference;
    this.storeName = name;
    this.layerSource = CONTAINERD_TRANSPORT + name;
    this.client = client;
    this.#ownsClient = ownsClient;
    this.leaseId = leaseId;
    this.#content = new ContainerdContent(client.withLease(leaseId));
    this.#leases = new ContainerdLeases(client);
  }

  /**
   * A writer for `containerd:NAME` (or a plain name): checks the name, looks
   * the record up (so a missing socket or namespace trouble fails here,
   * before any work) and makes the lease.
   */
  static async open(
    reference: string,
    options: ContainerdWriterOptions = {},
  ): Promise<ContainerdImageWriter> {
    const written = containerdImageName(reference);
    let normalized: string | undefined;
    let invalid: unknown;
    try {
      normalized = normalizeImageName(written);
    } catch (e) {
      invalid = e;
    }
    if (normalized?.includes("@")) {
      throw new BadInputError(
        `containerd destination ${written}: the image name must not contain a digest`,
      );
    }
    const owns = options.client === undefined;
    const client = options.client ?? new ContainerdClient(options);
    try {
      const name = await recordName(new ContainerdImages(client), normalized, written, invalid);
      const leases = new ContainerdLeases(client);
      await dropAbandonedLeases(leases);
      const owner = leaseOwner();
      const lease = await leases.create({
        expireAfterMs: options.leaseExpiryMs,
        labels: {
          [LEASE_WRITER_LABEL]: name,
          ...(owner !== undefined ? { [LEASE_OWNER_LABEL]: owner } : {}),
        },
      });
      return new ContainerdImageWriter(
        options.reference ?? reference,
        name,
        client,
        owns,
        lease.id,
      );
    } catch (e) {
      if (owns) client.close();
      throw e;
    }
  }

  /** True when the namespace holds the blob (no side effect). */
  async has(desc: Descriptor): Promise<boolean> {
    return await this.#content.has(desc.digest);
  }

  /**
   * True when the namespace holds the blob; it is then in the lease (it is
   * added first, then looked up, so the GC cannot take it in between).
   */
  async obtain(desc: Descriptor): Promise<boolean> {
    await this.#hold(desc.digest);
    return await this.has(desc);
  }

  /**
   * A content write (in the lease) fed with the bytes as they are read;
   * containerd checks the digest and size at the commit. A blob that
   * containerd turns out to have is not written again.
   */
  openBlob(desc: Descriptor): Promise<BlobSink> {
    return Promise.resolve(new ContentBlobSink(this.#content, desc));
  }

  /**
   * Writes what containerd lacks of the graph under `root` (leaves first,
   * documents with their GC labels), then points the record at `root`.
   */
  async commit(
    root: Descriptor,
    fetch: ContentFetcher,
    options: CommitImageOptions = {},
  ): Promise<void> {
    for (const node of await graphNodes(root, fetch, options.absent)) {
      const { desc } = node;
      const wanted = node.bytes ? documentGcLabels(node.bytes).labels : {};
      await this.#hold(desc.digest);
      const info = await this.#content.info(desc.digest).catch((e) => {
        if (e instanceof NotFoundError) return undefined;
        throw e;
      });
      if (info !== undefined) {
        if (info.size !== desc.size) {
          throw new BadInputError(
            `blob ${desc.digest} in containerd has ${info.size} bytes, expected ${desc.size}`,
          );
        }
        const add = missingGcLabels(info.labels, wanted);
        if (Object.keys(add).length > 0) await this.#content.updateLabels(desc.digest, add);
        options.onEvent?.({ kind: "skipped", desc });
        continue;
      }
      const got = node.bytes ?? await fetch(desc).catch((e) => {
        throw e instanceof SociError ? e : missingNode(desc, "the source");
      });
      const { existed } = await this.#content.write(desc, chunksOf(got), { labels: wanted });
      if (existed) {
        // Written meanwhile by someone else: keep its labels, add ours.
        const now = await this.#content.info(desc.digest);
        const add = missingGcLabels(now.labels, wanted);
        if (Object.keys(add).length > 0) await this.#content.updateLabels(desc.digest, add);
      }
      options.onEvent?.({ kind: existed ? "skipped" : "written", desc });
    }
    const target = { mediaType: root.mediaType, digest: root.digest, size: root.size };
    await new ContainerdImages(this.client).put(this.storeName, target);
    this.#committed = true;
    options.onEvent?.({ kind: "tagged", desc: root });
  }

  /**
   * Deletes the lease and lets containerd collect what only it held (the
   * GC runs before the answer); an existing record is left as it was.
   */
  async abort(): Promise<void> {
    if (this.#committed) return;
    await this.#dropLease(true);
  }

  /**
   * Deletes the lease (once committed, the record keeps the content;
   * otherwise as {@link ContainerdImageWriter.abort}) and closes the client
   * it made.
   */
  async close(): Promise<void> {
    try {
      await this.#dropLease(!this.#committed);
    } finally {
      if (this.#ownsClient) this.client.close();
    }
  }

  /** Adds a blob to the lease (the blob need not exist yet). */
  async #hold(digest: string): Promise<void> {
    await this.#leases.addResource(this.leaseId, { id: digest, type: "content" });
  }

  async #dropLease(sync: boolean): Promise<void> {
    if (!this.#leaseHeld) return;
    this.#leaseHeld = false;
    // Best effort: a lease that cannot be deleted now expires on its own.
    await this.#leases.delete(this.leaseId, { sync }).catch(() => {});
  }
}

/**
 * Deletes (with `sync`: containerd collects what they alone held) the
 * leases of image writers whose process is known to be gone (killed before
 * it could delete its lease; `lease_owner.ts`).
 */
async function dropAbandonedLeases(leases: ContainerdLeases): Promise<void> {
  for (const lease of await leases.list()) {
    const owner = lease.labels[LEASE_OWNER_LABEL];
    if (lease.labels[LEASE_WRITER_LABEL] === undefined || owner === undefined) continue;
    if (ownerGone(owner)) await leases.delete(lease.id, { sync: true }).catch(() => {});
  }
}

/**
 * The record name to write: the normalized name, or the name as written
 * when only a record of that spelling exists; a name containerd could not
 * normalize is an error unless such a record exists.
 */
async function recordName(
  images: ContainerdImages,
  normalized: string | undefined,
  written: string,
  invalid: unknown,
): Promise<string> {
  const names = [...new Set([normalized, written])].filter((n): n is string => n !== undefined);
  for (const name of names) {
    try {
      await images.get(name);
      return name;
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      if (/^containerd namespace .* does not exist/.test(e.message)) break;
    }
  }
  if (normalized === undefined) throw invalid;
  return normalized;
}
