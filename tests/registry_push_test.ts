// Pushing v1 SOCI indexes: graph copy, fallback tag (real docker-registry
// 2.8, which has no referrers API), races, faults, and the referrers-API
// path (in-memory OCI 1.1 registry). Expected JSON is written by hand from
// soci-format.md §7.8 and §11.2; other checks use skopeo and raw HTTP.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { RegistryClient } from "../lib/registry/client.ts";
import {
  existingIndexMessage,
  listReferrers,
  type PushEventKind,
  pushIndex,
} from "../lib/registry/push.ts";
import type { Descriptor } from "../lib/oci/descriptor.ts";
import { addToFallbackIndex } from "../lib/registry/referrers_fallback.ts";
import { skopeoCopyToRegistry, skopeoInspectRaw, startRegistry } from "./helpers/registry.ts";
import {
  type LayoutImage,
  makeOciLayout,
  pseudoRandomBytes,
} from "./helpers/registry_oci_layout.ts";
import { startReferrersRegistry } from "./helpers/referrers_registry.ts";
import { startFaultProxy } from "./helpers/fault_proxy.ts";
import { type InterceptProxy, startInterceptProxy } from "./helpers/intercept_proxy.ts";

const sha256 = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
const enc = new TextEncoder();
const dec = new TextDecoder();
const SOCI_V1 = "application/vnd.amazon.soci.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const EMPTY = enc.encode("{}");

interface BuiltIndex {
  desc: Descriptor;
  bytes: Uint8Array;
  blobs: Map<string, Uint8Array>;
}

/** A v1 SOCI index written by hand in Go's encoding (F§7.8): config {}, two random zTOCs. */
function makeIndex(img: LayoutImage, seed: number): BuiltIndex {
  const ztocs = img.layers.map((layer, i) => ({
    bytes: pseudoRandomBytes(5000 + 1000 * i + seed, seed * 10 + i + 1),
    layer,
  }));
  const layers = ztocs.map(({ bytes, layer }) =>
    `{"mediaType":"application/octet-stream","digest":"${sha256(bytes)}","size":${bytes.length},` +
    `"annotations":{"com.amazon.soci.image-layer-digest":"${layer.digest}",` +
    `"com.amazon.soci.image-layer-mediaType":"${layer.mediaType}",` +
    `"com.amazon.soci.span-size":"4194304"}}`
  );
  const json = `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}",` +
    `"config":{"mediaType":"${SOCI_V1}","digest":"${sha256(EMPTY)}","size":2},` +
    `"layers":[${layers.join(",")}],` +
    `"subject":{"mediaType":"${OCI_MANIFEST}","digest":"${img.manifest.digest}","size":${img.manifest.size}},` +
    `"annotations":{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"}}`;
  const bytes = enc.encode(json);
  const blobs = new Map<string, Uint8Array>([[sha256(EMPTY), EMPTY], [sha256(bytes), bytes]]);
  for (const z of ztocs) blobs.set(sha256(z.bytes), z.bytes);
  return {
    desc: { mediaType: OCI_MANIFEST, digest: sha256(bytes), size: bytes.length },
    bytes,
    blobs,
  };
}

/** The fallback index bytes expected for these SOCI indexes, in order (F§11.2). */
function expectedFallback(indexes: BuiltIndex[]): string {
  const entries = indexes.map((i) =>
    `{"mediaType":"${OCI_MANIFEST}","digest":"${i.desc.digest}","size":${i.desc.size},` +
    `"annotations":{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"},` +
    `"artifactType":"${SOCI_V1}"}`
  );
  return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",` +
    `"manifests":[${entries.join(",")}]}`;
}

function getter(...sources: Map<string, Uint8Array>[]) {
  return (d: Descriptor) => {
    for (const s of sources) {
      const b = s.get(d.digest);
      if (b) return Promise.resolve(b);
    }
    return Promise.reject(new Error(`test store has no ${d.digest}`));
  };
}

function imageBlobs(img: LayoutImage): Map<string, Uint8Array> {
  return new Map([img.manifest, img.config, ...img.layers].map((b) => [b.digest, b.bytes]));
}

Deno.test("push v1 index to docker-registry 2.8: fallback tag, idempotence, supersede, races, faults", async (t) => {
  const reg = await startRegistry();
  const dir = await Deno.makeTempDir({ prefix: "soci-test-push-" });
  try {
    const img = await makeOciLayout(join(dir, "layout"), "v1", [
      { "etc/os-release": enc.encode("ID=test\n") },
      { "usr/lib/big": pseudoRandomBytes(200_000, 5) },
    ]);
    await skopeoCopyToRegistry(img.dir, "v1", `${reg.host}/small:v1`);
    const client = new RegistryClient(reg.host, { plainHttp: true });
    const tag = "sha256-" + img.manifest.digest.slice(7);
    const idx = [1, 2, 3, 4, 5, 6].map((s) => makeIndex(img, s));

    await t.step(
      "first push: blobs uploaded, subject skipped, fallback tag lists the index",
      async () => {
        const events: [PushEventKind, string][] = [];
        const result = await pushIndex(client, "small", idx[0].desc, getter(idx[0].blobs), {
          concurrency: 2,
          onEvent: (kind, d) => events.push([kind, d.digest]),
        });
        const ztocs = [...idx[0].blobs.keys()].filter((d) =>
          d !== idx[0].desc.digest && d !== sha256(EMPTY)
        );
        assert.deepEqual(
          events.filter(([k]) => k === "skipped"),
          [["skipped", img.manifest.digest]],
        );
        assert.deepEqual(
          events.filter(([k]) => k === "pushed").map(([, d]) => d).sort(),
          [sha256(EMPTY), ...ztocs, idx[0].desc.digest].sort(),
        );
        assert.deepEqual(events.at(-1), ["pushed", idx[0].desc.digest], "root pushed last");
        assert.deepEqual(events.at(-2), ["pushing", idx[0].desc.digest]);
        assert.equal(result.alreadyPresent, false);
        assert.equal(result.referrers, "tag");
        assert.equal(result.fallbackTag, tag);
        assert.equal(result.fallbackChanged, true);
        assert.deepEqual(result.deleted, []);

        const fallback = await skopeoInspectRaw(`${reg.host}/small:${tag}`);
        assert.equal(dec.decode(fallback), expectedFallback([idx[0]]));
        assert.equal(result.fallbackIndex?.digest, sha256(fallback));
        assert.deepEqual(
          await skopeoInspectRaw(`${reg.host}/small@${idx[0].desc.digest}`),
          idx[0].bytes,
        );
        // Every blob is served with the right digest (raw HTTP, no client code).
        for (const [digest, bytes] of idx[0].blobs) {
          if (digest === idx[0].desc.digest) continue;
          const res = await fetch(`${reg.url}/v2/small/blobs/${digest}`);
          const got = new Uint8Array(await res.arrayBuffer());
          assert.equal(res.status, 200);
          assert.equal(sha256(got), digest);
          assert.equal(got.length, bytes.length);
        }
      },
    );

    await t.step("second push of the same index uploads nothing", async () => {
      const recorder = await startFaultProxy({ upstream: reg.url });
      const c = new RegistryClient(recorder.host, { plainHttp: true });
      try {
        const events: [PushEventKind, string][] = [];
        const result = await pushIndex(c, "small", idx[0].desc, getter(idx[0].blobs), {
          onEvent: (kind, d) => events.push([kind, d.digest]),
        });
        assert.equal(result.alreadyPresent, true);
        assert.deepEqual(result.pushed, []);
        assert.deepEqual(events, [["skipped", idx[0].desc.digest]]);
        assert.equal(result.fallbackChanged, false);
        const writes = recorder.requests.filter((r) => r.method !== "GET" && r.method !== "HEAD");
        assert.deepEqual(writes, []);
      } finally {
        c.close();
        await recorder.stop();
      }
    });

    await t.step(
      "second index: fallback lists both, superseded fallback index deleted",
      async () => {
        const oldFallback = sha256(enc.encode(expectedFallback([idx[0]])));
        assert.ok(await client.manifests.head("small", oldFallback));
        const result = await pushIndex(client, "small", idx[1].desc, getter(idx[1].blobs));
        assert.deepEqual(result.deleted, [oldFallback]);
        const fallback = await skopeoInspectRaw(`${reg.host}/small:${tag}`);
        assert.equal(dec.decode(fallback), expectedFallback([idx[0], idx[1]]));
        assert.equal(await client.manifests.head("small", oldFallback), undefined);
        assert.deepEqual((await client.manifests.tags("small")).sort(), [tag, "v1"].sort());
        // The shared config blob was already there.
        assert.ok(result.skipped.some((d) => d.digest === sha256(EMPTY)));
      },
    );

    await t.step("listing referrers for --existing-index", async () => {
      const found = await listReferrers(client, "small", img.manifest.digest, SOCI_V1);
      assert.deepEqual(found.map((d) => d.digest), [idx[0].desc.digest, idx[1].desc.digest]);
      assert.equal(existingIndexMessage(found), "multiple soci indices found in remote repository");
      assert.deepEqual(await listReferrers(client, "small", img.manifest.digest, "other/type"), []);
      assert.deepEqual(await listReferrers(client, "small", idx[0].desc.digest, SOCI_V1), []);
      assert.equal(client.referrers.support, "unsupported");
    });

    await t.step("two pushes racing in one process keep both referrers", async () => {
      const a = new RegistryClient(reg.host, { plainHttp: true });
      const b = new RegistryClient(reg.host, { plainHttp: true });
      const [ra, rb] = await Promise.all([
        pushIndex(a, "small", idx[2].desc, getter(idx[2].blobs)),
        pushIndex(b, "small", idx[3].desc, getter(idx[3].blobs)),
      ]);
      a.close();
      b.close();
      const index = JSON.parse(dec.decode(await skopeoInspectRaw(`${reg.host}/small:${tag}`)));
      assert.deepEqual(
        index.manifests.map((d: Descriptor) => d.digest).sort(),
        idx.slice(0, 4).map((i) => i.desc.digest).sort(),
      );
      for (const d of [...ra.deleted, ...rb.deleted]) {
        assert.equal(await client.manifests.head("small", d), undefined, `${d} deleted`);
      }
      assert.deepEqual((await client.manifests.tags("small")).sort(), [tag, "v1"].sort());
    });

    await t.step("two pushes racing in two processes keep both referrers", async () => {
      const blobsDir = join(dir, "blobs");
      await Deno.mkdir(blobsDir);
      for (const i of [idx[4], idx[5]]) {
        for (const [d, b] of i.blobs) await Deno.writeFile(join(blobsDir, d.slice(7)), b);
      }
      const worker = new URL("./helpers/registry_push_worker.ts", import.meta.url).pathname;
      const runs = [idx[4], idx[5]].map((i) =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            worker,
            JSON.stringify({ host: reg.host, repo: "small", index: i.desc, blobsDir }),
          ],
          stdout: "piped",
          stderr: "piped",
        }).output()
      );
      const outs = await Promise.all(runs);
      for (const o of outs) assert.equal(o.code, 0, dec.decode(o.stderr));
      for (const o of outs) assert.equal(JSON.parse(dec.decode(o.stdout)).referrers, "tag");
      const index = JSON.parse(dec.decode(await skopeoInspectRaw(`${reg.host}/small:${tag}`)));
      assert.deepEqual(
        index.manifests.map((d: Descriptor) => d.digest).sort(),
        idx.map((i) => i.desc.digest).sort(),
      );
      for (const e of index.manifests) {
        assert.equal(e.artifactType, SOCI_V1);
        assert.deepEqual(e.annotations, {
          "com.amazon.soci.build-tool-identifier": "AWS SOCI CLI v0.2",
        });
      }
    });

    await t.step("six concurrent fallback updates keep every referrer", async () => {
      // Six referrer manifests (they must exist: the registry checks index children).
      const entries: Descriptor[] = [];
      assert.equal(await client.blobs.mount("race", img.config.digest, "small"), true);
      for (let i = 0; i < 6; i++) {
        const m = enc.encode(
          `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"${img.config.mediaType}",` +
            `"digest":"${img.config.digest}","size":${img.config.size}},"layers":[],"annotations":{"n":"${i}"}}`,
        );
        await client.manifests.put("race", sha256(m), m, OCI_MANIFEST);
        entries.push({
          mediaType: OCI_MANIFEST,
          digest: sha256(m),
          size: m.length,
          artifactType: "x/y",
        });
      }
      const results = await Promise.all(entries.map((e) => {
        const c = new RegistryClient(reg.host, { plainHttp: true });
        return addToFallbackIndex(c, "race", img.manifest.digest, e).finally(() => c.close());
      }));
      const index = JSON.parse(dec.decode(await skopeoInspectRaw(`${reg.host}/race:${tag}`)));
      assert.deepEqual(
        index.manifests.map((d: Descriptor) => d.digest).sort(),
        entries.map((e) => e.digest).sort(),
      );
      for (const r of results) {
        for (const d of r.deleted) assert.equal(await client.manifests.head("race", d), undefined);
      }
      assert.deepEqual(await client.manifests.tags("race"), [tag]);
    });

    await t.step("subject missing remotely: the image is copied first", async () => {
      const events: [PushEventKind, string][] = [];
      const result = await pushIndex(
        client,
        "fresh",
        idx[0].desc,
        getter(idx[0].blobs, imageBlobs(img)),
        { onEvent: (kind, d) => events.push([kind, d.digest]) },
      );
      const pushed = events.filter(([k]) => k === "pushed").map(([, d]) => d);
      const at = (digest: string) => {
        const i = pushed.indexOf(digest);
        assert.ok(i >= 0, `${digest} pushed`);
        return i;
      };
      for (const b of [img.config, ...img.layers]) {
        assert.ok(at(b.digest) < at(img.manifest.digest));
      }
      assert.ok(at(img.manifest.digest) < at(idx[0].desc.digest));
      assert.equal(result.referrers, "tag");
      assert.deepEqual(
        await skopeoInspectRaw(`${reg.host}/fresh@${img.manifest.digest}`),
        img.manifest.bytes,
      );
      assert.equal(
        dec.decode(await skopeoInspectRaw(`${reg.host}/fresh:${tag}`)),
        expectedFallback([idx[0]]),
      );
    });

    await t.step(
      "faults: pushes through drops, 500s, 429s and cut bodies end correct",
      async () => {
        await skopeoCopyToRegistry(img.dir, "v1", `${reg.host}/faulty:v1`);
        const proxy = await startFaultProxy({
          upstream: reg.url,
          seed: 7,
          dropEveryNthConnection: 4,
          errorRate: 0.15,
          throttleRate: 0.05,
          retryAfterSeconds: 0,
          cutRate: 0.1,
        });
        const c = new RegistryClient(proxy.host, {
          plainHttp: true,
          retryDelayMs: 5,
          maxRetries: 8,
        });
        try {
          for (const i of [idx[0], idx[1]]) {
            await pushIndex(c, "faulty", i.desc, getter(i.blobs), { fallback: { settleMs: 50 } });
          }
          assert.ok(
            proxy.stats.errors + proxy.stats.throttled + proxy.stats.dropped > 2,
            JSON.stringify(proxy.stats),
          );
        } finally {
          c.close();
          await proxy.stop();
        }
        assert.equal(
          dec.decode(await skopeoInspectRaw(`${reg.host}/faulty:${tag}`)),
          expectedFallback([idx[0], idx[1]]),
        );
        for (const i of [idx[0], idx[1]]) {
          assert.deepEqual(await skopeoInspectRaw(`${reg.host}/faulty@${i.desc.digest}`), i.bytes);
          for (const [d, b] of i.blobs) {
            if (d === i.desc.digest) continue;
            assert.deepEqual(await client.blobs.get("faulty", { digest: d, size: b.length }), b);
          }
        }
      },
    );
    client.close();
  } finally {
    await reg.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("push v1 index to an OCI 1.1 registry: referrers API, no fallback tag", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "soci-test-push-" });
  try {
    const img = await makeOciLayout(dir, "v1", [{ "a": enc.encode("a") }, {
      "b": enc.encode("b"),
    }]);
    const i1 = makeIndex(img, 1);
    const i2 = makeIndex(img, 2);
    const tag = "sha256-" + img.manifest.digest.slice(7);
    const seed = async (client: RegistryClient) => {
      for (const b of [img.config, ...img.layers]) await client.blobs.upload("app", b, b.bytes);
      await client.manifests.put("app", "v1", img.manifest.bytes, img.manifest.mediaType);
    };

    await t.step("OCI-Subject honoured; listing with artifactType filter", async () => {
      const fake = await startReferrersRegistry();
      const client = new RegistryClient(fake.host, { plainHttp: true });
      try {
        await seed(client);
        const result = await pushIndex(client, "app", i1.desc, getter(i1.blobs));
        assert.equal(result.referrers, "api");
        assert.equal(result.fallbackTag, undefined);
        assert.equal(client.referrers.support, "supported");
        assert.deepEqual(fake.tags("app"), ["v1"]);
        const found = await listReferrers(client, "app", img.manifest.digest, SOCI_V1);
        assert.deepEqual(found, [{
          mediaType: OCI_MANIFEST,
          digest: i1.desc.digest,
          size: i1.desc.size,
          annotations: { "com.amazon.soci.build-tool-identifier": "AWS SOCI CLI v0.2" },
          artifactType: SOCI_V1,
        }]);
        assert.equal(
          existingIndexMessage(found),
          `soci index found in remote repository with digest: ${i1.desc.digest}`,
        );
        assert.ok(
          fake.requests.some((r) =>
            r.path ===
              `/v2/app/referrers/${img.manifest.digest}?artifactType=application%2Fvnd.amazon.soci.index.v1%2Bjson`
          ),
        );
        assert.deepEqual(await listReferrers(client, "app", img.manifest.digest, "other/type"), []);
        const e = await listReferrers(client, "nope", img.manifest.digest, SOCI_V1).catch((e) => e);
        assert.equal(
          e.message,
          `failed to fetch list of referrers: ${fake.host}: list referrers of nope@${img.manifest.digest}: ` +
            "404 Not Found: NAME_UNKNOWN: repository name not known to registry",
        );
        // The subject is neither remote nor local: a clear error, nothing tagged.
        const e2 = await pushIndex(client, "other", i1.desc, getter(i1.blobs)).catch((e) => e);
        assert.equal(
          e2.message,
          `cannot push ${img.manifest.digest}: not in ${fake.host}/other and not readable locally: ` +
            `test store has no ${img.manifest.digest}`,
        );
        const again = await pushIndex(client, "app", i1.desc, getter(i1.blobs));
        assert.equal(again.alreadyPresent, true);
        assert.equal(again.referrers, "api");
      } finally {
        client.close();
        await fake.stop();
      }
    });

    await t.step(
      "no OCI-Subject header but an API: the API is probed, no tag written",
      async () => {
        const fake = await startReferrersRegistry({ ociSubjectHeader: false });
        const client = new RegistryClient(fake.host, { plainHttp: true });
        try {
          await seed(client);
          const result = await pushIndex(client, "app", i1.desc, getter(i1.blobs));
          assert.equal(result.referrers, "api");
          assert.deepEqual(fake.tags("app"), ["v1"]);
        } finally {
          client.close();
          await fake.stop();
        }
      },
    );

    await t.step(
      "docker-registry 2.8 (no API): fallback tag read to merge and to confirm",
      async () => {
        const reg = await startRegistry();
        const proxy = startInterceptProxy(reg.url);
        const client = new RegistryClient(proxy.host, { plainHttp: true });
        const direct = new RegistryClient(reg.host, { plainHttp: true });
        try {
          await seed(client);
          await pushIndex(client, "app", i1.desc, getter(i1.blobs), { fallback: { settleMs: 20 } });
          // The tag is read once to merge and once to confirm (no extra read by the API probe).
          assert.equal(
            proxy.requests.filter((r) =>
              r.method === "GET" && r.path === `/v2/app/manifests/${tag}`
            )
              .length,
            2,
          );
          // The probe did ask for the referrers API (404 from 2.8).
          assert.ok(proxy.requests.some((r) => r.path.startsWith("/v2/app/referrers/")));
          const r2 = await pushIndex(client, "app", i2.desc, getter(i2.blobs), {
            fallback: { settleMs: 20 },
          });
          assert.equal(r2.referrers, "tag");
          assert.equal(client.referrers.support, "unsupported");
          assert.deepEqual((await direct.manifests.tags("app")).sort(), [tag, "v1"].sort());
          const m = await direct.manifests.get("app", tag);
          assert.equal(dec.decode(m.bytes), expectedFallback([i1, i2]));
          const old = sha256(enc.encode(expectedFallback([i1])));
          assert.deepEqual(r2.deleted, [old]);
          assert.equal(await direct.manifests.head("app", old), undefined);
        } finally {
          client.close();
          direct.close();
          await proxy.stop();
          await reg.stop();
        }
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A subject manifest and `n` referrer manifests of type x/y in `repo` of `client`'s registry. */
async function seedReferrers(client: RegistryClient, repo: string, n: number) {
  await client.blobs.upload(repo, { digest: sha256(EMPTY), size: 2 }, EMPTY);
  const subject = enc.encode(
    `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"x",` +
      `"digest":"${sha256(EMPTY)}","size":2},"layers":[]}`,
  );
  await client.manifests.put(repo, sha256(subject), subject, OCI_MANIFEST);
  const entries: Descriptor[] = [];
  for (let i = 0; i < n; i++) {
    const m = enc.encode(
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"x",` +
        `"digest":"${sha256(EMPTY)}","size":2},"layers":[],"annotations":{"n":"${i}"}}`,
    );
    await client.manifests.put(repo, sha256(m), m, OCI_MANIFEST);
    entries.push({
      mediaType: OCI_MANIFEST,
      digest: sha256(m),
      size: m.length,
      artifactType: "x/y",
    });
  }
  return { subject: sha256(subject), entries };
}

/** The fallback index listing `entries` in order, in Go's encoding (F§11.2), by hand. */
function fallbackOf(entries: Descriptor[]): string {
  return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
    entries.map((e) =>
      `{"mediaType":"${e.mediaType}","digest":"${e.digest}","size":${e.size},"artifactType":"${e.artifactType}"}`
    ).join(",") + "]}";
}

Deno.test("fallback tag race: a throttled tag PUT is redone from a fresh read, not re-sent", async () => {
  const reg = await startRegistry();
  const c0 = new RegistryClient(reg.host, { plainHttp: true });
  const puts: string[] = [];
  let proxy: InterceptProxy | undefined;
  let a: RegistryClient | undefined;
  try {
    const { subject, entries } = await seedReferrers(c0, "r", 2);
    const tag = "sha256-" + subject.slice(7);
    // Pusher A's first PUT of the tag gets 429 + Retry-After: 1.
    proxy = startInterceptProxy(reg.url, (req, forward, body) => {
      if (req.method !== "PUT" || req.path !== `/v2/r/manifests/${tag}`) return forward();
      puts.push(dec.decode(body));
      if (puts.length > 1) return forward();
      return Promise.resolve(
        new Response('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', {
          status: 429,
          headers: { "retry-after": "1", "content-type": "application/json" },
        }),
      );
    });
    a = new RegistryClient(proxy.host, { plainHttp: true });
    const pA = addToFallbackIndex(a, "r", subject, entries[0]);
    await new Promise((r) => setTimeout(r, 30));
    // B reads (no tag yet), writes [B], and confirms it well before A's retry.
    const rb = await addToFallbackIndex(c0, "r", subject, entries[1]);
    assert.equal(rb.index.digest, sha256(enc.encode(fallbackOf([entries[1]]))));
    const ra = await pA;
    const final = await c0.manifests.get("r", tag);
    assert.equal(dec.decode(final.bytes), fallbackOf([entries[1], entries[0]]));
    assert.equal(ra.index.digest, final.digest);
    // A wrote twice: the throttled [A], then [B, A] merged from a new read.
    assert.deepEqual(puts, [fallbackOf([entries[0]]), fallbackOf([entries[1], entries[0]])]);
    assert.deepEqual(ra.deleted, [rb.index.digest]);
    assert.equal(await c0.manifests.head("r", rb.index.digest), undefined);
    assert.deepEqual(await c0.manifests.tags("r"), [tag]);
  } finally {
    c0.close();
    a?.close();
    await proxy?.stop();
    await reg.stop();
  }
});

Deno.test("fallback tag: an index re-tagged between the check and its DELETE is repaired", async () => {
  const reg = await startRegistry();
  const c0 = new RegistryClient(reg.host, { plainHttp: true });
  let proxy: InterceptProxy | undefined;
  let a: RegistryClient | undefined;
  try {
    const { subject, entries } = await seedReferrers(c0, "r", 2);
    const tag = "sha256-" + subject.slice(7);
    const old = sha256(enc.encode(fallbackOf([entries[0]])));
    // A concurrent pusher writing a byte-identical index lands right between
    // this process' HEAD of the tag and its DELETE of the superseded index.
    let retagged = 0;
    proxy = startInterceptProxy(reg.url, async (req, forward) => {
      if (req.method === "DELETE" && req.path === `/v2/r/manifests/${old}`) {
        const bytes = await fetch(`${reg.url}/v2/r/manifests/${old}`, {
          headers: { accept: "application/vnd.oci.image.index.v1+json" },
        }).then((r) => r.bytes());
        const put = await fetch(`${reg.url}/v2/r/manifests/${tag}`, {
          method: "PUT",
          headers: { "content-type": "application/vnd.oci.image.index.v1+json" },
          body: bytes,
        });
        await put.body?.cancel();
        if (put.status === 201) retagged++;
      }
      return forward();
    });
    a = new RegistryClient(proxy.host, { plainHttp: true });
    const first = await addToFallbackIndex(c0, "r", subject, entries[0], { settleMs: 10 });
    assert.equal(first.index.digest, old);
    const r = await addToFallbackIndex(a, "r", subject, entries[1], { settleMs: 10 });
    assert.equal(retagged, 1, "the re-tag landed before the DELETE");
    // The DELETE took the tag with it (distribution drops the tags of a
    // deleted manifest); the update wrote it again.
    const after = proxy.requests.slice(
      proxy.requests.findIndex((q) => q.method === "DELETE" && q.path.endsWith(old)),
    );
    const tagRequests = after.filter((q) => q.path === `/v2/r/manifests/${tag}`)
      .map((q) => q.method);
    assert.equal(tagRequests[0], "HEAD", tagRequests.join(" "));
    assert.ok(tagRequests.includes("PUT"), tagRequests.join(" "));
    assert.deepEqual(r.deleted, [old]);
    assert.equal(await c0.manifests.head("r", old), undefined);
    const expected = fallbackOf([entries[0], entries[1]]);
    const final = await c0.manifests.get("r", tag);
    assert.equal(dec.decode(final.bytes), expected);
    assert.equal(r.index.digest, sha256(enc.encode(expected)));
    assert.deepEqual(await c0.manifests.tags("r"), [tag]);
  } finally {
    c0.close();
    a?.close();
    await proxy?.stop();
    await reg.stop();
  }
});

Deno.test("pushIndex: a failed upload stops its siblings; nothing runs after the rejection", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "soci-test-push-" });
  try {
    const img = await makeOciLayout(dir, "v1", [{ a: enc.encode("a") }, { b: enc.encode("b") }]);
    const idx = makeIndex(img, 3);
    const doc = JSON.parse(dec.decode(idx.bytes));
    const [z1, z2] = doc.layers.map((l: Descriptor) => l.digest);
    const seed = async (client: RegistryClient) => {
      for (const b of [img.config, ...img.layers]) await client.blobs.upload("app", b, b.bytes);
      await client.manifests.put("app", "v1", img.manifest.bytes, img.manifest.mediaType);
    };
    const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

    for (const [concurrency, z1Delay, z2Delay] of [[1, 0, 0], [2, 50, 300]]) {
      await t.step(`concurrency ${concurrency}`, async () => {
        const reg = await startRegistry();
        const proxy = startInterceptProxy(reg.url);
        const client = new RegistryClient(proxy.host, { plainHttp: true });
        const direct = new RegistryClient(reg.host, { plainHttp: true });
        try {
          await seed(client);
          const events: [PushEventKind, string][] = [];
          const get = async (d: Descriptor) => {
            if (d.digest === z1) {
              await delay(z1Delay);
              throw new Error("disk on fire");
            }
            if (d.digest === z2) await delay(z2Delay);
            return idx.blobs.get(d.digest)!;
          };
          const e = await pushIndex(client, "app", idx.desc, get, {
            concurrency,
            onEvent: (kind, d) => events.push([kind, d.digest]),
          }).then(() => undefined, (e) => e as Error);
          assert.ok(e, "push failed");
          assert.equal(
            e.message,
            `cannot push ${z1}: not in ${proxy.host}/app and not readable locally: disk on fire`,
          );
          // Nothing is in flight any more: every node started has finished or failed.
          const started = events.filter(([k]) => k === "pushing").map(([, d]) => d);
          const finished = events.filter(([k]) => k === "pushed").map(([, d]) => d);
          assert.deepEqual(started.filter((d) => d !== z1).sort(), finished.sort());
          const mark = proxy.requests.length;
          assert.ok(mark > 0);
          await delay(500);
          assert.equal(proxy.requests.length, mark, "requests after the rejection");
          assert.equal(await direct.manifests.head("app", idx.desc.digest), undefined);
          if (concurrency === 1) {
            // z2 was still queued when z1 failed: it never started.
            assert.ok(!started.includes(z2), JSON.stringify(events));
            assert.equal(await direct.blobs.head("app", z2), undefined);
          }
        } finally {
          client.close();
          direct.close();
          await proxy.stop();
          await reg.stop();
        }
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
