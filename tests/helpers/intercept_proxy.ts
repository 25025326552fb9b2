/**
 * A loopback HTTP proxy in front of a real (plain-HTTP) registry, for
 * tests that must see or steer single requests: it records every request
 * (method, path, `Content-Range`, body length), counts how many are in
 * flight at once, rewrites the registry's `Location` headers to point back
 * at itself, and lets a hook act on a request: hold it, forward it and
 * change the answer, or answer it alone. A hook may also stall on
 * purpose (hold the answer, or pace or stop its body with
 * {@link pacedBody}) until the proxy stops: `stop()` ends every stall
 * before it shuts down.
 *
 * @module
 */

/** One request as the proxy saw it. */
export interface InterceptedRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** The `Content-Range` header, when sent. */
  contentRange: string | null;
  /** Bytes of the request body. */
  bodyLength: number;
}

/**
 * Decides what to answer: call `forward()` to pass the request to the
 * registry (and return its answer, or another one), or answer alone.
 * `body` is the request body (undefined for GET and HEAD); `stopping`
 * aborts when the proxy stops (a hook that holds a request waits for it).
 */
export type InterceptHook = (
  req: InterceptedRequest,
  forward: () => Promise<Response>,
  body: Uint8Array | undefined,
  stopping: AbortSignal,
) => Promise<Response>;

/** How {@link pacedBody} sends a body. */
export interface PacedBodyOptions {
  /** Bytes per piece (default: the pieces as they come). */
  piece?: number;
  /** Wait before each piece, in milliseconds (default 0). */
  intervalMs?: number;
  /** After this many bytes, send nothing more (connection kept open) until `stopping` aborts. */
  stallAfter?: number;
  /** Ends a stall (the proxy's `stopping` signal). */
  stopping: AbortSignal;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/**
 * An answer that never comes: resolves (with a 503) only when `stopping`
 * aborts, for a hook that holds a request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heldAnswer } from "./intercept_proxy.ts";
 * const stop = new AbortController();
 * const answer = heldAnswer(stop.signal);
 * stop.abort();
 * assert.ok((await answer).status === 503);
 * ```
 */
export async function heldAnswer(stopping: AbortSignal): Promise<Response> {
  await pause(2 ** 31 - 1, stopping);
  return new Response("intercept proxy: stopped\n", { status: 503 });
}

/**
 * `body` sent slowly: in pieces of `piece` bytes with `intervalMs` before
 * each, and no more than `stallAfter` bytes until `stopping` aborts (then
 * the body ends short of its `Content-Length`, so the client sees it cut).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pacedBody } from "./intercept_proxy.ts";
 * const stop = new AbortController();
 * const opts = { piece: 2, intervalMs: 1, stopping: stop.signal };
 * const body = pacedBody(new Response("hello").body!, opts);
 * assert.ok((await new Response(body).text()) === "hello");
 * ```
 */
export function pacedBody(
  body: ReadableStream<Uint8Array>,
  opts: PacedBodyOptions,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let pending: Uint8Array = new Uint8Array(0);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (opts.stallAfter !== undefined && sent >= opts.stallAfter) {
        await pause(2 ** 31 - 1, opts.stopping);
        await reader.cancel().catch(() => {});
        try {
          controller.close();
        } catch {
          // the client went away first
        }
        return;
      }
      if (pending.length === 0) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        pending = value;
      }
      let n = Math.min(pending.length, opts.piece ?? pending.length);
      if (opts.stallAfter !== undefined) n = Math.min(n, opts.stallAfter - sent);
      if (opts.intervalMs) await pause(opts.intervalMs, opts.stopping);
      controller.enqueue(pending.subarray(0, n));
      pending = pending.subarray(n);
      sent += n;
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** A running intercept proxy. */
export interface InterceptProxy {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Requests in arrival order. */
  requests: InterceptedRequest[];
  /** Most requests in flight at once so far. */
  maxInFlight(): number;
  /** Ends every stall (`stopping` aborts), then stops the proxy. */
  stop(): Promise<void>;
}

/**
 * Starts the proxy on a free loopback port.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startInterceptProxy } from "./intercept_proxy.ts";
 * const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} },
 *   () => new Response("hello"));
 * const proxy = startInterceptProxy(`http://127.0.0.1:${upstream.addr.port}`);
 * assert.ok((await (await fetch(`${proxy.url}/x`)).text()) === "hello");
 * assert.ok(proxy.requests[0].path === "/x");
 * await proxy.stop();
 * await upstream.shutdown();
 * ```
 */
export function startInterceptProxy(upstream: string, hook?: InterceptHook): InterceptProxy {
  const upstreamOrigin = new URL(upstream).origin;
  const requests: InterceptedRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let origin = "";
  const stopping = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const u = new URL(req.url);
      const path = u.pathname + u.search;
      const body = req.method === "GET" || req.method === "HEAD"
        ? undefined
        : new Uint8Array(await req.arrayBuffer());
      const seen: InterceptedRequest = {
        method: req.method,
        path,
        contentRange: req.headers.get("content-range"),
        bodyLength: body?.length ?? 0,
      };
      requests.push(seen);
      const forward = async () => {
        const headers = new Headers(req.headers);
        headers.delete("host");
        headers.delete("content-length");
        const res = await fetch(upstreamOrigin + path, {
          method: req.method,
          headers,
          body,
          redirect: "manual",
        });
        const out = new Headers(res.headers);
        const location = out.get("location");
        if (location?.startsWith(upstreamOrigin)) {
          out.set("location", origin + location.slice(upstreamOrigin.length));
        }
        return new Response(res.body, { status: res.status, headers: out });
      };
      return hook ? await hook(seen, forward, body, stopping.signal) : await forward();
    } finally {
      inFlight--;
    }
  });
  origin = `http://127.0.0.1:${server.addr.port}`;
  return {
    host: `127.0.0.1:${server.addr.port}`,
    url: origin,
    requests,
    maxInFlight: () => maxInFlight,
    stop: () => {
      stopping.abort();
      return server.shutdown();
    },
  };
}
