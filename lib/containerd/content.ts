/**
 * containerd's content store over gRPC: stat (`Info`), list with labels,
 * streamed and ranged reads, verified writes (`STAT` → `WRITE`… →
 * `COMMIT` with labels, inside the client's lease), label updates and
 * deletes.
 *
 * Known daemon behaviours handled here: a write of a blob that already
 * exists fails with ALREADY_EXISTS (at the first message or at the commit):
 * the write then counts as done, the blob is added to the client's lease and
 * the labels are set with `Content.Update`; containerd may answer a COMMIT
 * more than once, so a write finishes at the end of the answer stream;
 * writes wait for grpc-js to drain (back-pressure) and are sent in messages
 * of at most {@link WRITE_CHUNK} bytes; containerd answers reads in 1 MiB
 * messages.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { createHash, parseDigest } from "../oci/digest.ts";
import type { ContainerdClient, DuplexCall } from "./client.ts";
import { ContainerdError, grpcCode, GrpcStatus } from "./client.ts";
import { ContainerdLeases } from "./leases.ts";
import { labelUpdate, type TimestampMessage, toDate } from "./wire.ts";

/** Largest data payload of one `Content.Write` message (the message stays under 1 MiB). */
export const WRITE_CHUNK = (1 << 20) - 4096;

/** A blob's metadata in containerd's content store. */
export interface ContentInfo {
  /** `sha256:<hex>`. */
  digest: string;
  /** Size in bytes. */
  size: number;
  /** The blob's labels (GC references, roots, …). */
  labels: Record<string, string>;
  /** When the blob was committed. */
  createdAt?: Date;
  /** When its labels last changed. */
  updatedAt?: Date;
}

/** Bytes to write: one buffer, or chunks (a `ReadableStream` is an async iterable too). */
export type BlobData = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Options of {@link ContainerdContent.write}. */
export interface WriteOptions {
  /** Labels committed with the blob (or set on it when it already exists). */
  labels?: Record<string, string>;
  /** The ingest reference (default: unique per write). */
  ref?: string;
}

/** What {@link ContainerdContent.write} did. */
export interface WriteResult {
  /** The blob's digest. */
  digest: string;
  /** Its size. */
  size: number;
  /** True when containerd already had it (nothing was written). */
  existed: boolean;
}

interface InfoMessage {
  digest: string;
  size: number;
  labels: Record<string, string>;
  created_at: TimestampMessage | null;
  updated_at: TimestampMessage | null;
}

interface WriteRequest {
  action: "STAT" | "WRITE" | "COMMIT";
  ref: string;
  total?: number;
  expected?: string;
  offset?: number;
  data?: Uint8Array;
  labels?: Record<string, string>;
}

interface WriteResponse {
  action: "STAT" | "WRITE" | "COMMIT";
  offset: number;
  total: number;
  digest: string;
}

function toInfo(m: InfoMessage): ContentInfo {
  const info: ContentInfo = { digest: m.digest, size: Number(m.size), labels: { ...m.labels } };
  const created = toDate(m.created_at);
  const updated = toDate(m.updated_at);
  if (created) info.createdAt = created;
  if (updated) info.updatedAt = updated;
  return info;
}

/** A view (no copy) of a decoded `bytes` field as a plain `Uint8Array`. */
function view(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

async function* chunksOf(data: BlobData): AsyncGenerator<Uint8Array> {
  if (data instanceof Uint8Array) yield data;
  else yield* data as AsyncIterable<Uint8Array>;
}

/**
 * Regroups chunks into pieces of at most `max` bytes; small chunks are
 * gathered (copied) until `max` bytes or the end, large ones are cut
 * without copying.
 */
async function* pieces(data: BlobData, max: number): AsyncGenerator<Uint8Array> {
  let buf: Uint8Array | undefined;
  let filled = 0;
  for await (const chunk of chunksOf(data)) {
    let off = 0;
    while (off < chunk.length) {
      if (filled === 0 && chunk.length - off >= max) {
        yield chunk.subarray(off, off + max);
        off += max;
        continue;
      }
      buf ??= new Uint8Array(max);
      const n = Math.min(max - filled, chunk.length - off);
      buf.set(chunk.subarray(off, off + n), filled);
      filled += n;
      off += n;
      if (filled === max) {
        yield buf;
        buf = undefined;
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buf!.subarray(0, filled);
}

let refCounter = 0;

/** A unique ingest reference for a write of `digest`. */
function uniqueRef(digest: string): string {
  const rnd = crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
  return `soci-deno-${digest}-${Date.now().toString(36)}-${rnd}-${++refCounter}`;
}

/**
 * A stream of `chunks`, whose first chunk is asked for before this
 * resolves: a missing blob is an error of this call, not of the stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eagerStream } from "./content.ts";
 * async function* two() {
 *   yield new Uint8Array([1]);
 *   yield new Uint8Array([2, 3]);
 * }
 * const s = await eagerStream(two());
 * assert.deepEqual((await Array.fromAsync(s)).map((c) => c.length), [1, 2]);
 * async function* missing(): AsyncGenerator<Uint8Array> {
 *   throw new Error("not found");
 * }
 * await assert.rejects(eagerStream(missing()), /not found/);
 * ```
 */
export async function eagerStream(
  chunks: AsyncGenerator<Uint8Array>,
): Promise<ReadableStream<Uint8Array>> {
  let first: IteratorResult<Uint8Array> | undefined = await chunks.next();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = first ?? await chunks.next();
        first = undefined;
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      } catch (e) {
        controller.error(e);
      }
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
}

/**
 * The content store of the client's namespace. Writes are made inside the
 * client's lease, if it has one (`client.withLease(id)`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerdClient } from "./client.ts";
 * import { ContainerdContent } from "./content.ts";
 * const client = new ContainerdClient({ address: "/nonexistent/containerd.sock" });
 * const content = new ContainerdContent(client);
 * await assert.rejects(content.info("sha256:" + "0".repeat(64)), /is containerd running/);
 * client.close();
 * ```
 */
export class ContainerdContent {
  /** The client (namespace, lease) every call goes through. */
  readonly client: ContainerdClient;

  /** The content store seen through `client`. */
  constructor(client: ContainerdClient) {
    this.client = client;
  }

  #what(digest: string): { what: string } {
    return { what: `blob ${digest}` };
  }

  /** A blob's size and labels; `NotFoundError` (`blob <d> not found in containerd namespace <ns>`). */
  async info(digest: string): Promise<ContentInfo> {
    const res = await this.client.unary<{ info: InfoMessage }>(
      "content",
      "Info",
      { digest },
      this.#what(digest),
    );
    return toInfo(res.info);
  }

  /** True when the namespace holds the blob. */
  async has(digest: string): Promise<boolean> {
    try {
      await this.info(digest);
      return true;
    } catch (e) {
      if (grpcCode(e) === GrpcStatus.NOT_FOUND) return false;
      throw e;
    }
  }

  /**
   * Every blob matching any of `filters` (containerd filter syntax, e.g.
   * `labels."containerd.io/gc.root"` or `labels."com.example/kind"==ztoc`;
   * none: every blob), with its labels.
   */
  async list(filters: string[] = []): Promise<ContentInfo[]> {
    const out: ContentInfo[] = [];
    for await (
      const res of this.client.serverStream<{ info: InfoMessage[] }>("content", "List", {
        filters,
      })
    ) {
      for (const m of res.info) out.push(toInfo(m));
    }
    return out;
  }

  /**
   * Streams bytes of a blob, from `offset` for `size` bytes (0: to the end;
   * a size past the end stops at the end). Chunks are views of containerd's
   * answers (about 1 MiB each) that stay valid. Leaving the loop early
   * cancels the read. A missing blob is a `NotFoundError` at the first
   * iteration.
   */
  async *read(
    digest: string,
    options: { offset?: number; size?: number } = {},
  ): AsyncGenerator<Uint8Array> {
    const request = { digest, offset: options.offset ?? 0, size: options.size ?? 0 };
    for await (
      const res of this.client.serverStream<{ offset: number; data: Uint8Array }>(
        "content",
        "Read",
        request,
        this.#what(digest),
      )
    ) {
      if (res.data.length > 0) yield view(res.data);
    }
  }

  /** Reads bytes of a blob into one buffer (same options as {@link ContainerdContent.read}). */
  async readBytes(
    digest: string,
    options: { offset?: number; size?: number } = {},
  ): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const c of this.read(digest, options)) {
      chunks.push(c);
      total += c.length;
    }
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }

  /**
   * Writes a blob, verifying it against `expected` (digest and size are
   * checked here before the commit and again by containerd), with `labels`,
   * inside the client's lease. An existing blob is not written again: it is
   * added to the lease and its labels are set (`existed: true`). A data
   * source that is not fully read (existing blob, failure) is closed.
   */
  async write(
    expected: { digest: string; size: number },
    data: BlobData,
    options: WriteOptions = {},
  ): Promise<WriteResult> {
    const digest = parseDigest(expected.digest);
    const algorithm = digest.slice(0, digest.indexOf(":"));
    if (!Number.isSafeInteger(expected.size) || expected.size < 0) {
      throw new BadInputError(`invalid size ${expected.size} for blob ${digest}`);
    }
    const ref = options.ref ?? uniqueRef(digest);
    const total = expected.size;
    const source = pieces(data, WRITE_CHUNK);
    let call: DuplexCall<WriteRequest, WriteResponse> | undefined;
    try {
      call = await this.client.duplex<WriteRequest, WriteResponse>(
        "content",
        "Write",
        this.#what(digest),
      );
      await call.write({ action: "STAT", ref, total, expected: digest });
      const stat = await call.next();
      if (stat === undefined) {
        throw new ContainerdError(`containerd ended the write of ${digest} early`, 2);
      }
      const hash = createHash(algorithm);
      let offset = 0;
      if (stat.offset > 0) {
        // A leftover ingest under this ref: start over from byte 0.
        await call.write({ action: "WRITE", ref, offset: 0, total, expected: digest });
      }
      for await (const piece of source) {
        if (offset + piece.length > total) {
          throw new BadInputError(
            `blob ${digest} is larger than its expected ${total} bytes`,
          );
        }
        hash.update(piece);
        await call.write({ action: "WRITE", ref, offset, data: piece, total, expected: digest });
        offset += piece.length;
      }
      const actual = `${algorithm}:${hash.digest("hex")}`;
      if (offset !== total || actual !== digest) {
        throw new BadInputError(
          `blob data does not match its descriptor: expected ${digest} (${total} bytes), got ` +
            `${actual} (${offset} bytes)`,
        );
      }
      await call.write({
        action: "COMMIT",
        ref,
        offset,
        total,
        expected: digest,
        labels: options.labels ?? {},
      });
      call.end();
      let committed = false;
      for (let answer = await call.next(); answer !== undefined; answer = await call.next()) {
        if (answer.action === "COMMIT") {
          if (answer.digest !== "" && answer.digest !== digest) {
            throw new ContainerdError(
              `containerd committed ${answer.digest} instead of ${digest}`,
              GrpcStatus.FAILED_PRECONDITION,
            );
          }
          committed = true;
        }
      }
      if (!committed) {
        throw new ContainerdError(
          `containerd did not confirm the commit of ${digest}`,
          GrpcStatus.UNKNOWN,
        );
      }
      return { digest, size: total, existed: false };
    } catch (e) {
      if (grpcCode(e) === GrpcStatus.ALREADY_EXISTS) {
        call?.cancel();
        await source.return(undefined);
        return await this.#adopt(digest, total, options.labels);
      }
      if (call !== undefined) await this.#discard(call, ref);
      throw e;
    } finally {
      await source.return(undefined).catch(() => {});
    }
  }

  /**
   * Ends a failed write without committing and drops its ingest. The stream
   * is closed gracefully first: containerd keeps the ingest locked until
   * its side of the stream is done, and an abort of a locked ingest fails.
   */
  async #discard(call: DuplexCall<WriteRequest, WriteResponse>, ref: string): Promise<void> {
    call.end();
    try {
      while (await call.next() !== undefined) {
        // drain the answers to the messages already sent
      }
    } catch {
      // the call had failed already
    }
    await this.abort(ref).catch(() => {});
  }

  /** An existing blob: keep it in the lease, set the labels, check the size. */
  async #adopt(
    digest: string,
    size: number,
    labels: Record<string, string> | undefined,
  ): Promise<WriteResult> {
    const lease = this.client.lease;
    if (lease !== undefined) {
      await new ContainerdLeases(this.client).addResource(lease, { id: digest, type: "content" });
    }
    const info = labels && Object.keys(labels).length > 0
      ? await this.updateLabels(digest, labels)
      : await this.info(digest);
    if (info.size !== size) {
      throw new BadInputError(
        `blob ${digest} in containerd has ${info.size} bytes, expected ${size}`,
      );
    }
    return { digest, size, existed: true };
  }

  /**
   * Sets (string) or removes (`null`) labels of a blob; other labels are
   * kept. Returns the blob's info after the change.
   */
  async updateLabels(
    digest: string,
    changes: Record<string, string | null>,
  ): Promise<ContentInfo> {
    const { labels, paths } = labelUpdate(changes);
    if (paths.length === 0) return await this.info(digest);
    const res = await this.client.unary<{ info: InfoMessage }>(
      "content",
      "Update",
      { info: { digest, labels }, update_mask: { paths } },
      this.#what(digest),
    );
    return toInfo(res.info);
  }

  /** Replaces all labels of a blob. */
  async setLabels(digest: string, labels: Record<string, string>): Promise<ContentInfo> {
    const res = await this.client.unary<{ info: InfoMessage }>(
      "content",
      "Update",
      { info: { digest, labels }, update_mask: { paths: ["labels"] } },
      this.#what(digest),
    );
    return toInfo(res.info);
  }

  /** Deletes a blob from the namespace; `NotFoundError` when it is not there. */
  async delete(digest: string): Promise<void> {
    await this.client.unary("content", "Delete", { digest }, this.#what(digest));
  }

  /** Drops an unfinished write (ingest) by its reference; a missing one is a `NotFoundError`. */
  async abort(ref: string): Promise<void> {
    await this.client.unary("content", "Abort", { ref }, { what: `ingest ${ref}` });
  }
}
