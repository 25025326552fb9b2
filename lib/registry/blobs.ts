/**
 * Blobs of a registry: existence checks, whole downloads verified against
 * their digest, streamed downloads that resume where a dropped connection
 * stopped, ranged reads checked against the length asked for, uploads
 * (monolithic, chunked, streamed, or fed chunk by chunk with
 * {@link BlobUpload}) and cross-repository mounts.
 *
 * @module
 */
import { BadInputError, RegistryError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import { repositoryScope } from "./auth.ts";
import { BlobUpload, type StartUploadOptions, type UploadMode } from "./blob_upload.ts";
import { networkReason } from "./http_errors.ts";
import { digestOf } from "./manifests.ts";
import { backoffDelayMs, TransientRegistryError } from "./retry.ts";
import { StallError } from "./stall.ts";
import type { SignalOptions, Transport } from "./transport.ts";

/** Upload tuning of {@link Blobs}. */
export interface BlobOptions {
  /** Chunk size for chunked and streamed uploads (default 8 MiB). */
  chunkSize?: number;
  /** Uploads of in-memory bytes up to this size are monolithic (default 32 MiB). */
  monolithicMaxBytes?: number;
}

/** Where to start reading a blob stream, its size when known, and what stops it. */
export interface BlobReadOptions extends SignalOptions {
  /** The blob's size: a stream that ends early is resumed, one that runs over is refused. */
  size?: number;
  /** First byte to read (default 0). */
  offset?: number;
}

/**
 * Bytes a resumed download must get before stalling again for the stall
 * not to count as one more consecutive failure (a registry that sends a
 * byte and goes silent on every request is not making progress).
 */
const STALL_PROGRESS_BYTES = 64 * 1024;

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

/**
 * `Content-Range: bytes <first>-<last>/<total|*>` parsed; `undefined` when
 * absent or malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseContentRange } from "./blobs.ts";
 * assert.deepEqual(parseContentRange("bytes 10-19/120"), { first: 10, last: 19, total: 120 });
 * assert.deepEqual(parseContentRange("bytes 0-0/*"), { first: 0, last: 0, total: undefined });
 * assert.ok(parseContentRange(null) === undefined);
 * ```
 */
export function parseContentRange(
  header: string | null,
): { first: number; last: number; total?: number } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec((header ?? "").trim());
  if (!m) return undefined;
  return {
    first: Number(m[1]),
    last: Number(m[2]),
    total: m[3] === "*" ? undefined : Number(m[3]),
  };
}

/**
 * The blobs of the repositories of one registry (`client.blobs`).
 *
 * @example
 * ```ts ignore
 * import { RegistryClient } from "./client.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true });
 * const bytes = new TextEncoder().encode("{}");
 * const desc = { digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 };
 * await client.blobs.upload("app", desc, bytes);
 * console.log(await client.blobs.head("app", desc.digest)); // 2
 * client.close();
 * ```
 */
export class Blobs {
  readonly #t: Transport;
  readonly #chunkSize: number;
  readonly #monolithicMax: number;

  /**
   * Blob operations over `transport` (`client.blobs` is one).
   *
   * @param transport the registry's transport.
   * @param opts upload tuning.
   */
  constructor(transport: Transport, opts: BlobOptions = {}) {
    this.#t = transport;
    this.#chunkSize = Math.max(1, opts.chunkSize ?? 8 * 1024 * 1024);
    this.#monolithicMax = opts.monolithicMaxBytes ?? 32 * 1024 * 1024;
  }

  /** HEADs a blob: its size (-1 when not announced), or `undefined` when it does not exist. */
  async head(repo: string, digest: string): Promise<number | undefined> {
    const t = this.#t;
    const action = `check blob ${repo}@${digest}`;
    const res = await t.retry(action, () =>
      t.send({
        action,
        method: "HEAD",
        url: t.url(repo, `blobs/${digest}`),
        scopes: [repositoryScope(repo, "pull")],
        allowNotFound: true,
      }));
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    const size = Number(res.headers.get("content-length") ?? NaN);
    return Number.isFinite(size) ? size : -1;
  }

  /** Downloads a whole (small) blob, verified against its digest and size. */
  async get(
    repo: string,
    desc: { digest: string; size?: number },
    opts: SignalOptions = {},
  ): Promise<Uint8Array> {
    const t = this.#t;
    const action = `get blob ${repo}@${desc.digest}`;
    return await t.retry(action, async () => {
      const res = await t.send({
        action,
        method: "GET",
        url: t.url(repo, `blobs/${desc.digest}`),
        scopes: [repositoryScope(repo, "pull")],
        signal: opts.signal,
      });
      const bytes = await t.readBody(res, action, desc.size ?? Number.MAX_SAFE_INTEGER);
      const what = `blob ${repo}@${desc.digest}`;
      if (desc.size !== undefined && bytes.length !== desc.size) {
        throw new BadInputError(
          `${t.registry}: ${what}: got ${bytes.length} bytes, expected ${desc.size}`,
        );
      }
      const got = digestOf(bytes, desc.digest);
      if (got !== desc.digest) {
        throw new BadInputError(`${t.registry}: ${what}: content has digest ${got}`);
      }
      return bytes;
    }, opts.signal);
  }

  /**
   * Streams a blob from byte `offset`. The stream passes the response
   * chunks through (nothing is buffered beyond one chunk) and, when the
   * connection drops or stalls (no data for the transport's stall limit),
   * resumes with a `Range` request where it stopped. Not verified here:
   * the consumer hashes what it reads.
   */
  async open(
    repo: string,
    digest: string,
    opts: BlobReadOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    return ReadableStream.from(await this.chunks(repo, digest, opts));
  }

  /**
   * {@link Blobs.open} as an async generator (no stream layer of its own
   * between the response body and the consumer). The request is made
   * before this resolves, so a missing blob fails here.
   */
  async chunks(
    repo: string,
    digest: string,
    opts: BlobReadOptions = {},
  ): Promise<AsyncGenerator<Uint8Array>> {
    const t = this.#t;
    const action = `get blob ${repo}@${digest}`;
    const signal = opts.signal;
    const open = (from: number) =>
      t.retry(action, async () => {
        const res = await t.send({
          action,
          method: "GET",
          url: t.url(repo, `blobs/${digest}`),
          headers: from > 0 ? { range: `bytes=${from}-` } : undefined,
          scopes: [repositoryScope(repo, "pull")],
          signal,
        });
        const skip = from > 0 && res.status !== 206 ? from : 0;
        return { res, reader: skipBytes(res.body ?? emptyStream(), skip).getReader() };
      }, signal);
    let received = opts.offset ?? 0;
    const total = opts.size;
    let current = await open(received);
    let attemptStart = received;
    return (async function* () {
      let failures = 0;
      try {
        for (;;) {
          let problem: unknown;
          try {
            const { done, value } = await current.reader.read();
            if (!done) {
              received += value.length;
              if (total !== undefined && received > total) {
                throw new BadInputError(
                  `${t.registry}: blob ${repo}@${digest} is larger than its size ${total}`,
                );
              }
              yield value;
              continue;
            }
            if (total === undefined || received >= total) return;
            problem = new Error(`connection closed at byte ${received} of ${total}`);
          } catch (e) {
            if (signal?.aborted) throw signal.reason;
            if (e instanceof BadInputError || e instanceof RegistryError) throw e;
            problem = e;
          }
          // Traced as `http err #<id of the cut response>`; past the budget, a timeout.
          const failure = t.bodyError(problem, action, current.res);
          if (!(failure instanceof TransientRegistryError)) throw failure;
          // Data flowed again: a resume that makes progress starts the count
          // of consecutive failures afresh (after a stall, enough progress).
          const progressed = received - attemptStart;
          if (progressed >= (problem instanceof StallError ? STALL_PROGRESS_BYTES : 1)) {
            failures = 0;
          }
          failures++;
          if (failures > t.policy.maxRetries) {
            throw new RegistryError(
              `${t.registry}: ${action}: download failed at byte ${received}: ${
                networkReason(problem, t.plainHttp)
              }`,
            );
          }
          t.trace(`http retry ${action} from byte ${received}`);
          await t.wait(backoffDelayMs(failures, undefined, t.policy), action, signal);
          await current.reader.cancel().catch(() => {});
          current = await open(received);
          attemptStart = received;
        }
      } finally {
        await current.reader.cancel().catch(() => {});
      }
    })();
  }

  /**
   * Reads bytes `[start, end)` of a blob with a `Range` request. What comes
   * back is checked: a `206` must cover exactly the range asked for
   * (`Content-Range`, and exactly `end - start` bytes of body); a `200`
   * (a server ignoring `Range`) must hold the whole range. With `size`,
   * the range must lie within the blob and the registry must agree on its
   * size. `signal` stops the read (it fails with the signal's reason).
   */
  async getRange(
    repo: string,
    digest: string,
    start: number,
    end: number,
    opts: { size?: number } & SignalOptions = {},
  ): Promise<Uint8Array> {
    const t = this.#t;
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && end >= start)) {
      throw new BadInputError(`invalid byte range [${start}, ${end})`);
    }
    if (opts.size !== undefined && end > opts.size) {
      throw new BadInputError(
        `invalid byte range [${start}, ${end}) of blob ${digest}: it has ${opts.size} bytes`,
      );
    }
    if (end === start) return new Uint8Array(0);
    const action = `get bytes ${start}-${end - 1} of blob ${repo}@${digest}`;
    const want = end - start;
    return await t.retry(action, async () => {
      const res = await t.send({
        action,
        method: "GET",
        url: t.url(repo, `blobs/${digest}`),
        headers: { range: `bytes=${start}-${end - 1}` },
        scopes: [repositoryScope(repo, "pull")],
        signal: opts.signal,
      });
      const partial = res.status === 206;
      if (partial) {
        const range = parseContentRange(res.headers.get("content-range"));
        const wrong = range && (range.first !== start || range.last !== end - 1);
        const total = range?.total;
        if (wrong || (opts.size !== undefined && total !== undefined && total !== opts.size)) {
          await res.body?.cancel();
          throw new BadInputError(
            `${t.registry}: ${action}: the registry answered with ${
              res.headers.get("content-range")
            }${opts.size !== undefined ? ` (blob size ${opts.size})` : ""}`,
          );
        }
      }
      const out = new Uint8Array(want);
      let have = 0;
      let extra = 0;
      const reader = skipBytes(res.body ?? emptyStream(), partial ? 0 : start).getReader();
      try {
        while (have < want) {
          const { done, value } = await reader.read();
          if (done) break;
          const n = Math.min(value.length, want - have);
          out.set(value.subarray(0, n), have);
          have += n;
          extra += value.length - n;
        }
        if (partial && have === want && extra === 0) {
          const { done, value } = await reader.read();
          if (!done) extra += value.length;
        }
      } catch (e) {
        throw t.bodyError(e, action, res);
      } finally {
        await reader.cancel().catch(() => {});
      }
      if (have < want) {
        throw new BadInputError(
          `${t.registry}: ${action}: the blob ended after ${start + have} bytes`,
        );
      }
      if (partial && extra > 0) {
        throw new BadInputError(
          `${t.registry}: ${action}: the registry sent more than the ${want} bytes asked for`,
        );
      }
      return out;
    }, opts.signal);
  }

  /**
   * Uploads a blob. In-memory bytes up to `monolithicMaxBytes` go in one
   * POST+PUT, bigger ones in PATCH chunks; the whole upload is retried on
   * transient failures. A stream (of known size) goes through a chunked
   * {@link BlobUpload} (each chunk can be sent again, so a dropped
   * connection does not fail the upload).
   */
  async upload(
    repo: string,
    desc: { digest: string; size: number },
    data: Uint8Array | ReadableStream<Uint8Array>,
  ): Promise<void> {
    parseDigest(desc.digest);
    const t = this.#t;
    const action = `upload blob ${repo}@${desc.digest}`;
    if (data instanceof Uint8Array) {
      if (data.length !== desc.size) {
        throw new BadInputError(`${action}: ${data.length} bytes given for size ${desc.size}`);
      }
      const mono = data.length <= this.#monolithicMax;
      const step = mono ? Math.max(1, data.length) : this.#chunkSize;
      // The bytes are at hand: a transient failure starts the upload over.
      await t.retry(action, async () => {
        const up = await this.#open(repo, action, { chunkSize: step, retry: false });
        for (let off = 0; off < data.length; off += step) {
          await up.write(data.subarray(off, Math.min(data.length, off + step)));
        }
        await up.commit(desc.digest, desc.size);
      });
      return;
    }
    const up = await t.retry(action, () => this.#open(repo, action, {}));
    const reader = data.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (up.written + value.length > desc.size) {
          throw new BadInputError(
            `${action}: the stream gives more than the size ${desc.size}`,
          );
        }
        await up.write(value);
      }
      await up.commit(desc.digest, desc.size);
    } catch (e) {
      await reader.cancel().catch(() => {});
      await up.cancel();
      throw e;
    }
  }

  /**
   * Opens an upload to `repo` that is fed chunk by chunk as the bytes are
   * produced (see {@link BlobUpload}); the opening `POST` is retried.
   */
  async startUpload(repo: string, opts: StartUploadOptions = {}): Promise<BlobUpload> {
    const action = `upload blob to ${repo}`;
    return await this.#t.retry(action, () => this.#open(repo, action, { mode: opts.mode }));
  }

  /**
   * Mounts a blob from another repository of the same registry. True when
   * mounted; false when the registry declined (it does when the source
   * repository lacks the blob or cannot be read): the upload it opened
   * instead is cancelled, and the caller uploads the blob itself.
   */
  async mount(repo: string, digest: string, fromRepo: string): Promise<boolean> {
    parseDigest(digest);
    const t = this.#t;
    const action = `mount blob ${digest} from ${fromRepo} into ${repo}`;
    const url = new URL(t.url(repo, "blobs/uploads/"));
    url.searchParams.set("mount", digest);
    url.searchParams.set("from", fromRepo);
    const res = await t.retry(action, () =>
      t.send({
        action,
        method: "POST",
        url: url.href,
        scopes: [repositoryScope(repo, "pull,push"), repositoryScope(fromRepo, "pull")],
      }));
    await res.body?.cancel();
    if (res.status === 201) return true;
    const location = res.headers.get("location");
    if (location) {
      await new BlobUpload({
        transport: t,
        repo,
        location: new URL(location, t.baseUrl).href,
        chunkSize: 1,
        mode: "chunked",
        action,
      }).cancel();
    }
    return false;
  }

  /**
   * Deletes a blob from a repository (distribution's `DELETE
   * /v2/<repo>/blobs/<digest>`, where the registry allows deletes); false
   * when it was not there. Registries that refuse deletes answer with an
   * error (405 `UNSUPPORTED`).
   */
  async delete(repo: string, digest: string): Promise<boolean> {
    parseDigest(digest);
    const t = this.#t;
    const action = `delete blob ${repo}@${digest}`;
    const res = await t.retry(action, () =>
      t.send({
        action,
        method: "DELETE",
        url: t.url(repo, `blobs/${digest}`),
        scopes: [repositoryScope(repo, "delete"), repositoryScope(repo, "pull,push")],
        allowNotFound: true,
      }));
    await res.body?.cancel();
    return res.status !== 404;
  }

  /** `POST` of a new upload session (not retried here). */
  async #open(
    repo: string,
    action: string,
    opts: { mode?: UploadMode; chunkSize?: number; retry?: boolean },
  ): Promise<BlobUpload> {
    const t = this.#t;
    const res = await t.send({
      action,
      method: "POST",
      url: t.url(repo, "blobs/uploads/"),
      scopes: [repositoryScope(repo, "pull,push")],
    });
    await res.body?.cancel();
    const location = res.headers.get("location");
    if (res.status !== 202 || !location) {
      throw new RegistryError(
        `${t.registry}: ${action}: the registry did not open an upload (${res.status}${
          location ? "" : ", no Location"
        })`,
      );
    }
    const minChunk = Number(res.headers.get("oci-chunk-min-length") ?? 0) || 0;
    return new BlobUpload({
      transport: t,
      repo,
      location: new URL(location, t.baseUrl).href,
      chunkSize: Math.max(opts.chunkSize ?? this.#chunkSize, minChunk),
      mode: opts.mode ?? "chunked",
      action,
      retry: opts.retry,
    });
  }
}
