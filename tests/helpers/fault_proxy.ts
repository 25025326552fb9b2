/**
 * A loopback proxy in front of a plain-HTTP registry that misbehaves on
 * purpose, deterministically (seeded): it drops every n-th TCP connection
 * before answering, answers some requests with 500 or 429 (`Retry-After`),
 * and cuts some response bodies half way. It also records every request,
 * so tests can assert what a client did (e.g. "uploaded nothing").
 *
 * Two layers: a TCP listener (connection drops) piping into an in-process
 * HTTP server that forwards to the upstream with `fetch` (HTTP faults).
 *
 * @module
 */
import { prng } from "./bytes.ts";

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** Upstream base URL, e.g. `http://127.0.0.1:5000`. */
  upstream: string;
  /** PRNG seed (default 1). */
  seed?: number;
  /** Drop every n-th TCP connection right after accepting it (0 = never). */
  dropEveryNthConnection?: number;
  /** Probability of answering 500 without forwarding. */
  errorRate?: number;
  /** Probability of answering 429 with `Retry-After` without forwarding. */
  throttleRate?: number;
  /** `Retry-After` seconds sent with 429 (default 1). */
  retryAfterSeconds?: number;
  /** Probability of forwarding but cutting the response body half way. */
  cutRate?: number;
  /** Which requests may get HTTP faults (default: all). */
  faultable?: (method: string, path: string) => boolean;
}

/** One request that reached the HTTP layer. */
export interface ProxiedRequest {
  method: string;
  path: string;
  /** The fault injected, if any. */
  fault?: "500" | "429" | "cut";
}

/** A running fault proxy. */
export interface FaultProxy {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Requests seen by the HTTP layer, in order. */
  requests: ProxiedRequest[];
  /** Counts of injected faults. */
  stats: { dropped: number; errors: number; throttled: number; cut: number };
  /** Stops both layers and closes open connections. */
  stop(): Promise<void>;
}

function cutStream(body: ReadableStream<Uint8Array>, after: number): ReadableStream<Uint8Array> {
  let sent = 0;
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= after) {
        // Ending early under the full Content-Length makes the server drop
        // the connection: the client sees a body cut short.
        await reader.cancel().catch(() => {});
        controller.close();
        return;
      }
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      const take = Math.min(value.length, after - sent);
      controller.enqueue(value.subarray(0, take));
      sent += take;
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/**
 * Starts the proxy on a free loopback port.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startFaultProxy } from "./fault_proxy.ts";
 * const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} },
 *   () => new Response("hello"));
 * const proxy = await startFaultProxy({ upstream: `http://127.0.0.1:${upstream.addr.port}` });
 * const res = await fetch(`${proxy.url}/x`);
 * assert.ok((await res.text()) === "hello");
 * await proxy.stop();
 * await upstream.shutdown();
 * ```
 */
export function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const random = prng(opts.seed ?? 1);
  const upstream = new URL(opts.upstream);
  const requests: ProxiedRequest[] = [];
  const stats = { dropped: 0, errors: 0, throttled: 0, cut: 0 };
  const conns = new Set<Deno.Conn>();
  let publicOrigin = "";

  const inner = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const path = u.pathname + u.search;
    const entry: ProxiedRequest = { method: req.method, path };
    requests.push(entry);
    const faultable = opts.faultable?.(req.method, path) ?? true;
    const roll = random();
    const errorRate = faultable ? opts.errorRate ?? 0 : 0;
    const throttleRate = faultable ? opts.throttleRate ?? 0 : 0;
    const cutRate = faultable ? opts.cutRate ?? 0 : 0;
    if (roll < errorRate) {
      entry.fault = "500";
      stats.errors++;
      await req.body?.cancel();
      return new Response("fault proxy: internal error\n", { status: 500 });
    }
    if (roll < errorRate + throttleRate) {
      entry.fault = "429";
      stats.throttled++;
      await req.body?.cancel();
      return new Response(
        JSON.stringify({ errors: [{ code: "TOOMANYREQUESTS", message: "slow down" }] }),
        {
          status: 429,
          headers: {
            "content-type": "application/json",
            "retry-after": String(opts.retryAfterSeconds ?? 1),
          },
        },
      );
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    const body = req.method === "GET" || req.method === "HEAD"
      ? undefined
      : new Uint8Array(await req.arrayBuffer());
    const res = await fetch(new URL(path, upstream), {
      method: req.method,
      headers,
      body,
      redirect: "manual",
    });
    const outHeaders = new Headers(res.headers);
    const location = outHeaders.get("location");
    if (location?.startsWith(upstream.origin)) {
      outHeaders.set("location", publicOrigin + location.slice(upstream.origin.length));
    }
    const length = Number(res.headers.get("content-length") ?? 0);
    if (
      res.body && req.method !== "HEAD" && length > 1 && roll < errorRate + throttleRate + cutRate
    ) {
      entry.fault = "cut";
      stats.cut++;
      outHeaders.set("content-length", String(length));
      return new Response(cutStream(res.body, Math.floor(length / 2)), {
        status: res.status,
        headers: outHeaders,
      });
    }
    return new Response(res.body, { status: res.status, headers: outHeaders });
  });
  const innerPort = inner.addr.port;

  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  publicOrigin = `http://127.0.0.1:${port}`;
  let accepted = 0;
  const pipes: Promise<unknown>[] = [];
  const acceptLoop = (async () => {
    for await (const conn of listener) {
      accepted++;
      if (opts.dropEveryNthConnection && accepted % opts.dropEveryNthConnection === 0) {
        stats.dropped++;
        try {
          conn.close();
        } catch {
          // already closed
        }
        continue;
      }
      conns.add(conn);
      pipes.push((async () => {
        let up: Deno.Conn | undefined;
        try {
          up = await Deno.connect({ hostname: "127.0.0.1", port: innerPort });
          conns.add(up);
          // When either direction ends, the exchange is over: close both.
          await Promise.race([
            conn.readable.pipeTo(up.writable, { preventClose: true }).catch(() => {}),
            up.readable.pipeTo(conn.writable, { preventClose: true }).catch(() => {}),
          ]);
        } catch {
          // connection torn down
        } finally {
          for (const c of [conn, up]) {
            if (!c) continue;
            conns.delete(c);
            try {
              c.close();
            } catch {
              // already closed
            }
          }
        }
      })());
    }
  })();

  return Promise.resolve({
    host: `127.0.0.1:${port}`,
    url: publicOrigin,
    requests,
    stats,
    async stop() {
      listener.close();
      await acceptLoop.catch(() => {});
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await Promise.all(pipes);
      await inner.shutdown();
    },
  });
}
