/**
 * The HTTP layer of the registry client, for one registry host: `fetch`
 * with the TLS settings, the total time budget and the stall limit,
 * authentication (one new attempt after a 401 challenge), redirects for
 * reads (credentials never follow to another origin), the mapping of HTTP
 * statuses and network failures to errors, bounded body reads, retries,
 * and the `--debug` trace.
 *
 * Trace lines carry a per-request id so that concurrent requests can be
 * told apart: `http req #12 GET <url>`, `http res #12 200 OK`,
 * `http err #12 <reason>`, and `http retry <action> in <ms> ms`. URLs are
 * redacted ({@link redactUrl}) and headers are never traced, so no secret
 * reaches the trace.
 *
 * Which failures are retried: 408, 429 and 5xx answers, dropped
 * connections, and stalls: a registry that sends nothing (no answer, or no
 * more of a body) for the stall limit (`stallMs`, default 60 s; see
 * `stall.ts`) fails the request with `<host>: <action>: no data from the
 * registry for 60 s`, like a dropped connection (see `retry.ts`). A
 * refused connection or an unknown host name is retried at most twice
 * (well under a second) until the host has answered once, so a typo fails
 * fast while a registry restarting in the middle of a push is waited for.
 * A TLS handshake with a plain-HTTP server and an untrusted certificate
 * are not retried at all.
 *
 * @module
 */
import { BadInputError, RegistryError } from "../errors.ts";
import { Authenticator } from "./auth.ts";
import { type Credentials, dockerConfigUnread } from "./credentials.ts";
import { networkFailure, oneLine, parseErrorBody, redactUrl, schemeHint } from "./http_errors.ts";
import {
  DEFAULT_RETRY_POLICY,
  isRetryableStatus,
  parseRetryAfter,
  retrying,
  type RetryPolicy,
  sleep,
  TransientRegistryError,
} from "./retry.ts";
import {
  DEFAULT_STALL_MS,
  MIN_UPLOAD_BYTES_PER_SECOND,
  type StallError,
  stallMsFromEnv,
  StallWatch,
} from "./stall.ts";

/** Options of a {@link Transport}. */
export interface TransportOptions {
  /** Use `http://` instead of `https://` (`--plain-http`). */
  plainHttp?: boolean;
  /** Credentials; none = anonymous. */
  credentials?: Credentials;
  /** Extra CA certificates (PEM text) trusted for TLS, besides `DENO_CERT`. */
  caCerts?: string[];
  /** A client certificate and its key (PEM text) for registries that ask for one (mTLS). */
  clientCert?: { cert: string; key: string };
  /**
   * Total time budget in milliseconds for everything done over this
   * transport, counted from its creation (`--timeout`); 0 or absent = no
   * limit.
   */
  timeoutMs?: number;
  /**
   * Stall limit in milliseconds: a request fails when the registry sends
   * nothing (no answer, or no more of its body) for this long while it is
   * waited for; a transfer that keeps making progress is never cut.
   * Absent = `SOCI_STALL_TIMEOUT` (a duration), else {@link DEFAULT_STALL_MS}
   * (60 s); 0 = no limit. Unlike `timeoutMs`, it is counted afresh for every
   * wait.
   */
  stallMs?: number;
  /**
   * Receives the `http req|res|err|retry …` trace lines (`--debug`); never
   * secrets. The CLI writes them to stderr.
   */
  debug?: (line: string) => void;
  /** Retries after the first attempt of idempotent work (default 5). */
  maxRetries?: number;
  /** First backoff delay in milliseconds (default 200). */
  retryDelayMs?: number;
}

/** Options of a request that the caller can stop. */
export interface SignalOptions {
  /**
   * Stops the request, its retries and the reading of its body: they fail
   * with the signal's reason (at once, with nothing sent, when it is
   * already aborted).
   */
  signal?: AbortSignal;
}

/** The HTTP methods the distribution API uses. */
export type HttpMethod = "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";

/** One request to the registry, as {@link Transport.send} takes it. */
export interface HttpRequest extends SignalOptions {
  /** What is being done, for messages: `get manifest app:v1`. */
  action: string;
  /** The method. */
  method: HttpMethod;
  /** Absolute URL (see {@link Transport.url}). */
  url: string;
  /** Request headers (never traced). */
  headers?: Record<string, string>;
  /** The body; a stream cannot be sent again after a 401 challenge. */
  body?: Uint8Array | string | ReadableStream<Uint8Array>;
  /** Token scopes the request needs, e.g. `repository:app:pull`. */
  scopes: string[];
  /** Return a 404 answer instead of throwing it (existence checks). */
  allowNotFound?: boolean;
}

/**
 * The URL of the next page from a `Link: <…>; rel="next"` header, resolved
 * against the current page; `undefined` on the last page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nextLink } from "./transport.ts";
 * assert.ok(nextLink('</v2/a/tags/list?n=2&last=b>; rel="next"', "http://h/v2/a/tags/list") ===
 *   "http://h/v2/a/tags/list?n=2&last=b");
 * assert.ok(nextLink(null, "http://h/") === undefined);
 * ```
 */
export function nextLink(header: string | null, base: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(",")) {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return new URL(m[1], base).href;
  }
  return undefined;
}

/** Most pages a paginated list is followed for. */
const MAX_PAGES = 10_000;

/** Retries for a refused connection (or unknown host) to a host that never answered. */
const UNANSWERED_RETRIES = 2;
const MAX_REDIRECTS = 5;

/** Request ids are unique in the process, so traces of several clients do not collide. */
let lastRequestId = 0;

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/**
 * Sends requests to one registry host. Every other part of the client
 * (blobs, manifests, referrers) goes through one of these.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Transport } from "./transport.ts";
 * const lines: string[] = [];
 * const t = new Transport("127.0.0.1:9", { plainHttp: true, debug: (l) => lines.push(l) });
 * assert.ok(t.url("team/app", "tags/list") === "http://127.0.0.1:9/v2/team/app/tags/list");
 * t.close();
 * ```
 */
export class Transport {
  /** Registry host as written in references (`host[:port]`). */
  readonly registry: string;
  /** `http(s)://<api host>`: Docker Hub's `docker.io` maps to `registry-1.docker.io`. */
  readonly baseUrl: string;
  /** True when speaking plain HTTP. */
  readonly plainHttp: boolean;
  /** How transient failures are retried. */
  readonly policy: RetryPolicy;
  /** The total time budget, when there is one. */
  readonly timeoutMs?: number;
  /** The stall limit in milliseconds (0 = none). */
  readonly stallMs: number;
  readonly #auth: Authenticator;
  readonly #http?: Deno.HttpClient;
  readonly #deadline?: number;
  readonly #debug?: (line: string) => void;
  /** Origins that have answered at least once. */
  readonly #answered = new Set<string>();
  readonly #ids = new WeakMap<Response, number>();

  /**
   * Makes a transport; nothing is sent until the first request.
   *
   * @param registry the host (`host[:port]`) of a reference.
   * @param opts TLS, credentials, time budget, trace and retry options.
   */
  constructor(registry: string, opts: TransportOptions = {}) {
    this.registry = registry;
    this.plainHttp = !!opts.plainHttp;
    const apiHost = registry === "docker.io" || registry === "index.docker.io"
      ? "registry-1.docker.io"
      : registry;
    this.baseUrl = `${this.plainHttp ? "http" : "https"}://${apiHost}`;
    if (!URL.canParse(this.baseUrl)) {
      // e.g. 256.1.1.1: a name the reference grammar allows and no URL can hold
      throw new BadInputError(`invalid registry host: ${registry}`);
    }
    if ((opts.caCerts && opts.caCerts.length > 0) || opts.clientCert) {
      this.#http = Deno.createHttpClient({
        caCerts: opts.caCerts,
        ...(opts.clientCert ? { cert: opts.clientCert.cert, key: opts.clientCert.key } : {}),
      });
    }
    if (opts.timeoutMs && opts.timeoutMs > 0) {
      this.timeoutMs = opts.timeoutMs;
      this.#deadline = Date.now() + opts.timeoutMs;
    }
    this.stallMs = Math.max(0, opts.stallMs ?? stallMsFromEnv() ?? DEFAULT_STALL_MS);
    this.#debug = opts.debug;
    this.policy = {
      ...DEFAULT_RETRY_POLICY,
      ...(opts.maxRetries !== undefined ? { maxRetries: opts.maxRetries } : {}),
      ...(opts.retryDelayMs !== undefined ? { baseDelayMs: opts.retryDelayMs } : {}),
    };
    this.#auth = new Authenticator(
      registry,
      opts.credentials,
      (url, init) => this.fetch(url, init, "authenticate"),
    );
  }

  /** `<baseUrl>/v2/<repo>/<path>`. */
  url(repo: string, path: string): string {
    return `${this.baseUrl}/v2/${repo}/${path}`;
  }

  /** Writes a trace line (when tracing). */
  trace(line: string): void {
    this.#debug?.(line);
  }

  /** True once the time budget is spent. */
  get expired(): boolean {
    return this.#deadline !== undefined && Date.now() >= this.#deadline;
  }

  /** The error for work that ran out of time. */
  timedOut(action: string): RegistryError {
    return new RegistryError(`${this.registry}: ${action}: timed out after ${this.timeoutMs} ms`);
  }

  /**
   * Waits `ms`, or fails at once when the wait would pass the time budget
   * (or with `signal`'s reason when it aborts).
   */
  async wait(ms: number, action: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#deadline !== undefined && Date.now() + ms >= this.#deadline) {
      throw this.timedOut(action);
    }
    await sleep(ms, signal);
  }

  /**
   * Runs `fn`, retrying transient failures with the policy's backoff, within
   * the budget; once `signal` aborts, it fails with the signal's reason.
   */
  retry<T>(action: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return retrying(action, fn, {
      policy: this.policy,
      wait: (ms, a) => this.wait(ms, a, signal),
      trace: (line) => this.trace(line),
      signal,
    });
  }

  /**
   * {@link Transport.retry}, or one attempt when `retry` is false (the
   * first transient failure is then thrown as a `TransientRegistryError`).
   */
  maybeRetry<T>(retry: boolean | undefined, action: string, fn: () => Promise<T>): Promise<T> {
    return retry === false ? fn() : this.retry(action, fn);
  }

  /**
   * One exchange: the `Authorization` header for `req.scopes`, one new
   * attempt after a 401 challenge (unless the body is a stream), redirects
   * for GET and HEAD. Returns 2xx answers (and 404 with `allowNotFound`);
   * throws a `TransientRegistryError` for statuses worth another try and
   * a `RegistryError` for the others.
   */
  async send(req: HttpRequest): Promise<Response> {
    const replayable = !(req.body instanceof ReadableStream);
    let reauthed = false;
    for (;;) {
      const headers: Record<string, string> = { ...req.headers };
      const authorization = await this.#auth.header(req.scopes, req.signal);
      if (authorization) headers.authorization = authorization;
      const init: RequestInit = {
        method: req.method,
        headers,
        body: req.body as BodyInit,
        signal: req.signal,
      };
      let res = await this.fetch(req.url, init, req.action);
      if (res.status === 401 && !reauthed && replayable) {
        const challenge = res.headers.get("www-authenticate");
        const text = await res.text().catch(() => "");
        const retry = await this.#auth.challenge(challenge, req.scopes, {
          signal: req.signal,
          sent: authorization,
        });
        if (retry) {
          reauthed = true;
          continue;
        }
        throw this.statusError(req.action, res, text);
      }
      if ((req.method === "GET" || req.method === "HEAD") && isRedirect(res.status)) {
        res = await this.#followRedirects(res, req, headers);
      }
      if (res.status >= 200 && res.status < 300) return res;
      if (res.status === 404 && req.allowNotFound) return res;
      throw this.statusError(req.action, res, await res.text().catch(() => ""));
    }
  }

  /**
   * One `fetch` with the TLS settings, the time budget, the stall limit and
   * the trace; no authentication, no redirects. Network failures become
   * errors: a `TransientRegistryError` (`cannot reach registry …`) unless
   * retrying cannot help, and `<host>: <action>: no data from the registry
   * for 60 s` (transient too) when the answer does not come. The body of
   * the answer is watched for stalls as it is read (it then fails with a
   * `StallError`, which {@link Transport.bodyError} reports). When
   * `init.signal` aborts, the request and its body fail with its reason.
   */
  async fetch(url: string, init: RequestInit, action: string): Promise<Response> {
    const stop = init.signal ?? undefined;
    stop?.throwIfAborted();
    if (this.expired) throw this.timedOut(action);
    const deadline = this.#deadline !== undefined
      ? AbortSignal.timeout(Math.max(1, this.#deadline - Date.now()))
      : undefined;
    const watch = new StallWatch(this.stallMs);
    const signals = deadline ? [deadline, watch.signal] : [watch.signal];
    if (stop) signals.push(stop);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : watch.signal;
    let body = init.body;
    let extraMs = 0;
    if (body instanceof ReadableStream) {
      // Watched as it is sent: the registry must keep taking it.
      body = watch.upload(body);
    } else if (typeof body === "string" || ArrayBuffer.isView(body)) {
      // Bytes are sent out of sight: allow for a slow link before the answer is due.
      const size = typeof body === "string" ? body.length : body.byteLength;
      extraMs = Math.ceil(size * 1000 / MIN_UPLOAD_BYTES_PER_SECOND);
    }
    const id = ++lastRequestId;
    this.trace(`http req #${id} ${init.method ?? "GET"} ${redactUrl(url)}`);
    const origin = new URL(url).origin;
    watch.wait(extraMs);
    try {
      const res = await fetch(url, {
        ...init,
        body,
        redirect: "manual",
        signal,
        ...(this.#http ? { client: this.#http } : {}),
      } as RequestInit);
      watch.answered();
      this.#answered.add(origin);
      const watched = watchedBody(res, watch);
      this.#ids.set(watched, id);
      this.trace(`http res #${id} ${res.status} ${res.statusText}`.trimEnd());
      return watched;
    } catch (e) {
      watch.pause();
      if (stop?.aborted) {
        this.trace(`http err #${id} aborted`);
        throw stop.reason;
      }
      if (deadline?.aborted || this.expired) {
        this.trace(`http err #${id} timed out`);
        throw this.timedOut(action);
      }
      if (watch.stalled) {
        const reason = (watch.signal.reason as StallError).message;
        this.trace(`http err #${id} ${reason}`);
        throw new TransientRegistryError(`${this.registry}: ${action}: ${reason}`);
      }
      const failure = networkFailure(e, this.plainHttp);
      this.trace(`http err #${id} ${failure.reason}`);
      const message = `cannot reach registry ${this.registry}: ${failure.reason}`;
      if (
        failure.kind === "tls-mismatch" || failure.kind === "certificate" ||
        failure.kind === "blocked"
      ) {
        throw new RegistryError(message);
      }
      const unanswered = (failure.kind === "refused" || failure.kind === "dns") &&
        !this.#answered.has(origin);
      throw new TransientRegistryError(
        message,
        unanswered ? { maxRetries: UNANSWERED_RETRIES } : {},
      );
    }
  }

  /**
   * The error for a failed answer: one line `<host>: <action>: <status>
   * <text>: <OCI code>: <message>`, with a hint for a refused login or a
   * plain-HTTP request to a TLS server. A `TransientRegistryError` (with
   * `Retry-After`) for statuses worth another try.
   */
  statusError(action: string, res: Response, body: string): RegistryError {
    const info = parseErrorBody(body);
    let msg = `${this.registry}: ${action}: ${res.status}`;
    if (res.statusText) msg += ` ${res.statusText}`;
    if (info.code) msg += `: ${info.code}`;
    if (info.message) msg += `: ${info.message}`;
    msg = oneLine(msg, 400) + schemeHint(res.status, body, this.plainHttp);
    const options = { status: res.status, code: info.code };
    if (isRetryableStatus(res.status)) {
      return new TransientRegistryError(msg, {
        ...options,
        retryAfterMs: parseRetryAfter(res.headers.get("retry-after")),
      });
    }
    if (res.status === 401) {
      const unread = this.#auth.hasCredentials ? undefined : dockerConfigUnread();
      msg += this.#auth.hasCredentials
        ? " (the credentials were refused)"
        : ` (no credentials: use --user or log in with the docker config${
          unread ? `; ${unread}` : ""
        })`;
    }
    return new RegistryError(msg, options);
  }

  /**
   * The error for a response body that broke off (or stalled: `no data
   * from the registry for 60 s`): timed out, or a `TransientRegistryError`
   * naming the action (traced as `http err #n`).
   */
  bodyError(e: unknown, action: string, res?: Response): RegistryError {
    if (this.expired) return this.timedOut(action);
    const reason = networkFailure(e, this.plainHttp).reason;
    const id = res ? this.#ids.get(res) : undefined;
    if (id !== undefined) this.trace(`http err #${id} ${reason}`);
    return new TransientRegistryError(`${this.registry}: ${action}: ${reason}`);
  }

  /**
   * GETs `url` and the pages that follow it (`Link: <…>; rel="next"`, at
   * most 10 000), each read whole (at most `limit` bytes) and retried as one
   * request, and yields each answer with its body. The caller may stop at
   * any page.
   */
  async *pages(
    req: Omit<HttpRequest, "method" | "url" | "body">,
    url: string,
    limit: number,
  ): AsyncGenerator<{ res: Response; bytes: Uint8Array }> {
    let next: string | undefined = url;
    for (let page = 0; next !== undefined && page < MAX_PAGES; page++) {
      const pageUrl: string = next;
      const answer = await this.retry(req.action, async () => {
        const res = await this.send({ ...req, method: "GET", url: pageUrl });
        return { res, bytes: await this.readBody(res, req.action, limit) };
      }, req.signal);
      yield answer;
      next = nextLink(answer.res.headers.get("link"), pageUrl);
    }
  }

  /**
   * Reads a whole response body of at most `limit` bytes (a
   * `BadInputError` beyond: a registry cannot make this process run out of
   * memory).
   */
  async readBody(res: Response, action: string, limit: number): Promise<Uint8Array> {
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
        throw this.bodyError(e, action, res);
      }
    }
    return concat(parts, total);
  }

  /** Releases the TLS client (if `caCerts` were given). */
  close(): void {
    this.#http?.close();
  }

  async #followRedirects(
    first: Response,
    req: HttpRequest,
    headers: Record<string, string>,
  ): Promise<Response> {
    let res = first;
    let url = req.url;
    for (let hop = 0; hop < MAX_REDIRECTS && isRedirect(res.status); hop++) {
      const location = res.headers.get("location");
      await res.body?.cancel();
      if (!location) return res;
      const next = new URL(location, url);
      const h: Record<string, string> = { ...headers };
      if (next.origin !== new URL(url).origin) delete h.authorization;
      url = next.href;
      res = await this.fetch(
        url,
        { method: req.method, headers: h, signal: req.signal },
        req.action,
      );
    }
    return res;
  }
}

/**
 * `res` with its body watched for stalls by `watch` (`res` itself when it
 * has no body or the watch no limit).
 */
function watchedBody(res: Response, watch: StallWatch): Response {
  const status = res.status;
  if (
    !res.body || watch.limitMs <= 0 || status < 200 || status > 599 || status === 204 ||
    status === 205 || status === 304
  ) {
    return res;
  }
  return new Response(watch.download(res.body), {
    status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

/** Joins byte chunks into one array (no copy when there is one chunk). */
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
