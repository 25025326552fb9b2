/**
 * A loopback HTTP proxy in front of a plain-HTTP registry that counts, per
 * request, the bytes that went each way — streaming, nothing buffered, so
 * it also sits in front of benchmarks with large layers. Tests read from it
 * how many bytes of each blob were downloaded and what was uploaded or
 * mounted. `Location` headers are rewritten to point back at the proxy.
 *
 * @module
 */

/** One request as the proxy saw it. */
export interface CountedRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** Status of the answer (0 while in flight or when the upstream failed). */
  status: number;
  /** The `Range` header sent, if any. */
  range: string | null;
  /** Bytes of the request body the upstream received. */
  sent: number;
  /** Bytes of the response body passed back to the client. */
  received: number;
}

/** A running counting proxy. */
export interface CountingProxy {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Requests in arrival order. */
  requests: CountedRequest[];
  /** Response bytes of `GET /v2/<repo>/blobs/<digest>` requests, by digest. */
  blobBytesRead(): Map<string, number>;
  /** Digests of blobs uploaded (`PUT …/blobs/uploads/…?digest=`) that completed. */
  uploaded(): string[];
  /** Digests of blobs mounted (`POST …/blobs/uploads/?mount=` answered 201). */
  mounted(): string[];
  /** Bytes of request bodies sent to `…/blobs/uploads/…` in all. */
  uploadBytes(): number;
  /** Response body bytes passed to the client so far, all requests. */
  total(): number;
  /** Forgets the requests seen so far. */
  reset(): void;
  /** Stops the proxy. */
  stop(): Promise<void>;
}

function counter(onBytes: (n: number) => void): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      onBytes(chunk.length);
      controller.enqueue(chunk);
    },
  });
}

/**
 * Starts the proxy on a free loopback port in front of `upstream`
 * (`http://127.0.0.1:<port>`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startCountingProxy } from "./counting_proxy.ts";
 * const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} },
 *   () => new Response("hello"));
 * const proxy = startCountingProxy(`http://127.0.0.1:${upstream.addr.port}`);
 * const d = "sha256:" + "a".repeat(64);
 * assert.equal(await (await fetch(`${proxy.url}/v2/a/blobs/${d}`)).text(), "hello");
 * assert.equal(proxy.blobBytesRead().get(d), 5);
 * assert.equal(proxy.total(), 5);
 * await proxy.stop();
 * await upstream.shutdown();
 * ```
 */
export function startCountingProxy(upstream: string): CountingProxy {
  const upstreamOrigin = new URL(upstream).origin;
  let requests: CountedRequest[] = [];
  let origin = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const path = u.pathname + u.search;
    const seen: CountedRequest = {
      method: req.method,
      path,
      status: 0,
      range: req.headers.get("range"),
      sent: 0,
      received: 0,
    };
    requests.push(seen);
    const headers = new Headers(req.headers);
    headers.delete("host");
    const body = req.body ? req.body.pipeThrough(counter((n) => seen.sent += n)) : undefined;
    const res = await fetch(upstreamOrigin + path, {
      method: req.method,
      headers,
      body,
      redirect: "manual",
      // @ts-ignore: Deno's fetch streams request bodies (duplex half).
      duplex: "half",
    });
    seen.status = res.status;
    const out = new Headers(res.headers);
    const location = out.get("location");
    if (location?.startsWith(upstreamOrigin)) {
      out.set("location", origin + location.slice(upstreamOrigin.length));
    }
    const resBody = res.body ? res.body.pipeThrough(counter((n) => seen.received += n)) : null;
    return new Response(resBody, { status: res.status, headers: out });
  });
  origin = `http://127.0.0.1:${server.addr.port}`;
  const blobRe = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/;
  return {
    host: `127.0.0.1:${server.addr.port}`,
    url: origin,
    get requests() {
      return requests;
    },
    blobBytesRead() {
      const m = new Map<string, number>();
      for (const r of requests) {
        const hit = r.method === "GET" ? blobRe.exec(r.path.split("?")[0]) : null;
        if (hit) m.set(hit[1], (m.get(hit[1]) ?? 0) + r.received);
      }
      return m;
    },
    uploaded() {
      return requests.filter((r) =>
        r.method === "PUT" && r.path.includes("/blobs/uploads/") && r.status === 201
      ).map((r) => decodeURIComponent(new URL(r.path, origin).searchParams.get("digest") ?? ""));
    },
    mounted() {
      return requests.filter((r) =>
        r.method === "POST" && r.path.includes("mount=") && r.status === 201
      ).map((r) => decodeURIComponent(new URL(r.path, origin).searchParams.get("mount") ?? ""));
    },
    uploadBytes() {
      return requests.filter((r) => r.path.includes("/blobs/uploads/"))
        .reduce((n, r) => n + r.sent, 0);
    },
    total() {
      return requests.reduce((n, r) => n + r.received, 0);
    },
    reset() {
      requests = [];
    },
    stop: () => server.shutdown(),
  } as CountingProxy;
}
