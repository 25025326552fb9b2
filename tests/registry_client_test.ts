// Registry client and registry image source against the real Debian
// docker-registry (images copied in with skopeo), the in-memory referrers
// registry (for what 2.8 cannot show) and the fault proxy.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BadInputError, NotFoundError, RegistryError } from "../lib/errors.ts";
import { formatReference, parseDockerReference } from "../lib/oci/reference.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { RegistrySource } from "../lib/image/registry_source.ts";
import { backoffDelayMs, parseRetryAfter } from "../lib/registry/retry.ts";
import { parseWwwAuthenticate } from "../lib/registry/auth.ts";
import { redactUrl } from "../lib/registry/http_errors.ts";
import { skopeoCopyToRegistry, skopeoInspectRaw, startRegistry } from "./helpers/registry.ts";
import { makeOciLayout, pseudoRandomBytes } from "./helpers/registry_oci_layout.ts";
import { startReferrersRegistry } from "./helpers/referrers_registry.ts";
import { startFaultProxy } from "./helpers/fault_proxy.ts";
import { startInterceptProxy } from "./helpers/intercept_proxy.ts";
import { concat } from "./helpers/bytes.ts";
import { rejects } from "./helpers/rejects.ts";

const sha256 = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
const enc = new TextEncoder();

async function collect(stream: ReadableStream<Uint8Array>) {
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  const out = concat(chunks);
  return {
    bytes: out,
    chunks: chunks.length,
    maxChunk: Math.max(0, ...chunks.map((c) => c.length)),
  };
}

Deno.test("parseDockerReference: accepted forms", () => {
  const d = "sha256:" + "ab".repeat(32);
  assert.deepEqual(parseDockerReference("127.0.0.1:5000/app"), {
    registry: "127.0.0.1:5000",
    repository: "app",
  });
  assert.deepEqual(parseDockerReference("docker://reg.example.com/team/app:v1.2_x-y"), {
    registry: "reg.example.com",
    repository: "team/app",
    tag: "v1.2_x-y",
  });
  assert.deepEqual(parseDockerReference(`localhost:5000/a/b/c@${d}`), {
    registry: "localhost:5000",
    repository: "a/b/c",
    digest: d,
  });
  assert.deepEqual(parseDockerReference(`[::1]:5000/a__b.c-d:t@${d}`), {
    registry: "[::1]:5000",
    repository: "a__b.c-d",
    tag: "t",
    digest: d,
  });
  assert.equal(formatReference(parseDockerReference(`h:1/a:t@${d}`)), `h:1/a:t@${d}`);
  assert.equal(
    formatReference(parseDockerReference("docker.io/alpine:3")),
    "docker.io/library/alpine:3",
  );
});

Deno.test("parseDockerReference: rejected forms name the problem", () => {
  const cases: [string, string][] = [
    ["alpine", 'invalid reference "alpine": missing registry host'],
    ["alpine:3", 'invalid reference "alpine:3": missing registry host'],
    ["host:5000/App:v1", 'repository name "App" must be lowercase'],
    ["host/a..b", 'invalid repository name "a..b"'],
    ["host/a/", 'invalid repository name "a/"'],
    ["host/a:-x", 'invalid tag "-x"'],
    ["host/a:" + "t".repeat(129), "invalid tag"],
    ["host/a@sha256:abc", "invalid checksum digest length"],
    ["host/a@md5:" + "a".repeat(32), "unsupported digest algorithm"],
    ["ho_st/a", 'invalid registry host "ho_st"'],
    ["", "empty reference"],
    ["h/" + "a".repeat(300), "longer than 255"],
  ];
  for (const [text, part] of cases) {
    const e = (() => {
      try {
        parseDockerReference(text);
      } catch (e) {
        return e as Error;
      }
      throw new Error(`accepted ${text}`);
    })();
    assert.ok(e instanceof BadInputError, text);
    assert.ok(e.message.includes(part), `${text}: ${e.message}`);
    assert.ok(!e.message.includes("\n"));
  }
});

Deno.test("parseDockerReference: credentials are refused without being repeated", () => {
  const d = "sha256:" + "cd".repeat(32);
  for (
    const text of [
      "alice:S3cret@host/x:1",
      "docker://alice:S3cret@host:5000/team/x",
      "alice:S3cret@host:5000/x@" + d,
      "alice:S3cret@host",
      "alice:S3cret@host:5000",
      "https://alice:S3cret@host/x",
      "S3cret@host/x",
    ]
  ) {
    const e = (() => {
      try {
        parseDockerReference(text);
      } catch (e) {
        return e as Error;
      }
      throw new Error(`accepted ${text}`);
    })();
    assert.ok(e instanceof BadInputError, text);
    assert.equal(
      e.message,
      "credentials in image references are not supported; use --user",
      text,
    );
  }
  // A digest right after a host-less name is still "missing registry host".
  assert.throws(() => parseDockerReference(`alpine@${d}`), /missing registry host/);
  assert.deepEqual(parseDockerReference(`h:1/a@${d}`), {
    registry: "h:1",
    repository: "a",
    digest: d,
  });
});

Deno.test("redactUrl keeps only allow-listed query values", () => {
  assert.equal(
    redactUrl(
      "https://u:pw@cdn.example/b/x?verify=1690000000-AbCd%2Bsig&digest=sha256%3Aab&n=10&last=t" +
        "&jwt=eyJ.x.y&hmac=ff00&_state=abc&X-Amz-Signature=s1&X-Amz-Date=20240101T000000Z" +
        "&artifactType=a%2Fb&mount=sha256%3Acd&from=team%2Fapp&service=reg&scope=repository%3Aa%3Apull" +
        "&account=alice#frag",
    ),
    "https://cdn.example/b/x?verify=REDACTED&digest=sha256%3Aab&n=10&last=t" +
      "&jwt=REDACTED&hmac=REDACTED&_state=REDACTED&X-Amz-Signature=REDACTED" +
      "&X-Amz-Date=20240101T000000Z&artifactType=a%2Fb&mount=sha256%3Acd&from=team%2Fapp" +
      "&service=reg&scope=repository%3Aa%3Apull&account=REDACTED",
  );
  assert.equal(redactUrl("http://h/v2/"), "http://h/v2/");
});

Deno.test("retry and auth header parsing", () => {
  assert.equal(parseRetryAfter("3"), 3000);
  assert.equal(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())! > 3000, true);
  assert.equal(parseRetryAfter(null), undefined);
  const policy = { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 300 };
  for (let i = 0; i < 20; i++) {
    const d3 = backoffDelayMs(3, undefined, policy);
    assert.ok(d3 >= 300 && d3 <= 375, String(d3));
  }
  assert.deepEqual(
    parseWwwAuthenticate(
      'Basic realm="x", Bearer realm="https://a/t",service="s",scope="repository:a/b:pull,push"',
    ),
    [
      { scheme: "basic", params: { realm: "x" } },
      {
        scheme: "bearer",
        params: { realm: "https://a/t", service: "s", scope: "repository:a/b:pull,push" },
      },
    ],
  );
});

Deno.test("real registry: resolve, fetch, stream, ranges, uploads, mount, tags", async (t) => {
  const reg = await startRegistry();
  const dir = await Deno.makeTempDir({ prefix: "soci-test-layout-" });
  const big = pseudoRandomBytes(3 * 1024 * 1024 + 123, 7);
  try {
    const img = await makeOciLayout(dir, "v1", [
      { "etc/hello.txt": enc.encode("hello registry\n") },
      { "data/big.bin": big },
    ]);
    await skopeoCopyToRegistry(dir, "v1", `${reg.host}/small:v1`);
    const raw = await skopeoInspectRaw(`${reg.host}/small:v1`);
    assert.deepEqual(raw, img.manifest.bytes, "skopeo kept the manifest bytes");

    const src = new RegistrySource(`docker://${reg.host}/small:v1`, { plainHttp: true });
    const client = src.client;

    await t.step("resolve by tag and by digest", async () => {
      assert.equal(src.storeName, `${reg.host}/small:v1`);
      assert.deepEqual(await src.resolve(), {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: img.manifest.digest,
        size: img.manifest.size,
      });
      const byDigest = new RegistrySource(`docker://${reg.host}/small@${img.manifest.digest}`, {
        plainHttp: true,
      });
      assert.equal((await byDigest.resolve()).digest, sha256(raw));
      await byDigest.close();
      const latest = new RegistrySource(`${reg.host}/small`, { plainHttp: true });
      assert.equal(latest.storeName, `${reg.host}/small:latest`);
      const e = await rejects(latest.resolve());
      assert.ok(e instanceof NotFoundError, String(e));
      await latest.close();
    });

    await t.step("manifest and config bytes are verified copies", async () => {
      assert.deepEqual(await src.fetchBytes(img.manifest), img.manifest.bytes);
      assert.deepEqual(await src.fetchBytes(img.config), img.config.bytes);
      const m = await client.manifests.get("small", img.manifest.digest);
      assert.equal(m.digest, img.manifest.digest);
      assert.deepEqual(await client.manifests.head("small", "v1"), {
        mediaType: img.manifest.mediaType,
        digest: img.manifest.digest,
        size: img.manifest.size,
      });
      assert.equal(await client.manifests.head("small", "nope"), undefined);
      // A descriptor that lies about the size is refused.
      const e = await rejects(src.fetchBytes({ ...img.config, size: img.config.size + 1 }));
      assert.ok(e instanceof BadInputError, String(e));
    });

    await t.step("layers stream in chunks and match", async () => {
      for (const layer of img.layers) {
        const got = await collect(await src.openBlob(layer));
        assert.equal(got.bytes.length, layer.size);
        assert.equal(sha256(got.bytes), layer.digest);
      }
      const bigLayer = img.layers[1];
      const got = await collect(await src.openBlob(bigLayer));
      assert.ok(got.chunks > 4, `streamed in ${got.chunks} chunks`);
      assert.ok(got.maxChunk <= 1024 * 1024, `largest chunk ${got.maxChunk}`);
      // Resume from an offset.
      const tail = await collect(
        await client.blobs.open("small", bigLayer.digest, {
          size: bigLayer.size,
          offset: 1000,
        }),
      );
      assert.deepEqual(tail.bytes, bigLayer.bytes.subarray(1000));
    });

    await t.step("ranged reads", async () => {
      const layer = img.layers[1];
      assert.deepEqual(
        await src.readRange(layer, 69_990, 70_010),
        layer.bytes.subarray(69_990, 70_010),
      );
      assert.deepEqual(await src.readRange(layer, 0, 1), layer.bytes.subarray(0, 1));
      assert.deepEqual(
        await src.readRange(layer, layer.size - 7, layer.size),
        layer.bytes.subarray(layer.size - 7),
      );
      assert.equal((await src.readRange(layer, 5, 5)).length, 0);
    });

    await t.step("uploads: monolithic, chunked, stream; read back", async () => {
      // A recorder in front of the registry shows which requests were made.
      const proxy = await startFaultProxy({ upstream: reg.url });
      const c = new RegistryClient(proxy.host, {
        plainHttp: true,
        chunkSize: 64 * 1024,
        monolithicMaxBytes: 100 * 1024,
      });
      try {
        const small = pseudoRandomBytes(100 * 1024, 11);
        await c.blobs.upload("up", { digest: sha256(small), size: small.length }, small);
        const methods = () => proxy.requests.map((r) => r.method).join(" ");
        assert.equal(methods(), "POST PUT");

        proxy.requests.length = 0;
        const chunked = pseudoRandomBytes(300 * 1024 + 5, 12);
        await c.blobs.upload("up", { digest: sha256(chunked), size: chunked.length }, chunked);
        assert.equal(methods(), "POST PATCH PATCH PATCH PATCH PATCH PUT");

        proxy.requests.length = 0;
        const streamed = pseudoRandomBytes(200 * 1024 + 1, 13);
        let pos = 0;
        const stream = new ReadableStream<Uint8Array>({
          pull(ctrl) {
            if (pos >= streamed.length) return ctrl.close();
            const n = Math.min(1 + ((pos * 7919) % 30_000), streamed.length - pos);
            ctrl.enqueue(streamed.slice(pos, pos + n));
            pos += n;
          },
        });
        await c.blobs.upload("up", { digest: sha256(streamed), size: streamed.length }, stream);
        assert.equal(methods(), "POST PATCH PATCH PATCH PATCH PUT");

        // A short stream of bytes is one POST + PUT.
        proxy.requests.length = 0;
        await c.blobs.upload(
          "up",
          { digest: sha256(enc.encode("tiny")), size: 4 },
          new Blob(["tiny"]).stream(),
        );
        assert.equal(methods(), "POST PUT");

        for (const b of [small, chunked, streamed, enc.encode("tiny")]) {
          assert.equal(await client.blobs.head("up", sha256(b)), b.length);
          assert.deepEqual(await client.blobs.get("up", { digest: sha256(b), size: b.length }), b);
        }
        // A stream shorter than announced is refused.
        const e = await rejects(
          c.blobs.upload(
            "up",
            { digest: sha256(small), size: small.length + 1 },
            new Blob([small as BlobPart]).stream(),
          ),
        );
        assert.ok(e instanceof BadInputError, String(e));
      } finally {
        c.close();
        await proxy.stop();
      }
    });

    await t.step("cross-repository mount", async () => {
      const layer = img.layers[0];
      assert.equal(await client.blobs.head("mounted", layer.digest), undefined);
      assert.equal(await client.blobs.mount("mounted", layer.digest, "small"), true);
      assert.equal(await client.blobs.head("mounted", layer.digest), layer.size);
      const unknown = sha256(enc.encode("never uploaded"));
      assert.equal(await client.blobs.mount("mounted", unknown, "small"), false);
    });

    await t.step("tags list and manifest put", async () => {
      await client.manifests.put("small", "v2", img.manifest.bytes, img.manifest.mediaType);
      await client.manifests.put("small", "v3", img.manifest.bytes, img.manifest.mediaType);
      assert.deepEqual((await client.manifests.tags("small")).sort(), ["v1", "v2", "v3"]);
    });

    await t.step("missing repository and tag: one clear line", async () => {
      const missing = new RegistrySource(`docker://${reg.host}/nope:v1`, { plainHttp: true });
      const e = await rejects(missing.resolve());
      assert.ok(e instanceof NotFoundError, String(e));
      assert.ok(e.message.startsWith(`image docker://${reg.host}/nope:v1: not found`), e.message);
      assert.ok(e.message.includes("MANIFEST_UNKNOWN"), e.message);
      assert.ok(!e.message.includes("\n"));
      const e2 = await rejects(client.manifests.tags("nope"));
      assert.equal(
        e2.message,
        `${reg.host}: list tags of nope: 404 Not Found: NAME_UNKNOWN: repository name not known to registry`,
      );
      await missing.close();
    });

    await src.close();
  } finally {
    await reg.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unreachable registry and timeouts: one clear line", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const src = new RegistrySource(`docker://127.0.0.1:${port}/app:v1`, {
    plainHttp: true,
    maxRetries: 1,
    retryDelayMs: 1,
  });
  const e = await rejects(src.resolve());
  assert.ok(e instanceof RegistryError, String(e));
  assert.match(
    e.message,
    new RegExp(`^cannot reach registry 127\\.0\\.0\\.1:${port}: .*Connection refused`),
  );
  assert.ok(!e.message.includes("\n"));
  await src.close();

  // A server that accepts and never answers: the time budget ends it.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) held.push(c);
  })();
  const host = `127.0.0.1:${(silent.addr as Deno.NetAddr).port}`;
  const client = new RegistryClient(host, { plainHttp: true, timeoutMs: 300 });
  const e2 = await rejects(client.manifests.get("app", "v1"));
  assert.equal(e2.message, `${host}: get manifest app:v1: timed out after 300 ms`);
  client.close();
  silent.close();
  await accepting.catch(() => {});
  for (const c of held) c.close();
});

Deno.test("digest verification refuses corrupted content", async () => {
  const reg = await startRegistry();
  const client = new RegistryClient(reg.host, { plainHttp: true });
  try {
    const blob = enc.encode('{"hello":"world"}');
    const d = sha256(blob);
    await client.blobs.upload("r", { digest: d, size: blob.length }, blob);
    assert.deepEqual(await client.blobs.get("r", { digest: d, size: blob.length }), blob);
    const manifest = enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: d,
        size: blob.length,
      },
      layers: [],
    }));
    await client.manifests.put("r", "t", manifest, "application/vnd.oci.image.manifest.v1+json");
    // Corrupt the blob in the registry's storage: other bytes, same length.
    const hex = d.slice("sha256:".length);
    const data = join(
      reg.dir,
      "data/docker/registry/v2/blobs/sha256",
      hex.slice(0, 2),
      hex,
      "data",
    );
    assert.deepEqual(await Deno.readFile(data), blob);
    const corrupted = blob.slice();
    corrupted[0] ^= 0xff;
    await Deno.writeFile(data, corrupted);
    const src = new RegistrySource(`${reg.host}/r:t`, { client });
    const desc = await src.resolve();
    assert.equal(desc.digest, sha256(manifest));
    const e = await rejects(
      src.fetchBytes({
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: d,
        size: blob.length,
      }),
    );
    assert.ok(e instanceof BadInputError, String(e));
    assert.equal(
      e.message,
      `${reg.host}: blob r@${d}: content has digest ${sha256(corrupted)}`,
    );
  } finally {
    client.close();
    await reg.stop();
  }
});

Deno.test("Retry-After is honoured and 429/5xx are retried", async () => {
  const reg = await startRegistry();
  const blob = enc.encode("x");
  const d = sha256(blob);
  let calls = 0;
  let alwaysFail = false;
  const times: number[] = [];
  // In front of the real registry: the HEADs of the blob get 429
  // (Retry-After: 1), then 503, then the registry's own answer.
  const proxy = startInterceptProxy(reg.url, (req, forward) => {
    if (req.method !== "HEAD" || req.path !== `/v2/a/blobs/${d}`) return forward();
    calls++;
    times.push(Date.now());
    if (alwaysFail) return Promise.resolve(new Response("oops", { status: 503 }));
    if (calls === 1) {
      return Promise.resolve(
        new Response("busy", { status: 429, headers: { "retry-after": "1" } }),
      );
    }
    if (calls === 2) return Promise.resolve(new Response("oops", { status: 503 }));
    return forward();
  });
  const client = new RegistryClient(proxy.host, { plainHttp: true, retryDelayMs: 10 });
  const failing = new RegistryClient(proxy.host, {
    plainHttp: true,
    maxRetries: 2,
    retryDelayMs: 1,
  });
  try {
    const direct = new RegistryClient(reg.host, { plainHttp: true });
    await direct.blobs.upload("a", { digest: d, size: blob.length }, blob);
    direct.close();
    assert.equal(await client.blobs.head("a", d), blob.length);
    assert.equal(calls, 3);
    assert.ok(times[1] - times[0] >= 950, `waited ${times[1] - times[0]} ms after Retry-After: 1`);
    // Retries run out: the last status is reported.
    alwaysFail = true;
    calls = 0;
    const e = await rejects(failing.blobs.head("a", d));
    assert.equal(e.message, `${proxy.host}: check blob a@${d}: 503 Service Unavailable`);
    assert.equal(calls, 3);
  } finally {
    client.close();
    failing.close();
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("fault proxy: pulls and uploads through drops, 500s, 429s and cut bodies end correct", async () => {
  const reg = await startRegistry();
  const dir = await Deno.makeTempDir({ prefix: "soci-test-layout-" });
  const proxy = await startFaultProxy({
    upstream: reg.url,
    seed: 42,
    dropEveryNthConnection: 3,
    errorRate: 0.12,
    throttleRate: 0.06,
    retryAfterSeconds: 0,
    cutRate: 0.15,
  });
  try {
    const img = await makeOciLayout(dir, "v1", [
      { "a.txt": enc.encode("a") },
      { "big.bin": pseudoRandomBytes(2 * 1024 * 1024, 99) },
    ]);
    await skopeoCopyToRegistry(dir, "v1", `${reg.host}/faulty:v1`);
    const debug: string[] = [];
    const src = new RegistrySource(`docker://${proxy.host}/faulty:v1`, {
      plainHttp: true,
      retryDelayMs: 5,
      maxRetries: 8,
      chunkSize: 256 * 1024,
      monolithicMaxBytes: 512 * 1024,
      debug: (l) => debug.push(l),
    });
    for (let round = 0; round < 3; round++) {
      assert.equal((await src.resolve()).digest, img.manifest.digest);
      assert.deepEqual(await src.fetchBytes(img.config), img.config.bytes);
      for (const layer of img.layers) {
        const got = await collect(await src.openBlob(layer));
        assert.equal(sha256(got.bytes), layer.digest);
      }
      const big = img.layers[1];
      assert.deepEqual(
        await src.readRange(big, 1_000_000, 1_100_000),
        big.bytes.subarray(1_000_000, 1_100_000),
      );
    }
    for (const [i, size] of [[1, 300 * 1024], [2, 1536 * 1024]]) {
      const data = pseudoRandomBytes(size, 500 + i);
      await src.client.blobs.upload("faulty-up", { digest: sha256(data), size }, data);
      const direct = new RegistryClient(reg.host, { plainHttp: true });
      assert.deepEqual(await direct.blobs.get("faulty-up", { digest: sha256(data), size }), data);
      direct.close();
    }
    await src.close();
    // The proxy really misbehaved, and the client really retried.
    assert.ok(proxy.stats.dropped > 0, JSON.stringify(proxy.stats));
    assert.ok(proxy.stats.errors > 0, JSON.stringify(proxy.stats));
    assert.ok(proxy.stats.throttled > 0, JSON.stringify(proxy.stats));
    assert.ok(proxy.stats.cut > 0, JSON.stringify(proxy.stats));
    assert.ok(debug.some((l) => l.startsWith("http retry")));
    // A cut layer stream was resumed where it stopped, with a Range request.
    assert.ok(
      debug.some((l) => /^http retry get blob .* from byte [1-9]/.test(l)),
      debug.join("\n"),
    );
    assert.ok(proxy.requests.some((r) => r.method === "GET" && r.path.includes("/blobs/")));
  } finally {
    await proxy.stop();
    await reg.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("referrers listing: server- or client-side filtering, Link pagination; tags pages", async (t) => {
  const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
  const cfg = enc.encode("{}");
  const subject = enc.encode(
    `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":` +
      `"application/vnd.oci.image.config.v1+json","digest":"${sha256(cfg)}","size":2},"layers":[]}`,
  );
  // Five referrers of two artifact types, interleaved: x/y, a/b, x/y, a/b, x/y.
  const types = ["x/y", "a/b", "x/y", "a/b", "x/y"];
  const referrers = types.map((type, i) =>
    enc.encode(
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","artifactType":"${type}",` +
        `"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"${
          sha256(cfg)
        }","size":2},` +
        `"layers":[],"subject":{"mediaType":"${OCI_MANIFEST}","digest":"${
          sha256(subject)
        }","size":${subject.length}},"annotations":{"n":"${i}"}}`,
    )
  );
  // What the referrers API lists for each (OCI distribution spec: descriptor + artifactType + annotations).
  const expected = referrers.map((bytes, i) => ({
    mediaType: OCI_MANIFEST,
    digest: sha256(bytes),
    size: bytes.length,
    annotations: { n: String(i) },
    artifactType: types[i],
  }));
  const xy = [expected[0], expected[2], expected[4]];
  const modes = ["header", "annotation", "none"] as const;
  for (const mode of modes) {
    for (const pageSize of [0, 2]) {
      await t.step(`filter ${mode}, page size ${pageSize || "all"}`, async () => {
        const fake = await startReferrersRegistry({
          referrersFilter: mode,
          referrersPageSize: pageSize,
        });
        const client = new RegistryClient(fake.host, { plainHttp: true });
        try {
          await client.blobs.upload("r", { digest: sha256(cfg), size: 2 }, cfg);
          await client.manifests.put("r", sha256(subject), subject, OCI_MANIFEST);
          for (const m of referrers) await client.manifests.put("r", sha256(m), m, OCI_MANIFEST);
          const pages = () =>
            fake.requests.filter((r) => r.path.startsWith(`/v2/r/referrers/`)).length;

          const listing = await client.referrers.list("r", sha256(subject), "x/y");
          assert.deepEqual(listing, { manifests: xy, via: "api" });
          assert.equal(client.referrers.support, "supported");
          // Pages: the server lists 3 (filtered) or 5 (not filtered) entries.
          const listed = mode === "none" ? 5 : 3;
          assert.equal(pages(), pageSize ? Math.ceil(listed / pageSize) : 1);

          const before = pages();
          const all = await client.referrers.list("r", sha256(subject));
          assert.deepEqual(all, { manifests: expected, via: "api" });
          assert.equal(pages() - before, pageSize ? 3 : 1);

          assert.deepEqual(await client.referrers.list("r", sha256(subject), "none/such"), {
            manifests: [],
            via: "api",
          });
          const e = await rejects(client.referrers.list("nope", sha256(subject)));
          assert.ok(e instanceof RegistryError && e.code === "NAME_UNKNOWN", String(e));
        } finally {
          client.close();
          await fake.stop();
        }
      });
    }
  }

  // On the fake: distribution 2.8 ignores `n` and `last` on tags/list and
  // sends no `Link` (every tag in one answer), so it cannot show pages.
  await t.step("tags list follows Link pages", async () => {
    const fake = await startReferrersRegistry({ tagsPageSize: 2 });
    const client = new RegistryClient(fake.host, { plainHttp: true });
    try {
      await client.blobs.upload("r", { digest: sha256(cfg), size: 2 }, cfg);
      for (const t of ["a", "b", "c", "d", "e"]) {
        await client.manifests.put("r", t, subject, OCI_MANIFEST);
      }
      assert.deepEqual(await client.manifests.tags("r"), ["a", "b", "c", "d", "e"]);
      assert.equal(fake.requests.filter((r) => r.path.startsWith("/v2/r/tags/list")).length, 3);
    } finally {
      client.close();
      await fake.stop();
    }
  });
});

Deno.test("blob stream: more cuts than maxRetries, each after progress, still completes", async () => {
  const reg = await startRegistry();
  // Every blob GET is cut half way: each resume (Range from where it
  // stopped) gets half of what is left, so ~17 cuts for 128 KiB.
  const proxy = await startFaultProxy({
    upstream: reg.url,
    cutRate: 1,
    faultable: (method, path) => method === "GET" && path.includes("/blobs/"),
  });
  const blob = pseudoRandomBytes(128 * 1024, 77);
  const d = sha256(blob);
  const debug: string[] = [];
  const client = new RegistryClient(proxy.host, {
    plainHttp: true,
    maxRetries: 2,
    retryDelayMs: 1,
    debug: (l) => debug.push(l),
  });
  try {
    await client.blobs.upload("r", { digest: d, size: blob.length }, blob);
    const got = await collect(await client.blobs.open("r", d, { size: blob.length }));
    assert.equal(got.bytes.length, blob.length);
    assert.equal(sha256(got.bytes), d);
    assert.ok(proxy.stats.cut > 2 * 3, JSON.stringify(proxy.stats));
    const resumes = debug.filter((l) => /^http retry get blob r@.* from byte [1-9]/.test(l));
    assert.equal(resumes.length, proxy.stats.cut, debug.join("\n"));
    // Each resume asked for the rest from where the previous response stopped.
    const ranges = proxy.requests.filter((r) => r.method === "GET").length;
    assert.equal(ranges, proxy.stats.cut + 1);
  } finally {
    client.close();
    await proxy.stop();
    await reg.stop();
  }
});
