// The registry transport when the registry goes silent: no answer to a
// request, or an answer whose body stops after a byte with the connection
// left open. Each fails with one line `<host>: <action>: no data from the
// registry for <limit>`, retried like a dropped connection, instead of
// hanging; a slow body that keeps making progress is never cut; `--timeout`
// still means the whole budget; the CLI fails with one `soci: …` line.
// Real registry behind a stalling proxy; limits of 300 ms set through the
// transport option (or SOCI_STALL_TIMEOUT for the CLI).
import assert from "node:assert/strict";
import { BadInputError, RegistryError } from "../lib/errors.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { TransientRegistryError } from "../lib/registry/retry.ts";
import { DEFAULT_STALL_MS, STALL_ENV, stallMsFromEnv } from "../lib/registry/stall.ts";
import { Transport } from "../lib/registry/transport.ts";
import { sha256 } from "./helpers/bytes.ts";
import {
  heldAnswer,
  type InterceptHook,
  type InterceptProxy,
  pacedBody,
  startInterceptProxy,
} from "./helpers/intercept_proxy.ts";
import { linesOf, runSoci } from "./helpers/registry_e2e_cli.ts";
import { pseudoRandomBytes } from "./helpers/registry_oci_layout.ts";
import { startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { rejects } from "./helpers/rejects.ts";

const STALL_MS = 300;
const STALLED = "no data from the registry for 0.3 s";
/** A generous bound for work that must end (never a measure of speed). */
const BOUND_MS = 20_000;

/** True when nothing listens on `host` (`127.0.0.1:<port>`) any more. */
async function closed(host: string): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port: Number(host.split(":")[1]) })).close();
    return false;
  } catch {
    return true;
  }
}

interface Setup {
  reg: TestRegistry;
  proxy: InterceptProxy;
  client: RegistryClient;
  trace: string[];
}

/**
 * A registry, a proxy in front of it steered by `hook`, and a client of
 * the proxy (stall limit 300 ms, 2 quick retries); everything is stopped
 * after `fn`, and the test checks that it is.
 */
async function withStallingProxy(
  hook: InterceptHook,
  fn: (s: Setup) => Promise<void>,
  opts: { stallMs?: number; timeoutMs?: number; chunkSize?: number } = {},
): Promise<void> {
  const reg = await startRegistry();
  const proxy = startInterceptProxy(reg.url, hook);
  const trace: string[] = [];
  const client = new RegistryClient(proxy.host, {
    plainHttp: true,
    stallMs: opts.stallMs ?? STALL_MS,
    timeoutMs: opts.timeoutMs,
    chunkSize: opts.chunkSize,
    maxRetries: 2,
    retryDelayMs: 1,
    debug: (l) => trace.push(l),
  });
  try {
    await fn({ reg, proxy, client, trace });
  } finally {
    client.close();
    await proxy.stop();
    await reg.stop();
  }
  assert.ok(await closed(proxy.host), "the proxy is stopped");
  assert.ok(await closed(reg.host), "the registry is stopped");
}

/** Uploads `blob` straight to the registry (not through the proxy). */
async function seed(reg: TestRegistry, blob: Uint8Array): Promise<string> {
  const direct = new RegistryClient(reg.host, { plainHttp: true });
  try {
    const digest = sha256(blob);
    await direct.blobs.upload("app", { digest, size: blob.length }, blob);
    return digest;
  } finally {
    direct.close();
  }
}

const isBlobGet = (method: string, path: string) =>
  method === "GET" && path.includes("/blobs/sha256:");

/** Blob GETs answer with headers and one byte of the body, then nothing. */
const oneByteThenSilence: InterceptHook = async (req, forward, _body, stopping) => {
  const res = await forward();
  if (!isBlobGet(req.method, req.path) || !res.body) return res;
  return new Response(pacedBody(res.body, { stallAfter: 1, stopping }), {
    status: res.status,
    headers: res.headers,
  });
};

Deno.test("no answer: the request fails with one line after each attempt stalls", async () => {
  await withStallingProxy(
    (req, forward, _body, stopping) =>
      req.path.includes("/manifests/") ? heldAnswer(stopping) : forward(),
    async ({ proxy, client, trace }) => {
      const started = Date.now();
      const e = await rejects(client.manifests.get("app", "v1"));
      const took = Date.now() - started;
      assert.ok(e instanceof RegistryError, String(e));
      assert.ok(!(e instanceof TransientRegistryError), "exhausted retries are final");
      assert.equal(e.message, `${proxy.host}: get manifest app:v1: ${STALLED}`);
      // Retried like a dropped connection: the first attempt and 2 retries.
      assert.equal(proxy.requests.filter((r) => r.path.includes("/manifests/")).length, 3);
      assert.equal(trace.filter((l) => l.endsWith(` ${STALLED}`)).length, 3, trace.join("\n"));
      assert.ok(took >= 3 * (STALL_MS - 50) && took < BOUND_MS, `${took} ms`);
    },
  );
});

Deno.test("headers and one body byte, then silence: a whole read fails with one line", async () => {
  const blob = pseudoRandomBytes(5000, 21);
  await withStallingProxy(
    oneByteThenSilence,
    async ({ reg, proxy, client }) => {
      const digest = await seed(reg, blob);
      const started = Date.now();
      const e = await rejects(client.blobs.get("app", { digest, size: blob.length }));
      assert.ok(e instanceof RegistryError && !(e instanceof TransientRegistryError), String(e));
      assert.equal(e.message, `${proxy.host}: get blob app@${digest}: ${STALLED}`);
      assert.equal(proxy.requests.filter((r) => isBlobGet(r.method, r.path)).length, 3);
      assert.ok(Date.now() - started < BOUND_MS);
    },
  );
});

Deno.test("a streamed download that stalls after a byte on every request gives up", async () => {
  const blob = pseudoRandomBytes(5000, 22);
  await withStallingProxy(
    oneByteThenSilence,
    async ({ reg, proxy, client }) => {
      const digest = await seed(reg, blob);
      const started = Date.now();
      const got: number[] = [];
      const e = await rejects((async () => {
        for await (const c of await client.blobs.chunks("app", digest, { size: blob.length })) {
          got.push(...c);
        }
      })());
      assert.ok(e instanceof RegistryError, String(e));
      // One byte per request is no progress: 3 requests (2 resumes), 3 bytes.
      assert.equal(
        e.message,
        `${proxy.host}: get blob app@${digest}: download failed at byte 3: ${STALLED}`,
      );
      assert.deepEqual(got, [...blob.subarray(0, 3)]);
      const gets = proxy.requests.filter((r) => isBlobGet(r.method, r.path));
      assert.equal(gets.length, 3);
      assert.ok(Date.now() - started < BOUND_MS);
    },
  );
});

Deno.test("a slow body that keeps making progress is not cut", async () => {
  const blob = pseudoRandomBytes(10_000, 23);
  await withStallingProxy(
    async (req, forward, _body, stopping) => {
      const res = await forward();
      if (!isBlobGet(req.method, req.path) || !res.body) return res;
      // 10 pieces, one every 100 ms: 1 s in all, never 300 ms of silence.
      return new Response(pacedBody(res.body, { piece: 1000, intervalMs: 100, stopping }), {
        status: res.status,
        headers: res.headers,
      });
    },
    async ({ reg, proxy, client, trace }) => {
      const digest = await seed(reg, blob);
      const whole = await client.blobs.get("app", { digest, size: blob.length });
      assert.deepEqual(whole, blob);
      const chunks: Uint8Array[] = [];
      for await (const c of await client.blobs.chunks("app", digest, { size: blob.length })) {
        chunks.push(c);
      }
      assert.deepEqual(new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer()), blob);
      assert.equal(proxy.requests.filter((r) => isBlobGet(r.method, r.path)).length, 2);
      assert.deepEqual(trace.filter((l) => l.startsWith("http err ")), []);
    },
  );
});

Deno.test("a consumer that takes its time is not a stall", async () => {
  const blob = pseudoRandomBytes(3000, 24);
  await withStallingProxy(
    async (req, forward, _body, stopping) => {
      const res = await forward();
      if (!isBlobGet(req.method, req.path) || !res.body) return res;
      // Three pieces that come apart (50 ms between them), each well within the limit.
      return new Response(pacedBody(res.body, { piece: 1000, intervalMs: 50, stopping }), {
        status: res.status,
        headers: res.headers,
      });
    },
    async ({ reg, client, trace }) => {
      const digest = await seed(reg, blob);
      const chunks: Uint8Array[] = [];
      for await (const c of await client.blobs.chunks("app", digest, { size: blob.length })) {
        chunks.push(c);
        // Busy well past the limit between reads: the registry is not waited on.
        await new Promise((r) => setTimeout(r, 2 * STALL_MS));
      }
      assert.deepEqual(new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer()), blob);
      assert.ok(chunks.length >= 2, `${chunks.length} chunks`);
      assert.deepEqual(trace.filter((l) => l.startsWith("http err ")), []);
    },
  );
});

Deno.test("no answer to an upload: the upload fails with one line", async () => {
  const blob = pseudoRandomBytes(2000, 25);
  await withStallingProxy(
    (req, forward, _body, stopping) => req.method === "PUT" ? heldAnswer(stopping) : forward(),
    async ({ proxy, client }) => {
      const digest = sha256(blob);
      const started = Date.now();
      const e = await rejects(client.blobs.upload("app", { digest, size: blob.length }, blob));
      assert.ok(e instanceof RegistryError, String(e));
      assert.equal(e.message, `${proxy.host}: upload blob app@${digest}: ${STALLED}`);
      assert.equal(proxy.requests.filter((r) => r.method === "PUT").length, 3);
      assert.ok(Date.now() - started < BOUND_MS);
    },
  );
});

Deno.test("a streamed upload: a slow producer is not a stall, a held answer is", async () => {
  const parts = [0, 1, 2].map((i) => pseudoRandomBytes(1000, 30 + i));
  const blob = new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
  const digest = sha256(blob);
  let hold = false;
  await withStallingProxy(
    (req, forward, _body, stopping) =>
      hold && req.method === "PATCH" ? heldAnswer(stopping) : forward(),
    async ({ proxy, client, trace }) => {
      // The producer takes twice the limit between writes: not the registry's silence.
      const up = await client.blobs.startUpload("app", { mode: "stream" });
      for (const p of parts) {
        await up.write(p);
        await new Promise((r) => setTimeout(r, 2 * STALL_MS));
      }
      await up.commit(digest, blob.length);
      assert.equal(await client.blobs.head("app", digest), blob.length);
      assert.deepEqual(trace.filter((l) => l.startsWith("http err ")), []);
      assert.equal(proxy.requests.filter((r) => r.method === "PATCH").length, 1);

      // The registry takes the streamed body and never answers: the upload fails.
      hold = true;
      const other = pseudoRandomBytes(3000, 33);
      const up2 = await client.blobs.startUpload("app", { mode: "stream" });
      const e = await rejects((async () => {
        for (let off = 0; off < other.length; off += 1000) {
          await up2.write(other.subarray(off, off + 1000));
        }
        await up2.commit(sha256(other), other.length);
      })());
      assert.ok(e instanceof RegistryError, String(e));
      assert.equal(e.message, `${proxy.host}: upload blob to app: ${STALLED}`);
      assert.equal(await client.blobs.head("app", sha256(other)), undefined);
    },
    { chunkSize: 1000 },
  );
});

Deno.test("--timeout is unchanged: with no stall limit, the budget ends a request", async () => {
  await withStallingProxy(
    (req, forward, _body, stopping) =>
      req.path.includes("/manifests/") ? heldAnswer(stopping) : forward(),
    async ({ proxy, client }) => {
      const e = await rejects(client.manifests.get("app", "v1"));
      assert.equal(e.message, `${proxy.host}: get manifest app:v1: timed out after 800 ms`);
      // One attempt: it never stalled (no limit), the budget ran out.
      assert.equal(proxy.requests.filter((r) => r.path.includes("/manifests/")).length, 1);
    },
    { stallMs: 0, timeoutMs: 800 },
  );
});

Deno.test("the stall limit: option, else SOCI_STALL_TIMEOUT, else 60 s", () => {
  const before = Deno.env.get(STALL_ENV);
  try {
    Deno.env.delete(STALL_ENV);
    assert.equal(new Transport("h:1").stallMs, DEFAULT_STALL_MS);
    assert.equal(DEFAULT_STALL_MS, 60_000);
    Deno.env.set(STALL_ENV, "1.5s");
    assert.equal(new Transport("h:1").stallMs, 1500);
    assert.equal(new Transport("h:1", { stallMs: 300 }).stallMs, 300);
    Deno.env.set(STALL_ENV, "0");
    assert.equal(stallMsFromEnv(), 0);
    for (const bad of ["soon", "-1s", "10"]) {
      Deno.env.set(STALL_ENV, bad);
      assert.throws(() => new Transport("h:1"), (e) => {
        assert.ok(e instanceof BadInputError, String(e));
        assert.match(e.message, /^SOCI_STALL_TIMEOUT: /);
        return true;
      });
    }
  } finally {
    if (before === undefined) Deno.env.delete(STALL_ENV);
    else Deno.env.set(STALL_ENV, before);
  }
});

Deno.test("CLI: `ls` of a registry that never answers fails with one line", async () => {
  await withStallingProxy(
    (_req, _forward, _body, stopping) => heldAnswer(stopping),
    async ({ proxy }) => {
      const started = Date.now();
      const r = await runSoci(["ls", "--plain-http", `docker://${proxy.host}/x:y`], {
        env: { [STALL_ENV]: "300ms" },
      });
      const lines = linesOf(r.stderr);
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(lines, [`soci: ${proxy.host}: get manifest x:y: ${STALLED}`]);
      // Retried like a dropped connection (the default policy: 5 retries).
      assert.equal(proxy.requests.length, 6);
      assert.ok(Date.now() - started < 60_000);
    },
  );
});
