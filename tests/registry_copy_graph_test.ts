// copyGraph against the real Debian docker-registry 2.8, which refuses a
// manifest whose blobs or child manifests are missing (MANIFEST_BLOB_UNKNOWN),
// so it checks the leaves-first order by itself. A two-platform image index
// (a layer shared by both platforms) written by hand: copy with a tag (tag
// last), again (nothing written), partly present, a failing source (no tag
// left behind), registry to registry with streamed blobs, and mounts with
// the fallback when the registry declines one.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Descriptor } from "../lib/oci/descriptor.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { type CopyEvent, copyGraph } from "../lib/registry/copy_graph.ts";
import { skopeoInspectRaw, startRegistry } from "./helpers/registry.ts";
import { pseudoRandomBytes } from "./helpers/registry_oci_layout.ts";
import { startInterceptProxy } from "./helpers/intercept_proxy.ts";

const sha256 = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
const enc = new TextEncoder();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

interface Node {
  desc: Descriptor;
  bytes: Uint8Array;
}

function node(mediaType: string, bytes: Uint8Array): Node {
  return { desc: { mediaType, digest: sha256(bytes), size: bytes.length }, bytes };
}

function ref(n: Node): string {
  return `{"mediaType":"${n.desc.mediaType}","digest":"${n.desc.digest}","size":${n.desc.size}}`;
}

/** A two-platform image: an index, two manifests, two configs, a shared layer and one layer each. */
function makeImage(seed: number) {
  const shared = node(OCI_LAYER, pseudoRandomBytes(200_000, seed));
  const own = ["amd64", "arm64"].map((arch, i) => {
    const config = node(
      OCI_CONFIG,
      enc.encode(
        `{"architecture":"${arch}","os":"linux","rootfs":{"type":"layers"},"seed":${seed}}`,
      ),
    );
    const layer = node(OCI_LAYER, pseudoRandomBytes(50_000 + i, seed * 10 + i));
    const manifest = node(
      OCI_MANIFEST,
      enc.encode(
        `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${ref(config)},` +
          `"layers":[${ref(shared)},${ref(layer)}]}`,
      ),
    );
    return { arch, config, layer, manifest };
  });
  const index = node(
    OCI_INDEX,
    enc.encode(
      `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[` +
        own.map((o) =>
          `{"mediaType":"${OCI_MANIFEST}","digest":"${o.manifest.desc.digest}",` +
          `"size":${o.manifest.desc.size},"platform":{"architecture":"${o.arch}","os":"linux"}}`
        ).join(",") + "]}",
    ),
  );
  const all = [index, shared, ...own.flatMap((o) => [o.config, o.layer, o.manifest])];
  const store = new Map(all.map((n) => [n.desc.digest, n.bytes]));
  return { index, shared, own, all, store };
}

type Image = ReturnType<typeof makeImage>;

function fetcher(img: Image, calls: string[] = []) {
  return (d: Descriptor) => {
    calls.push(d.digest);
    const b = img.store.get(d.digest);
    return b ? Promise.resolve(b) : Promise.reject(new Error(`no ${d.digest}`));
  };
}

const isWrite = (m: string) => m !== "GET" && m !== "HEAD";

Deno.test("copyGraph: an image index to docker-registry 2.8", async (t) => {
  const reg = await startRegistry();
  const proxy = startInterceptProxy(reg.url);
  const client = new RegistryClient(proxy.host, { plainHttp: true });
  const direct = new RegistryClient(reg.host, { plainHttp: true });
  const img = makeImage(1);
  const root = img.index.desc;
  try {
    await t.step("leaves first, each node once, root by digest, tag last", async () => {
      const events: CopyEvent[] = [];
      const result = await copyGraph(client, "multi", root, fetcher(img), {
        tag: "v1",
        concurrency: 2,
        onEvent: (e) => events.push(e),
      });
      assert.equal(result.rootExisted, false);
      assert.equal(result.tagged, true);
      assert.deepEqual(result.skipped, []);
      assert.deepEqual(
        result.copied.map((d) => d.digest).sort(),
        img.all.map((n) => n.desc.digest).sort(),
      );
      assert.equal(result.copied.at(-1)!.digest, root.digest);
      // Each node is copied after everything under it.
      const at = (kind: string, d: string) =>
        events.findIndex((e) => e.kind === kind && e.desc.digest === d);
      for (const o of img.own) {
        for (const child of [img.shared, o.config, o.layer]) {
          assert.ok(at("copied", child.desc.digest) < at("copying", o.manifest.desc.digest));
        }
        assert.ok(at("copied", o.manifest.desc.digest) < at("copying", root.digest));
      }
      assert.deepEqual(events.at(-1), { kind: "tagged", desc: root, tag: "v1" });
      assert.equal(events.filter((e) => e.kind === "copying").length, img.all.length);
      // The registry: the tag was the last write, after the root was put by digest.
      const writes = proxy.requests.filter((r) => isWrite(r.method));
      assert.deepEqual(writes.slice(-2).map((r) => `${r.method} ${r.path}`), [
        `PUT /v2/multi/manifests/${root.digest}`,
        "PUT /v2/multi/manifests/v1",
      ]);
      assert.ok(proxy.maxInFlight() <= 2, String(proxy.maxInFlight()));
      assert.deepEqual(await skopeoInspectRaw(`${reg.host}/multi:v1`), img.index.bytes);
      for (const o of img.own) {
        assert.deepEqual(
          await skopeoInspectRaw(`${reg.host}/multi@${o.manifest.desc.digest}`),
          o.manifest.bytes,
        );
      }
      for (const n of [img.shared, ...img.own.flatMap((o) => [o.config, o.layer])]) {
        assert.deepEqual(await direct.blobs.get("multi", n.desc), n.bytes);
      }
    });

    await t.step("again: the root is there, nothing is written", async () => {
      proxy.requests.length = 0;
      const events: CopyEvent[] = [];
      const result = await copyGraph(client, "multi", root, fetcher(img), {
        tag: "v1",
        onEvent: (e) => events.push(e),
      });
      assert.equal(result.rootExisted, true);
      assert.equal(result.tagged, false);
      assert.deepEqual(events, [{ kind: "skipped", desc: root }]);
      assert.deepEqual(proxy.requests.filter((r) => isWrite(r.method)), []);
    });

    await t.step("a new tag for a root that is there: only the tag is written", async () => {
      proxy.requests.length = 0;
      const result = await copyGraph(client, "multi", root, fetcher(img), { tag: "v2" });
      assert.equal(result.tagged, true);
      assert.deepEqual(
        proxy.requests.filter((r) => isWrite(r.method)).map((r) => `${r.method} ${r.path}`),
        ["PUT /v2/multi/manifests/v2"],
      );
      assert.deepEqual((await direct.manifests.tags("multi")).sort(), ["v1", "v2"]);
    });

    await t.step("partly there: a present manifest is skipped with its graph", async () => {
      const amd = img.own[0];
      await copyGraph(client, "part", amd.manifest.desc, fetcher(img));
      proxy.requests.length = 0;
      const calls: string[] = [];
      const result = await copyGraph(client, "part", root, fetcher(img, calls), { tag: "all" });
      assert.deepEqual(
        result.skipped.map((d) => d.digest).sort(),
        [amd.manifest.desc.digest, img.shared.desc.digest].sort(),
      );
      // Nothing under the present manifest was asked about or read.
      for (const d of [amd.config.desc.digest, amd.layer.desc.digest]) {
        assert.ok(!proxy.requests.some((r) => r.path.includes(d)), d);
        assert.ok(!calls.includes(d), d);
      }
      assert.deepEqual(await skopeoInspectRaw(`${reg.host}/part:all`), img.index.bytes);
    });

    await t.step("a source that fails: the copy stops, no tag, nothing after", async () => {
      const broken = makeImage(2);
      const arm = broken.own[1];
      const get = (d: Descriptor) =>
        d.digest === arm.layer.desc.digest
          ? Promise.reject(new Error("disk on fire"))
          : fetcher(broken)(d);
      const e = await copyGraph(client, "fail", broken.index.desc, get, {
        tag: "v1",
        concurrency: 1,
      }).then(() => undefined, (e) => e as Error);
      assert.equal(e?.message, "disk on fire");
      const mark = proxy.requests.length;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(proxy.requests.length, mark, "requests after the rejection");
      assert.equal(await direct.manifests.head("fail", "v1"), undefined);
      assert.equal(await direct.manifests.head("fail", broken.index.desc.digest), undefined);
      assert.equal(await direct.manifests.head("fail", arm.manifest.desc.digest), undefined);
    });

    await t.step("bytes that do not match their descriptor are refused", async () => {
      const other = makeImage(3);
      const get = (d: Descriptor) =>
        d.digest === other.shared.desc.digest
          ? Promise.resolve(other.shared.bytes.slice(1))
          : fetcher(other)(d);
      const e = await copyGraph(client, "bad", other.index.desc, get).then(
        () => undefined,
        (e) => e as Error,
      );
      assert.equal(
        e?.message,
        `content for ${other.shared.desc.digest} does not match its descriptor (size ${other.shared.desc.size})`,
      );
      assert.equal(await direct.blobs.head("bad", other.shared.desc.digest), undefined);
    });

    await t.step("mount from another repository; declined mounts are uploaded", async () => {
      proxy.requests.length = 0;
      const calls: string[] = [];
      const events: CopyEvent[] = [];
      await copyGraph(client, "mounted", root, fetcher(img, calls), {
        mountFrom: "multi",
        onEvent: (e) => events.push(e),
      });
      const blobs = [img.shared, ...img.own.flatMap((o) => [o.config, o.layer])];
      assert.deepEqual(
        events.filter((e) => e.kind === "mounted").map((e) => e.desc.digest).sort(),
        blobs.map((b) => b.desc.digest).sort(),
      );
      // No blob bytes were read or sent: mounts only.
      assert.ok(blobs.every((b) => !calls.includes(b.desc.digest)));
      const uploads = proxy.requests.filter((r) => r.path.includes("/blobs/uploads/"));
      assert.equal(uploads.length, blobs.length, "one mount request per blob");
      assert.ok(uploads.every((r) => r.method === "POST" && r.path.includes("mount=")));

      // From a repository that lacks the blobs: the registry declines, the copy uploads.
      const fresh = makeImage(4);
      const seen: CopyEvent[] = [];
      await copyGraph(client, "mounted2", fresh.index.desc, fetcher(fresh), {
        mountFrom: "multi",
        onEvent: (e) => seen.push(e),
      });
      const freshBlobs = [fresh.shared, ...fresh.own.flatMap((o) => [o.config, o.layer])];
      for (const b of freshBlobs) {
        const kinds = seen.filter((e) => e.desc.digest === b.desc.digest).map((e) => e.kind);
        assert.deepEqual(kinds, ["copying", "mount-declined", "copied"], b.desc.digest);
        assert.deepEqual(await direct.blobs.get("mounted2", b.desc), b.bytes);
      }
    });
  } finally {
    client.close();
    direct.close();
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("copyGraph: registry to registry, blobs streamed through", async () => {
  const [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  const src = new RegistryClient(a.host, { plainHttp: true });
  const dst = new RegistryClient(b.host, { plainHttp: true, chunkSize: 64 * 1024 });
  const img = makeImage(5);
  try {
    await copyGraph(src, "app", img.index.desc, fetcher(img), { tag: "1.0" });
    let streamed = 0;
    const fromSource = async (d: Descriptor) => {
      if (d.mediaType === OCI_MANIFEST || d.mediaType === OCI_INDEX) {
        return (await src.manifests.get("app", d.digest)).bytes;
      }
      streamed++;
      return await src.blobs.open("app", d.digest, { size: d.size });
    };
    const result = await copyGraph(dst, "copy", img.index.desc, fromSource, { tag: "1.0" });
    assert.equal(streamed, 5);
    assert.equal(result.copied.length, img.all.length);
    assert.deepEqual(await skopeoInspectRaw(`${b.host}/copy:1.0`), img.index.bytes);
    for (const n of [img.shared, ...img.own.flatMap((o) => [o.config, o.layer])]) {
      assert.deepEqual(await dst.blobs.get("copy", n.desc), n.bytes);
    }
  } finally {
    src.close();
    dst.close();
    await a.stop();
    await b.stop();
  }
});
