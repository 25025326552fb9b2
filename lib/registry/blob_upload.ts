/**
 * A blob upload fed chunk by chunk as the bytes are produced
 * (`client.blobs.startUpload(repo)`), for copies that read a layer once
 * and send it on while something else (a scanner) reads the same bytes.
 * Memory stays bounded whatever the blob size, and `write` applies
 * back-pressure: it resolves once the chunk is buffered and the network
 * has room for more.
 *
 * Two ways to send the bytes (distribution spec, "pushing a blob in
 * chunks" and "streamed" uploads; CNCF distribution 2.8 accepts both):
 *
 * - `chunked` (default): `PATCH` requests with `Content-Range` of
 *   `chunkSize` bytes (at least the registry's `OCI-Chunk-Min-Length`),
 *   one in flight while the next chunk fills (at most two chunks in
 *   memory). A chunk whose request failed transiently is sent again from
 *   where the registry says the upload stands (`GET` of the upload
 *   location), so a dropped connection does not lose the upload.
 * - `stream`: one `PATCH` whose body streams everything written (HTTP
 *   chunked transfer encoding; at most one chunk queued). Nothing can be
 *   sent again: a failure fails the upload.
 *
 * A blob of at most one chunk is sent with the closing `PUT` alone. The
 * upload ends with `commit(digest, size)` (`PUT ?digest=`: the registry
 * checks the digest) or `cancel()` (`DELETE`, best effort); a failure
 * cancels it too. A closing `PUT` whose answer was lost is taken as done
 * when the blob is then there.
 *
 * What CNCF distribution 2.8 does (seen against the Debian registry): a
 * `PATCH` without `Content-Range` (chunked transfer encoding) is appended
 * like any other; the upload status (`GET` of the location) answers `204`
 * with `Range: 0-<last byte>` (`0-0` for an empty upload). Its locations
 * carry a signed `_state` holding the offset, and a request whose state no
 * longer matches the bytes held is refused (`404 BLOB_UPLOAD_INVALID`): a
 * chunk can be sent again only when nothing of its failed request landed.
 * A `DELETE` answers `204` and removes the data (an empty `hashstates`
 * folder stays behind).
 *
 * @module
 */
import { BadInputError, RegistryError, SociError } from "../errors.ts";
import { parseDigest } from "../oci/digest.ts";
import { repositoryScope } from "./auth.ts";
import { TransientRegistryError } from "./retry.ts";
import type { Transport } from "./transport.ts";

/** How an upload sends its bytes: `PATCH` chunks with `Content-Range`, or one streamed `PATCH`. */
export type UploadMode = "chunked" | "stream";

/** Options of `client.blobs.startUpload`. */
export interface StartUploadOptions {
  /** `chunked` (default: each chunk can be sent again) or `stream` (one request). */
  mode?: UploadMode;
}

/** An upload session as the registry opened it (for {@link BlobUpload}'s constructor). */
export interface UploadSession {
  /** The registry's transport. */
  transport: Transport;
  /** Repository the blob goes to. */
  repo: string;
  /** Absolute upload URL from the `POST` answer's `Location`. */
  location: string;
  /** Bytes per `PATCH` (chunked) or queued at most (stream). */
  chunkSize: number;
  /** How the bytes are sent. */
  mode: UploadMode;
  /** What is being done, for messages: `upload blob app@sha256:…`. */
  action: string;
  /**
   * Retry each request (default true: a chunk is sent again from where
   * the registry stands). With false, the first transient failure cancels
   * the upload and is thrown as is, for a caller that starts over.
   */
  retry?: boolean;
}

/** The `Location` of an upload answer, resolved, or the current one when absent. */
function nextLocation(res: Response, current: string): string {
  const location = res.headers.get("location");
  return location ? new URL(location, current).href : current;
}

/**
 * One blob upload in progress. Made by `client.blobs.startUpload(repo)`.
 * Calls must not overlap: await each `write` before the next one (or
 * `commit`).
 *
 * @example
 * ```ts ignore
 * import { RegistryClient } from "./client.ts";
 * const client = new RegistryClient("127.0.0.1:5000", { plainHttp: true });
 * const up = await client.blobs.startUpload("app");
 * try {
 *   for await (const chunk of layerStream) await up.write(chunk);
 *   await up.commit(layerDigest, layerSize);
 * } catch (e) {
 *   await up.cancel();
 *   throw e;
 * }
 * ```
 */
export class BlobUpload {
  /** Repository the blob goes to. */
  readonly repository: string;
  /** How the bytes are sent. */
  readonly mode: UploadMode;
  readonly #t: Transport;
  readonly #action: string;
  readonly #step: number;
  readonly #scopes: string[];
  readonly #retry: boolean;
  #location: string;
  /** Chunk being filled, and a free one to fill next (chunked mode). */
  #buf?: Uint8Array;
  #spare?: Uint8Array;
  #fill = 0;
  /** Bytes handed to `PATCH` requests so far (chunked mode). */
  #sent = 0;
  #written = 0;
  #inflight?: Promise<void>;
  #state: "open" | "committed" | "cancelled" | "failed" = "open";
  #failure?: unknown;
  #writer?: WritableStreamDefaultWriter<Uint8Array>;
  #streamed?: Promise<void>;

  /**
   * Wraps an upload session the registry opened; use
   * `client.blobs.startUpload` rather than this.
   *
   * @param session the opened session and how to send the bytes.
   */
  constructor(session: UploadSession) {
    this.repository = session.repo;
    this.mode = session.mode;
    this.#t = session.transport;
    this.#action = session.action;
    this.#step = Math.max(1, session.chunkSize);
    this.#location = session.location;
    this.#scopes = [repositoryScope(session.repo, "pull,push")];
    this.#retry = session.retry ?? true;
  }

  /** Bytes accepted by {@link BlobUpload.write} so far. */
  get written(): number {
    return this.#written;
  }

  /**
   * Adds bytes to the blob. Resolves once they are buffered and the
   * previous chunk has been sent (back-pressure); the bytes are copied, so
   * the caller may reuse `chunk` afterwards. A failure (also one of an
   * earlier chunk still in flight) cancels the upload and is thrown here.
   */
  async write(chunk: Uint8Array): Promise<void> {
    this.#usable();
    try {
      this.#written += chunk.length;
      if (this.#writer) return await this.#push(chunk.slice());
      let rest = chunk;
      while (rest.length > 0) {
        // A full chunk is sent once more bytes come: a blob of at most one
        // chunk goes with the closing PUT alone.
        if (this.#buf && this.#fill === this.#step) {
          if (this.mode === "stream") {
            this.#openStream();
            await this.#push(this.#takeBuffer());
            return await this.#push(rest.slice());
          }
          await this.#flush();
        }
        if (!this.#buf) {
          this.#buf = this.#spare ?? new Uint8Array(this.#step);
          this.#spare = undefined;
        }
        const take = Math.min(rest.length, this.#step - this.#fill);
        this.#buf.set(rest.subarray(0, take), this.#fill);
        this.#fill += take;
        rest = rest.subarray(take);
      }
    } catch (e) {
      throw await this.#fail(e);
    }
  }

  /**
   * Completes the upload: sends what is buffered, then `PUT ?digest=`. The
   * bytes written must add up to `size` (else a `BadInputError`, and the
   * upload is cancelled); the registry checks `digest`.
   */
  async commit(digest: string, size: number): Promise<void> {
    this.#usable();
    try {
      parseDigest(digest);
      if (this.#written !== size) {
        throw new BadInputError(
          `${this.#action}: ${this.#written} bytes were written for a blob of size ${size}`,
        );
      }
      let body: Uint8Array | undefined;
      if (this.#writer) {
        await this.#writer.close();
        await this.#streamed;
      } else if (this.#sent === 0) {
        body = this.#takeBuffer();
      } else {
        if (this.#fill > 0) await this.#flush();
        await this.#inflight;
      }
      await this.#finish(digest, size, body);
      this.#state = "committed";
    } catch (e) {
      throw await this.#fail(e);
    }
  }

  /** Abandons the upload (`DELETE` of the session, best effort). Safe to call more than once. */
  async cancel(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "cancelled";
    await this.#abandon(new SociError(`${this.#action}: cancelled`));
  }

  #usable(): void {
    if (this.#state === "failed") throw this.#failure;
    if (this.#state !== "open") {
      throw new SociError(`${this.#action}: the upload is already ${this.#state}`);
    }
  }

  /** Marks the upload failed (once), abandons it remotely, and returns the error to throw. */
  async #fail(e: unknown): Promise<unknown> {
    if (this.#state === "open") {
      this.#state = "failed";
      this.#failure = e;
      await this.#abandon(e);
    }
    return e;
  }

  async #abandon(reason: unknown): Promise<void> {
    await this.#writer?.abort(reason).catch(() => {});
    await Promise.allSettled([this.#inflight, this.#streamed]);
    this.#buf = this.#spare = undefined;
    try {
      const res = await this.#t.send({
        action: `cancel ${this.#action}`,
        method: "DELETE",
        url: this.#location,
        scopes: this.#scopes,
        allowNotFound: true,
      });
      await res.body?.cancel();
    } catch {
      // best effort: registries purge abandoned uploads themselves
    }
  }

  /** The filled part of the current chunk, which this upload no longer holds. */
  #takeBuffer(): Uint8Array {
    const out = this.#buf ? this.#buf.subarray(0, this.#fill) : new Uint8Array(0);
    this.#buf = undefined;
    this.#fill = 0;
    return out;
  }

  /** Sends the filled chunk once the previous one is through (chunked mode). */
  async #flush(): Promise<void> {
    await this.#inflight;
    const buf = this.#buf!;
    const data = buf.subarray(0, this.#fill);
    const start = this.#sent;
    this.#sent += data.length;
    this.#buf = undefined;
    this.#fill = 0;
    this.#inflight = this.#sendChunk(data, start).then(() => {
      this.#spare = buf;
    });
    // Awaited by the next flush or commit; a failure meanwhile is not unhandled.
    this.#inflight.catch(() => {});
  }

  /** `PATCH`es `data` at offset `start`, resuming where the registry stands after a failure. */
  async #sendChunk(data: Uint8Array, start: number): Promise<void> {
    let from = start;
    let part = data;
    let attempt = 0;
    await this.#t.maybeRetry(this.#retry, this.#action, async () => {
      if (attempt++ > 0) {
        const held = await this.#resumeAt(from, from + part.length);
        part = part.subarray(held - from);
        from = held;
        if (part.length === 0) return;
      }
      const res = await this.#t.send({
        action: this.#action,
        method: "PATCH",
        url: this.#location,
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${from}-${from + part.length - 1}`,
        },
        body: part,
        scopes: this.#scopes,
      });
      await res.body?.cancel();
      this.#location = nextLocation(res, this.#location);
    });
  }

  /** `PUT ?digest=` (with the whole blob as `body` when nothing was `PATCH`ed). */
  async #finish(digest: string, size: number, body: Uint8Array | undefined): Promise<void> {
    const held = body ? 0 : size;
    let attempt = 0;
    await this.#t.maybeRetry(this.#retry, this.#action, async () => {
      if (attempt++ > 0) {
        // The PUT may have landed with its answer lost: then the blob is there.
        if (await this.#blobExists(digest, size)) return;
        await this.#resumeAt(held, held);
      }
      const url = new URL(this.#location);
      url.searchParams.set("digest", digest);
      const res = await this.#t.send({
        action: this.#action,
        method: "PUT",
        url: url.href,
        headers: { "content-type": "application/octet-stream" },
        body: body ?? new Uint8Array(0),
        scopes: this.#scopes,
      });
      await res.body?.cancel();
    });
  }

  async #blobExists(digest: string, size: number): Promise<boolean> {
    const res = await this.#t.send({
      action: this.#action,
      method: "HEAD",
      url: this.#t.url(this.repository, `blobs/${digest}`),
      scopes: this.#scopes,
      allowNotFound: true,
    });
    await res.body?.cancel();
    return res.status !== 404 && Number(res.headers.get("content-length") ?? size) === size;
  }

  /**
   * Asks the registry how many bytes the upload holds (`GET` of the
   * location: `Range: 0-<last>`); it must be within `[min, max]`, else the
   * upload cannot go on.
   */
  async #resumeAt(min: number, max: number): Promise<number> {
    let res: Response;
    try {
      res = await this.#t.send({
        action: this.#action,
        method: "GET",
        url: this.#location,
        scopes: this.#scopes,
      });
    } catch (e) {
      if (e instanceof TransientRegistryError) throw e;
      throw new RegistryError(
        `${this.#t.registry}: ${this.#action}: the upload cannot be resumed at byte ${min}: ${
          (e as Error).message
        }`,
        { cause: e, status: (e as RegistryError).status, code: (e as RegistryError).code },
      );
    }
    await res.body?.cancel();
    this.#location = nextLocation(res, this.#location);
    const m = /^(?:bytes=)?0-(\d+)$/.exec((res.headers.get("range") ?? "").trim());
    // `0-0` is what distribution says for both 0 and 1 byte held.
    const last = m ? Number(m[1]) : -1;
    const held = last <= 0 ? (min === 1 ? 1 : 0) : last + 1;
    if (held < min || held > max) {
      throw new RegistryError(
        `${this.#t.registry}: ${this.#action}: the upload cannot be resumed: the registry holds ${held} bytes, expected ${
          min === max ? min : `${min} to ${max}`
        }`,
      );
    }
    this.#t.trace(`http retry ${this.#action} from byte ${held}`);
    return held;
  }

  /** Starts the one streamed `PATCH` (stream mode). */
  #openStream(): void {
    const pipe = new TransformStream<Uint8Array, Uint8Array>(
      {},
      new ByteLengthQueuingStrategy({ highWaterMark: this.#step }),
    );
    this.#writer = pipe.writable.getWriter();
    const writer = this.#writer;
    this.#streamed = this.#t.send({
      action: this.#action,
      method: "PATCH",
      url: this.#location,
      headers: { "content-type": "application/octet-stream" },
      body: pipe.readable,
      scopes: this.#scopes,
    }).then(async (res) => {
      await res.body?.cancel();
      this.#location = nextLocation(res, this.#location);
    });
    this.#streamed.catch((e) => writer.abort(e).catch(() => {}));
  }

  /** Queues a chunk on the streamed `PATCH` once there is room (stream mode). */
  async #push(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0) return;
    const writer = this.#writer!;
    await writer.ready;
    // Settles when the request body takes the chunk; `ready` gives the back-pressure.
    writer.write(chunk).catch(() => {});
  }
}
