/**
 * A loopback HTTP proxy in front of a real (plain-HTTP) registry, for
 * tests that must see or steer single requests: it records every request
 * (method, path, `Content-Range`, body length), counts how many are in
 * flight at once, rewrites the registry's `Location` headers to point back
 * at itself, and lets a hook act on a request: hold it, forward it and
 * change the answer, or answer it alone.
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
 * `body` is the request body (undefined for GET and HEAD).
 */
export type InterceptHook = (
  req: InterceptedRequest,
  forward: () => Promise<Response>,
  body: Uint8Array | undefined,
) => Promise<Response>;

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
  /** Stops the proxy. */
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
      return hook ? await hook(seen, forward, body) : await forward();
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
    stop: () => server.shutdown(),
  };
}
