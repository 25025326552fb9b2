/**
 * A loopback HTTP proxy in front of a plain-HTTP registry that counts the
 * response body bytes it passes to the client, per request: the measure
 * of what a reader really transferred, independent of the reader's own
 * counters.
 *
 * @module
 */

/** One proxied request. */
export interface CountedRequest {
  method: string;
  /** Path and query. */
  path: string;
  status: number;
  /** The `Range` header sent, if any. */
  range: string | null;
  /** Response body bytes passed to the client. */
  bytes: number;
}

/** A running counting proxy. */
export interface CountingProxy {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** Requests in arrival order (bytes grow while bodies stream). */
  requests: CountedRequest[];
  /** Body bytes passed so far, all requests. */
  total(): number;
  /** Forgets the requests seen so far. */
  reset(): void;
  stop(): Promise<void>;
}

/**
 * Starts the proxy on a free loopback port, forwarding to `upstream`
 * (`http://127.0.0.1:<port>`); `Location` headers pointing at the upstream
 * are rewritten to the proxy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startCountingProxy } from "./counting_proxy.ts";
 * const up = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} },
 *   () => new Response("hello"));
 * const proxy = startCountingProxy(`http://127.0.0.1:${up.addr.port}`);
 * await (await fetch(`http://${proxy.host}/x`)).text();
 * assert.equal(proxy.total(), 5);
 * await proxy.stop();
 * await up.shutdown();
 * ```
 */
export function startCountingProxy(upstream: string): CountingProxy {
  let requests: CountedRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined;
    const res = await fetch(upstream + url.pathname + url.search, {
      method: req.method,
      headers,
      body,
      redirect: "manual",
    });
    const rec: CountedRequest = {
      method: req.method,
      path: url.pathname + url.search,
      status: res.status,
      range: req.headers.get("range"),
      bytes: 0,
    };
    requests.push(rec);
    const out = new Headers(res.headers);
    const loc = out.get("location");
    if (loc && loc.startsWith(upstream)) {
      out.set("location", `http://${host}${loc.slice(upstream.length)}`);
    }
    if (res.body === null) return new Response(null, { status: res.status, headers: out });
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          rec.bytes += chunk.length;
          ctl.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: res.status, headers: out });
  });
  const host = `127.0.0.1:${server.addr.port}`;
  return {
    host,
    get requests() {
      return requests;
    },
    total: () => requests.reduce((n, r) => n + r.bytes, 0),
    reset: () => {
      requests = [];
    },
    stop: () => server.shutdown(),
  };
}
