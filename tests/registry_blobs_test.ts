// Blob uploads fed chunk by chunk (BlobUpload) and ranged reads, against
// the real Debian docker-registry (distribution 2.8): the requests sent
// (seen by a recording proxy), back-pressure, resuming a chunk after a
// failure, what 2.8 cannot resume, cancel, commit checks, one read of a
// layer feeding both a hash and an upload to another registry, and ranged
// reads refused when the answer does not match the range asked for.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BadInputError, RegistryError, SociError } from "../lib/errors.ts";
import type { UploadMode } from "../lib/registry/blob_upload.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { pseudoRandomBytes } from "./helpers/registry_oci_layout.ts";
import { startFaultProxy } from "./helpers/fault_proxy.ts";
import { startInterceptProxy } from "./helpers/intercept_proxy.ts";
import { rejects } from "./helpers/rejects.ts";

const sha256 = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
const KiB = 1024;

/** The blob as the registry serves it (raw fetch, no client code). */
async function served(reg: TestRegistry, repo: string, digest: string): Promise<Uint8Array> {
  const res = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`);
  assert.equal(res.status, 200, `${repo}@${digest}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Uneven pieces of `data` (1 byte to ~50 KiB), as a producer would hand them over. */
function* pieces(data: Uint8Array): Generator<Uint8Array> {
  let pos = 0;
  for (let i = 0; pos < data.length; i++) {
    const n = Math.min(data.length - pos, 1 + ((i * 7919) % (50 * KiB)));
    yield data.subarray(pos, pos + n);
    pos += n;
  }
}

/**
 * The upload sessions of `repo` whose data the registry holds (distribution
 * 2.8 keeps an empty `hashstates` folder of a cancelled session; its
 * `data` file is gone).
 */
async function openSessions(reg: TestRegistry, repo: string): Promise<string[]> {
  const dir = join(reg.dir, "data/docker/registry/v2/repositories", repo, "_uploads");
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const data = await Deno.stat(join(dir, e.name, "data")).catch(() => undefined);
      if (data) out.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

Deno.test("startUpload: chunks as they come, in both modes; small blobs go whole", async (t) => {
  const reg = await startRegistry();
  const proxy = startInterceptProxy(reg.url);
  const client = new RegistryClient(proxy.host, { plainHttp: true, chunkSize: 256 * KiB });
  const sent = () => proxy.requests.map((r) => r.method).join(" ");
  try {
    await t.step("chunked: PATCHes with consecutive Content-Range, then an empty PUT", async () => {
      const data = pseudoRandomBytes(1024 * KiB + 1000, 1);
      proxy.requests.length = 0;
      const up = await client.blobs.startUpload("up");
      assert.equal(up.mode, "chunked");
      for (const p of pieces(data)) await up.write(p);
      assert.equal(up.written, data.length);
      await up.commit(sha256(data), data.length);
      assert.equal(sent(), "POST PATCH PATCH PATCH PATCH PATCH PUT");
      const patches = proxy.requests.filter((r) => r.method === "PATCH");
      const step = 256 * KiB;
      assert.deepEqual(
        patches.map((r) => [r.contentRange, r.bodyLength]),
        [0, 1, 2, 3, 4].map((i) => {
          const end = Math.min(data.length, (i + 1) * step);
          return [`${i * step}-${end - 1}`, end - i * step];
        }),
      );
      assert.equal(proxy.requests.at(-1)!.bodyLength, 0);
      assert.ok(proxy.requests.at(-1)!.path.includes(`digest=${encodeURIComponent(sha256(data))}`));
      assert.deepEqual(await served(reg, "up", sha256(data)), data);
    });

    await t.step("stream: one PATCH streaming the whole body, no Content-Range", async () => {
      const data = pseudoRandomBytes(1024 * KiB + 1000, 2);
      proxy.requests.length = 0;
      const up = await client.blobs.startUpload("up", { mode: "stream" });
      for (const p of pieces(data)) await up.write(p);
      await up.commit(sha256(data), data.length);
      assert.equal(sent(), "POST PATCH PUT");
      assert.equal(proxy.requests[1].contentRange, null);
      assert.equal(proxy.requests[1].bodyLength, data.length);
      assert.deepEqual(await served(reg, "up", sha256(data)), data);
    });

    for (const mode of ["chunked", "stream"] as UploadMode[]) {
      await t.step(`${mode}: up to one chunk (and nothing) goes with the PUT alone`, async () => {
        for (const size of [256 * KiB, 1, 0]) {
          const data = pseudoRandomBytes(size, 3 + size);
          proxy.requests.length = 0;
          const up = await client.blobs.startUpload("small", { mode });
          for (const p of pieces(data)) await up.write(p);
          await up.commit(sha256(data), size);
          assert.equal(sent(), "POST PUT", `size ${size}`);
          assert.equal(proxy.requests[1].bodyLength, size);
          assert.deepEqual(await served(reg, "small", sha256(data)), data);
        }
      });
    }
  } finally {
    client.close();
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("startUpload: back-pressure holds at most two chunks", async () => {
  const reg = await startRegistry();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let arrived!: () => void;
  const firstPatch = new Promise<void>((r) => (arrived = r));
  const proxy = startInterceptProxy(reg.url, async (req, forward) => {
    if (req.method === "PATCH") {
      arrived();
      await gate;
    }
    return await forward();
  });
  const step = 64 * KiB;
  const client = new RegistryClient(proxy.host, { plainHttp: true, chunkSize: step });
  try {
    const data = pseudoRandomBytes(3 * step + 10, 4);
    const up = await client.blobs.startUpload("bp");
    await up.write(data.subarray(0, step)); // chunk 1 filled
    await up.write(data.subarray(step, 2 * step)); // chunk 1 sent (held by the proxy), chunk 2 filled
    await firstPatch;
    let done = false;
    const third = up.write(data.subarray(2 * step, 3 * step)).then(() => (done = true));
    // Chunk 2 cannot be sent while chunk 1 is in flight: the write waits.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(done, false, "a third chunk was taken while two were held");
    assert.equal(proxy.requests.filter((r) => r.method === "PATCH").length, 1);
    release();
    await third;
    await up.write(data.subarray(3 * step));
    await up.commit(sha256(data), data.length);
    assert.deepEqual(await served(reg, "bp", sha256(data)), data);
  } finally {
    release();
    client.close();
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("startUpload: a failed chunk is sent again from where the registry stands", async () => {
  const reg = await startRegistry();
  // PATCHes and the closing PUT get 500s without reaching the registry:
  // nothing of those requests lands.
  const proxy = await startFaultProxy({
    upstream: reg.url,
    seed: 11,
    errorRate: 0.4,
    faultable: (method) => method === "PATCH" || method === "PUT",
  });
  const trace: string[] = [];
  const client = new RegistryClient(proxy.host, {
    plainHttp: true,
    chunkSize: 64 * KiB,
    retryDelayMs: 1,
    maxRetries: 8,
    debug: (l) => trace.push(l),
  });
  try {
    const data = pseudoRandomBytes(1024 * KiB + 7, 5);
    const up = await client.blobs.startUpload("resume");
    for (const p of pieces(data)) await up.write(p);
    await up.commit(sha256(data), data.length);
    assert.deepEqual(await served(reg, "resume", sha256(data)), data);
    assert.ok(proxy.stats.errors > 2, JSON.stringify(proxy.stats));
    // Each failed PATCH was followed by an upload status check, then sent again.
    const resumed = trace.filter((l) => /^http retry upload blob to resume from byte \d+$/.test(l));
    assert.ok(resumed.length > 0, trace.join("\n"));
    assert.ok(resumed.some((l) => !l.endsWith(" 0")), resumed.join("\n"));
  } finally {
    client.close();
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("startUpload: a chunk that landed with its answer lost cannot be resumed on 2.8: one clear error", async () => {
  const reg = await startRegistry();
  let lost = false;
  const proxy = startInterceptProxy(reg.url, async (req, forward) => {
    const res = await forward();
    if (req.method === "PATCH" && !lost) {
      lost = true;
      await res.body?.cancel();
      return new Response("upstream went away", { status: 502 });
    }
    return res;
  });
  const client = new RegistryClient(proxy.host, {
    plainHttp: true,
    chunkSize: 64 * KiB,
    retryDelayMs: 1,
  });
  try {
    const data = pseudoRandomBytes(200 * KiB, 6);
    const up = await client.blobs.startUpload("lost");
    const e = await rejects((async () => {
      for (const p of pieces(data)) await up.write(p);
      await up.commit(sha256(data), data.length);
    })());
    assert.ok(e instanceof RegistryError, String(e));
    assert.match(
      e.message,
      new RegExp(
        `^${proxy.host.replaceAll(".", "\\.")}: upload blob to lost: the upload cannot be ` +
          "resumed at byte 0: .*BLOB_UPLOAD_INVALID",
      ),
    );
    assert.ok(!e.message.includes("\n"));
    // The upload is over: later calls get the same error; the session was deleted.
    assert.equal(await rejects(up.write(new Uint8Array(1))), e);
    assert.ok(proxy.requests.some((r) => r.method === "DELETE"));
    assert.equal((await fetch(`${reg.url}/v2/lost/blobs/${sha256(data)}`)).status, 404);
  } finally {
    client.close();
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("startUpload: a closing PUT that landed with its answer lost: the blob is there, done", async () => {
  const reg = await startRegistry();
  let lost = false;
  const proxy = startInterceptProxy(reg.url, async (req, forward) => {
    const res = await forward();
    if (req.method === "PUT" && !lost) {
      lost = true;
      await res.body?.cancel();
      return new Response("upstream went away", { status: 502 });
    }
    return res;
  });
  const client = new RegistryClient(proxy.host, {
    plainHttp: true,
    chunkSize: 64 * KiB,
    retryDelayMs: 1,
  });
  try {
    const data = pseudoRandomBytes(100 * KiB, 12);
    const up = await client.blobs.startUpload("put-lost");
    for (const p of pieces(data)) await up.write(p);
    await up.commit(sha256(data), data.length);
    assert.equal(lost, true);
    // After the lost answer: a HEAD of the blob, and no second PUT.
    assert.deepEqual(
      proxy.requests.map((r) => r.method).join(" "),
      "POST PATCH PATCH PUT HEAD",
    );
    assert.deepEqual(await served(reg, "put-lost", sha256(data)), data);
  } finally {
    client.close();
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("startUpload: stream mode cannot send again: a failure fails the upload", async () => {
  const reg = await startRegistry();
  const proxy = startInterceptProxy(reg.url, async (req, forward) => {
    if (req.method === "PATCH") return new Response("busy", { status: 503 });
    return await forward();
  });
  const client = new RegistryClient(proxy.host, { plainHttp: true, chunkSize: 64 * KiB });
  try {
    const data = pseudoRandomBytes(300 * KiB, 7);
    const up = await client.blobs.startUpload("s", { mode: "stream" });
    const e = await rejects((async () => {
      for (const p of pieces(data)) await up.write(p);
      await up.commit(sha256(data), data.length);
    })());
    assert.ok(e instanceof RegistryError, String(e));
    assert.equal(e.message, `${proxy.host}: upload blob to s: 503 Service Unavailable: busy`);
    assert.equal(proxy.requests.filter((r) => r.method === "PATCH").length, 1);
    assert.ok(proxy.requests.some((r) => r.method === "DELETE"));
  } finally {
    client.close();
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("startUpload: cancel and commit checks", async (t) => {
  const reg = await startRegistry();
  const client = new RegistryClient(reg.host, { plainHttp: true, chunkSize: 64 * KiB });
  const data = pseudoRandomBytes(150 * KiB, 8);
  try {
    await t.step("cancel: the registry drops the session", async () => {
      const up = await client.blobs.startUpload("c");
      for (const p of pieces(data)) await up.write(p);
      assert.equal((await openSessions(reg, "c")).length, 1);
      await up.cancel();
      await up.cancel();
      assert.deepEqual(await openSessions(reg, "c"), []);
      const e = await rejects(up.write(new Uint8Array(1)));
      assert.ok(e instanceof SociError && e.message.endsWith("the upload is already cancelled"));
    });

    await t.step("a size that does not add up: BadInputError, session dropped", async () => {
      const up = await client.blobs.startUpload("c");
      for (const p of pieces(data)) await up.write(p);
      const e = await rejects(up.commit(sha256(data), data.length + 1));
      assert.ok(e instanceof BadInputError, String(e));
      assert.equal(
        e.message,
        `upload blob to c: ${data.length} bytes were written for a blob of size ${data.length + 1}`,
      );
      assert.deepEqual(await openSessions(reg, "c"), []);
    });

    await t.step("a wrong digest: the registry refuses it", async () => {
      const up = await client.blobs.startUpload("c");
      for (const p of pieces(data)) await up.write(p);
      const wrong = sha256(data.subarray(1));
      const e = await rejects(up.commit(wrong, data.length));
      assert.ok(e instanceof RegistryError && e.code === "DIGEST_INVALID", String(e));
      assert.equal((await fetch(`${reg.url}/v2/c/blobs/${wrong}`)).status, 404);
    });

    await t.step("a committed upload takes no more bytes", async () => {
      const up = await client.blobs.startUpload("c");
      await up.write(data);
      await up.commit(sha256(data), data.length);
      const e = await rejects(up.write(data));
      assert.ok(e instanceof SociError && e.message.endsWith("the upload is already committed"));
      assert.deepEqual(await served(reg, "c", sha256(data)), data);
    });
  } finally {
    client.close();
    await reg.stop();
  }
});

Deno.test("one read of a layer feeds a hash and an upload to another registry", async () => {
  const [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  const src = new RegistryClient(a.host, { plainHttp: true });
  const dst = new RegistryClient(b.host, { plainHttp: true, chunkSize: 128 * KiB });
  try {
    const layer = pseudoRandomBytes(3 * 1024 * KiB + 17, 9);
    await src.blobs.upload("app", { digest: sha256(layer), size: layer.length }, layer);
    for (const mode of ["chunked", "stream"] as UploadMode[]) {
      const hash = createHash("sha256");
      const up = await dst.blobs.startUpload(`copy-${mode}`, { mode });
      let chunks = 0;
      for await (
        const chunk of await src.blobs.chunks("app", sha256(layer), { size: layer.length })
      ) {
        hash.update(chunk);
        await up.write(chunk);
        chunks++;
      }
      const digest = "sha256:" + hash.digest("hex");
      assert.equal(digest, sha256(layer));
      await up.commit(digest, up.written);
      assert.ok(chunks > 1);
      assert.deepEqual(await served(b, `copy-${mode}`, digest), layer);
    }
  } finally {
    src.close();
    dst.close();
    await a.stop();
    await b.stop();
  }
});

Deno.test("ranged reads: the answer must be the range asked for", async (t) => {
  const reg = await startRegistry();
  const blob = pseudoRandomBytes(120_000, 10);
  const d = sha256(blob);
  type Lie = "shift" | "extra" | "short" | "total" | "none";
  let lie = "none" as Lie;
  const proxy = startInterceptProxy(reg.url, async (_req, forward) => {
    const res = await forward();
    if (lie === "none" || res.status !== 206) return res;
    const body = new Uint8Array(await res.arrayBuffer());
    const [first, last] = /bytes (\d+)-(\d+)/.exec(res.headers.get("content-range")!)!.slice(1)
      .map(Number);
    const headers = new Headers(res.headers);
    headers.delete("content-length");
    if (lie === "shift") {
      // The bytes one further on, announced as such.
      headers.set("content-range", `bytes ${first + 1}-${last + 1}/${blob.length}`);
      return new Response(blob.slice(first + 1, last + 2), { status: 206, headers });
    }
    if (lie === "total") {
      headers.set("content-range", `bytes ${first}-${last}/${blob.length + 5}`);
      return new Response(body, { status: 206, headers });
    }
    const out = lie === "extra" ? blob.slice(first, last + 11) : body.subarray(0, body.length - 3);
    return new Response(out, { status: 206, headers });
  });
  const client = new RegistryClient(proxy.host, { plainHttp: true, maxRetries: 0 });
  try {
    await client.blobs.upload("r", { digest: d, size: blob.length }, blob);
    await t.step("an honest 206 (real registry)", async () => {
      assert.deepEqual(
        await client.blobs.getRange("r", d, 69_990, 70_010, { size: blob.length }),
        blob.subarray(69_990, 70_010),
      );
      assert.deepEqual(
        await client.blobs.getRange("r", d, blob.length - 3, blob.length),
        blob.subarray(blob.length - 3),
      );
    });
    const cases: [Lie, RegExp][] = [
      ["shift", /: the registry answered with bytes 101-200\/120000 \(blob size 120000\)$/],
      ["total", /: the registry answered with bytes 100-199\/120005 \(blob size 120000\)$/],
      ["extra", /: the registry sent more than the 100 bytes asked for$/],
      ["short", /: the blob ended after 197 bytes$/],
    ];
    for (const [how, message] of cases) {
      await t.step(`refused: ${how}`, async () => {
        lie = how;
        const e = await rejects(client.blobs.getRange("r", d, 100, 200, { size: blob.length }));
        lie = "none";
        assert.ok(e instanceof BadInputError, String(e));
        assert.ok(e.message.startsWith(`${proxy.host}: get bytes 100-199 of blob r@${d}`));
        assert.match(e.message, message);
      });
    }
    await t.step("a range beyond the blob is refused before any request", async () => {
      const before = proxy.requests.length;
      const e = await rejects(
        client.blobs.getRange("r", d, 100, blob.length + 1, { size: blob.length }),
      );
      assert.ok(e instanceof BadInputError, String(e));
      assert.equal(proxy.requests.length, before);
    });
  } finally {
    client.close();
    await proxy.stop();
    await reg.stop();
  }
});
