/**
 * The stall limit of registry requests: a request fails when the registry
 * sends nothing for too long, whether it is the answer's headers that do
 * not come or the bytes of its body, so that a registry that accepts a
 * connection and then goes silent never makes a command hang. A slow
 * transfer that keeps making progress is never cut: only silence counts,
 * and only while this process is waiting on the registry (not while the
 * consumer of a body is busy, nor while the producer of a streamed upload
 * is).
 *
 * The limit is {@link DEFAULT_STALL_MS} (60 s), the transport's `stallMs`
 * option, or the `SOCI_STALL_TIMEOUT` environment variable (a duration:
 * `300ms`, `2m`; `0` = no limit). A stalled request fails with
 * {@link StallError} (`no data from the registry for 60 s`), which the
 * transport reports as `<host>: <action>: no data from the registry for
 * 60 s` and retries like a dropped connection.
 *
 * @module
 */
import { BadInputError } from "../errors.ts";
import { MILLISECOND, parseDuration } from "../go/duration.ts";
import { grantedEnv } from "../util/env.ts";

/** Default stall limit: 60 s without a byte from the registry. */
export const DEFAULT_STALL_MS = 60_000;

/** The environment variable that sets the stall limit (a duration; `0` = none). */
export const STALL_ENV = "SOCI_STALL_TIMEOUT";

/**
 * Slowest upload rate assumed for a request body given as bytes, whose
 * sending cannot be watched: the wait for the answer gets `size / rate`
 * more time than the stall limit (16 KiB/s: 8 MiB adds 512 s).
 */
export const MIN_UPLOAD_BYTES_PER_SECOND = 16 * 1024;

/**
 * `60 s`, `0.3 s`: a stall limit in milliseconds as messages write it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatStall } from "./stall.ts";
 * assert.ok(formatStall(60_000) === "60 s");
 * assert.ok(formatStall(300) === "0.3 s");
 * ```
 */
export function formatStall(ms: number): string {
  return `${ms / 1000} s`;
}

/**
 * The failure of a request whose registry went silent. A plain `Error`
 * (not a `RegistryError`): body readers take it like a dropped connection
 * and resume or retry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StallError } from "./stall.ts";
 * const e = new StallError(60_000);
 * assert.ok(e.message === "no data from the registry for 60 s" && e.stallMs === 60_000);
 * ```
 */
export class StallError extends Error {
  /** The limit that was passed, in milliseconds. */
  readonly stallMs: number;

  /**
   * A stall of `stallMs` milliseconds.
   *
   * @param stallMs the stall limit.
   */
  constructor(stallMs: number) {
    super(`no data from the registry for ${formatStall(stallMs)}`);
    this.name = "StallError";
    this.stallMs = stallMs;
  }
}

/**
 * The stall limit from `SOCI_STALL_TIMEOUT` in milliseconds (`0` = none),
 * or `undefined` when it is unset or not granted; a `BadInputError` for a
 * value that is not a duration of zero or more.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stallMsFromEnv } from "./stall.ts";
 * const ms = stallMsFromEnv();
 * assert.ok(ms === undefined || ms >= 0);
 * ```
 */
export function stallMsFromEnv(): number | undefined {
  const text = grantedEnv(STALL_ENV);
  if (text === undefined || text === "") return undefined;
  let d: bigint;
  try {
    d = parseDuration(text);
  } catch (e) {
    throw new BadInputError(`${STALL_ENV}: ${(e as Error).message}`);
  }
  if (d < 0n) throw new BadInputError(`${STALL_ENV}: negative duration ${text}`);
  return Number(d / MILLISECOND);
}

/**
 * Watches one request for silence: armed while this process waits on the
 * registry ({@link StallWatch.wait}), paused while it does not
 * ({@link StallWatch.pause}); when a wait lasts too long, {@link
 * StallWatch.signal} aborts with a {@link StallError}, which the request's
 * `fetch` (given that signal) and its body then fail with. A limit of 0
 * never fires. No timer is left running while paused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StallError, StallWatch } from "./stall.ts";
 * const watch = new StallWatch(20);
 * const slow = ReadableStream.from((async function* () {
 *   for (let i = 0; i < 3; i++) {
 *     await new Promise((r) => setTimeout(r, 5));
 *     yield new Uint8Array([i]);
 *   }
 * })());
 * assert.ok((await new Response(watch.download(slow)).bytes()).length === 3);
 * const silent = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
 * const body = watch.download(silent);
 * await assert.rejects(new Response(body).bytes(), StallError);
 * assert.ok(watch.stalled);
 * ```
 */
export class StallWatch {
  /** The limit, in milliseconds (0 = none). */
  readonly limitMs: number;
  readonly #ctl = new AbortController();
  #timer?: ReturnType<typeof setTimeout>;
  #answered = false;

  /**
   * A watch with a limit of `limitMs` (0 = none).
   *
   * @param limitMs the stall limit in milliseconds.
   */
  constructor(limitMs: number) {
    this.limitMs = Math.max(0, limitMs);
  }

  /** Aborts (with a {@link StallError}) when a wait lasts too long. */
  get signal(): AbortSignal {
    return this.#ctl.signal;
  }

  /** True once a wait lasted too long. */
  get stalled(): boolean {
    return this.#ctl.signal.aborted;
  }

  /**
   * Starts (or starts over) waiting on the registry: the signal aborts
   * unless {@link StallWatch.pause} or another `wait` comes within the
   * limit plus `extraMs`.
   */
  wait(extraMs = 0): void {
    if (this.limitMs <= 0 || this.stalled) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#ctl.abort(new StallError(this.limitMs));
    }, this.limitMs + Math.max(0, extraMs));
  }

  /** Stops waiting: the registry sent something, or it is this process's turn. */
  pause(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * The answer's headers came: stops waiting, and what is left of the
   * request body (if the registry answered before taking it all) is no
   * longer waited on.
   */
  answered(): void {
    this.#answered = true;
    this.pause();
  }

  /**
   * A request body that keeps the watch on while the registry has to take
   * what was handed over (and for the answer once it is all sent), and off
   * while the body's producer is at work and once the answer came.
   */
  upload(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        this.pause();
        const { done, value } = await reader.read();
        if (!this.#answered) this.wait();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
  }

  /**
   * A response body that keeps the watch on while its consumer waits for
   * bytes (and only then), failing with the {@link StallError} when the
   * registry sends none for too long.
   */
  download(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        for (;;) {
          this.wait();
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await this.#race(reader.read());
          } catch (e) {
            if (this.stalled) {
              await reader.cancel(this.signal.reason).catch(() => {});
              throw this.signal.reason;
            }
            throw e;
          } finally {
            this.pause();
          }
          if (chunk.done) {
            controller.close();
            return;
          }
          if (chunk.value.length === 0) continue;
          controller.enqueue(chunk.value);
          return;
        }
      },
      cancel: (reason) => {
        this.pause();
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
  }

  /**
   * `p`, or the stall when it comes first (the body of a `fetch` given
   * {@link StallWatch.signal} fails too).
   */
  #race<T>(p: Promise<T>): Promise<T> {
    if (this.limitMs <= 0) return p;
    const signal = this.signal;
    if (signal.aborted) {
      p.catch(() => {});
      return Promise.reject(signal.reason);
    }
    let onAbort = () => {};
    const stalled = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    return Promise.race([p, stalled]).finally(() => signal.removeEventListener("abort", onAbort));
  }
}
