// End-to-end tests of `soci convert` with registries (issue 7): the real CLI against Debian's
// docker-registry 2.8 on loopback, with a counting proxy in front of the source registry
// (every byte of every request, streamed), images pushed by skopeo, results read back by
// skopeo and by plain HTTP the way the snapshotter discovers a v2 index (F§11.3). Expected
// documents are written out by hand from F§8 (`helpers/convert_expect.ts`).
import assert from "node:assert/strict";
import { join } from "node:path";
import { startCountingProxy } from "./helpers/counting_proxy.ts";
import {
  AMD64,
  docDesc,
  encIndex,
  expectedMulti,
  expectedPlatform,
  INDEX_DIGEST,
  manEntry,
  MANIFEST_DIGEST,
  OCI_INDEX,
  OCI_MANIFEST,
  SOCI_V2,
  sociEntry,
  type XDesc,
} from "./helpers/convert_expect.ts";
import {
  dbRows,
  e2eImages,
  lines,
  sha256,
  soci,
  sociOk,
  toolOk,
  withRoot,
} from "./helpers/create_e2e_images.ts";
import { startInterceptProxy } from "./helpers/intercept_proxy.ts";
import { skopeoCopyToRegistry, startRegistry, type TestRegistry } from "./helpers/registry.ts";

const IMG = await e2eImages();
const L = IMG.layout;
const DEC = new TextDecoder();

/** The layer digests and sizes of `multi`, every platform. */
function multiLayers(): Map<string, number> {
  const m = new Map<string, number>();
  for (const img of [IMG.multi.amd64, IMG.multi.arm64, IMG.multi.unknown]) {
    for (const l of img.layers) m.set(l.desc.digest, l.desc.size);
  }
  return m;
}

/** `skopeo inspect --raw` of a plain-HTTP registry reference, as text. */
async function rawOf(ref: string): Promise<string> {
  return await toolOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
}

/** Pushes a tag of the test layout with skopeo (digests preserved, every platform). */
async function push(tag: string, dest: string): Promise<void> {
  await skopeoCopyToRegistry(L, tag, dest, { all: true });
}

/** A GET of the registry API (plain HTTP) with an Accept header for OCI documents. */
async function get(base: string, path: string): Promise<{ status: number; bytes: Uint8Array }> {
  const res = await fetch(`${base}/v2/${path}`, {
    headers: { accept: `${OCI_INDEX}, ${OCI_MANIFEST}` },
  });
  return { status: res.status, bytes: new Uint8Array(await res.arrayBuffer()) };
}

/**
 * Finds the v2 index of each platform the way the snapshotter does (F§11.3): the image
 * manifest's `com.amazon.soci.index-digest` annotation, then that digest fetched from the
 * same repository, then every blob it lists; checks digests and sizes on the way.
 */
async function discover(base: string, repo: string, tag: string): Promise<string[]> {
  const index = JSON.parse(DEC.decode((await get(base, `${repo}/manifests/${tag}`)).bytes));
  const found: string[] = [];
  for (const entry of index.manifests as XDesc[]) {
    if (entry.artifactType === SOCI_V2) continue;
    const m = await get(base, `${repo}/manifests/${entry.digest}`);
    assert.equal(m.status, 200);
    assert.equal(sha256(m.bytes), entry.digest);
    const manifest = JSON.parse(DEC.decode(m.bytes));
    const sociDigest = manifest.annotations?.[INDEX_DIGEST];
    if (!sociDigest) continue;
    const s = await get(base, `${repo}/manifests/${sociDigest}`);
    assert.equal(s.status, 200);
    assert.equal(sha256(s.bytes), sociDigest);
    const soci = JSON.parse(DEC.decode(s.bytes));
    assert.equal(soci.config.mediaType, SOCI_V2);
    assert.equal(soci.subject, undefined);
    for (const blob of [soci.config, ...soci.layers] as XDesc[]) {
      const b = await get(base, `${repo}/blobs/${blob.digest}`);
      assert.equal(b.status, 200);
      assert.equal(sha256(b.bytes), blob.digest);
      assert.equal(b.bytes.length, blob.size);
    }
    // The v2 descriptor of the index points back at the manifest (C§11.3 item 8).
    const d = (index.manifests as XDesc[]).find((x) => x.digest === sociDigest)!;
    assert.equal(d.annotations?.[MANIFEST_DIGEST], entry.digest);
    assert.deepEqual(d.platform, entry.platform);
    found.push(sociDigest);
  }
  return found;
}

/** The blobs of a local root: every one a JSON document or a zTOC, none a layer. */
async function assertOnlyDocumentsAndZtocs(root: string, layers: Map<string, number>) {
  const dir = join(root, "content", "blobs", "sha256");
  let total = 0;
  for await (const e of Deno.readDir(dir)) {
    const digest = `sha256:${e.name}`;
    assert.equal(layers.has(digest), false, `layer ${digest} was written under the root`);
    total += (await Deno.stat(join(dir, e.name))).size;
  }
  const rows = await dbRows(root);
  const types = new Set(rows.map((r) => r.type));
  assert.ok(!types.has("soci_prefetch"));
  return total;
}

Deno.test("convert docker:// → docker://, same registry: each layer read once, none uploaded (mounted), the v2 index found through the annotation", async () => {
  const reg = await startRegistry();
  const proxy = startCountingProxy(reg.url);
  try {
    await push("multi", `${reg.host}/src/multi:1`);
    await withRoot(async (root) => {
      const r = await soci(root, [
        "convert",
        "--plain-http",
        "--all-platforms",
        "--min-layer-size",
        "0",
        `docker://${proxy.host}/src/multi:1`,
        `docker://${proxy.host}/dst/multi:soci`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const e = await expectedMulti(IMG, root, ["amd64", "arm64"]);
      assert.equal(
        lines(r.stdout).at(-1),
        `soci-enabled image ${e.idx.digest} written to docker://${proxy.host}/dst/multi:soci`,
      );
      assert.equal(await rawOf(`${reg.host}/dst/multi:soci`), e.idxText);
      // Each layer read at most once; those that got a zTOC exactly once; the unknown
      // platform's layer (no zTOC) not at all: it was mounted.
      const layers = multiLayers();
      const read = proxy.blobBytesRead();
      for (const [digest, size] of layers) assert.ok((read.get(digest) ?? 0) <= size, digest);
      for (const img of [IMG.multi.amd64, IMG.multi.arm64]) {
        for (const l of img.layers) assert.equal(read.get(l.desc.digest), l.desc.size);
      }
      assert.equal(read.get(IMG.multi.unknown.layers[0].desc.digest) ?? 0, 0);
      // Nothing uploaded but what convert made; every layer mounted from src/multi.
      assert.deepEqual(proxy.uploaded().filter((d) => layers.has(d)), []);
      assert.deepEqual(
        new Set(proxy.mounted().filter((d) => layers.has(d))),
        new Set(layers.keys()),
      );
      // The tag was put last.
      const puts = proxy.requests.filter((q) =>
        q.method === "PUT" && q.path.includes("/manifests/")
      );
      assert.equal(puts.at(-1)!.path, "/v2/dst/multi/manifests/soci");
      assert.deepEqual(await discover(reg.url, "dst/multi", "soci"), [
        e.amd.soci.digest,
        e.arm.soci.digest,
      ]);
      await assertOnlyDocumentsAndZtocs(root, layers);

      // In place (same repository and tag): nothing to upload or mount, and no layer read
      // (every zTOC is reused, the repository has every layer).
      proxy.reset();
      const again = await sociOk(root, [
        "convert",
        "--plain-http",
        "--all-platforms",
        "--min-layer-size",
        "0",
        `docker://${proxy.host}/src/multi:1`,
        `docker://${proxy.host}/src/multi:1`,
      ]);
      assert.equal(
        lines(again.stdout).at(-1),
        `soci-enabled image ${e.idx.digest} written to docker://${proxy.host}/src/multi:1`,
      );
      assert.deepEqual(proxy.uploaded().filter((d) => layers.has(d)), []);
      assert.deepEqual(proxy.mounted(), []);
      for (const digest of layers.keys()) assert.equal(proxy.blobBytesRead().get(digest) ?? 0, 0);
      assert.equal(await rawOf(`${reg.host}/src/multi:1`), e.idxText);
      // push refuses v2 with upstream's advice (C§5): the whole image travels instead.
      const p = await soci(root, ["push", "--plain-http", `${proxy.host}/src/multi:1`]);
      assert.equal(p.code, 1);
      assert.equal(
        p.stdout,
        "[WARN] Skippping SOCI index manifest v2. You should push the whole image with higher level tools like finch or nerdctl.\n",
      );
      assert.match(
        p.stderr,
        /^soci: could not find any soci index manifest v1 to push for platform linux\/(amd64|arm64\/v8)\n$/,
      );
    });
  } finally {
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("convert docker:// → docker:// of another registry: layers read once and uploaded from that read; a destination that has everything gets nothing", async () => {
  const a = await startRegistry();
  const b = await startRegistry();
  const src = startCountingProxy(a.url);
  const dst = startCountingProxy(b.url);
  try {
    await push("multi", `${a.host}/src/multi:1`);
    await withRoot(async (root) => {
      await sociOk(root, [
        "convert",
        "--plain-http",
        "--all-platforms",
        "--min-layer-size",
        "0",
        `docker://${src.host}/src/multi:1`,
        `docker://${dst.host}/other/img:1`,
      ]);
      const e = await expectedMulti(IMG, root, ["amd64", "arm64"]);
      assert.equal(await rawOf(`${b.host}/other/img:1`), e.idxText);
      const layers = multiLayers();
      const read = src.blobBytesRead();
      // Every layer read exactly once from the source (scanned or just copied)...
      for (const [digest, size] of layers) assert.equal(read.get(digest), size, digest);
      // ...and uploaded once to the destination, which mounted nothing.
      const up = dst.uploaded().filter((d) => layers.has(d));
      assert.deepEqual(up.sort(), [...layers.keys()].sort());
      assert.deepEqual(dst.mounted(), []);
      assert.deepEqual(await discover(b.url, "other/img", "1"), [
        e.amd.soci.digest,
        e.arm.soci.digest,
      ]);
      await assertOnlyDocumentsAndZtocs(root, layers);

      // Again to the same destination: zTOCs reused, the destination has every blob:
      // no layer byte read, nothing uploaded.
      src.reset();
      dst.reset();
      await sociOk(root, [
        "convert",
        "--plain-http",
        "--all-platforms",
        "--min-layer-size",
        "0",
        `docker://${src.host}/src/multi:1`,
        `docker://${dst.host}/other/img:1`,
      ]);
      for (const d of layers.keys()) assert.equal(src.blobBytesRead().get(d) ?? 0, 0);
      assert.equal(dst.uploadBytes(), 0);
      assert.equal(await rawOf(`${b.host}/other/img:1`), e.idxText);
    });
  } finally {
    await src.stop();
    await dst.stop();
    await a.stop();
    await b.stop();
  }
});

Deno.test("convert: a registry round trip keeps every digest; skopeo reads the results byte for byte", async () => {
  const reg = await startRegistry();
  try {
    await withRoot(async (root, scratch) => {
      // oci: → docker:// (single manifest) and back to oci: (already SOCI-enabled: unchanged).
      await sociOk(root, [
        "convert",
        "--plain-http",
        "--min-layer-size",
        "0",
        `oci:${L}:app`,
        `docker://${reg.host}/rt/app:1`,
      ]);
      const { soci: s, man, manText, sociText } = await expectedPlatform(root, IMG.app);
      const idxText = encIndex([manEntry(man, AMD64, s.digest), sociEntry(s, man.digest, AMD64)]);
      const idx = docDesc(OCI_INDEX, idxText);
      assert.equal(await rawOf(`${reg.host}/rt/app:1`), idxText);
      assert.equal(await rawOf(`${reg.host}/rt/app@${man.digest}`), manText);
      assert.equal(await rawOf(`${reg.host}/rt/app@${s.digest}`), sociText);
      const out = join(scratch, "back");
      const back = await sociOk(root, [
        "convert",
        "--plain-http",
        `docker://${reg.host}/rt/app:1`,
        `oci:${out}:app`,
      ]);
      assert.equal(
        lines(back.stdout).at(-1),
        `image ${idx.digest} is already SOCI-enabled; written unchanged to oci:${out}:app`,
      );
      assert.equal(await toolOk("skopeo", ["inspect", "--raw", `oci:${out}:app`]), idxText);
      // And again to a second repository: the same digests there too.
      await sociOk(root, [
        "convert",
        "--plain-http",
        `oci:${out}:app`,
        `docker://${reg.host}/rt/copy:2`,
      ]);
      assert.equal(await rawOf(`${reg.host}/rt/copy:2`), idxText);
      assert.deepEqual(await discover(reg.url, "rt/copy", "2"), [s.digest]);
    });
  } finally {
    await reg.stop();
  }
});

Deno.test("convert: a partially present image cannot go to a registry that lacks its missing manifest: one line, nothing written", async () => {
  const reg = await startRegistry();
  const proxy = startCountingProxy(reg.url);
  try {
    await withRoot(async (root, scratch) => {
      const partial = join(scratch, "partial");
      await toolOk("cp", ["-a", L, partial]);
      const gone = IMG.multi.arm64.manifest.digest;
      await Deno.remove(join(partial, "blobs", "sha256", gone.slice(7)));
      const dest = `docker://${proxy.host}/partial/img:1`;
      const r = await soci(root, [
        "convert",
        "--plain-http",
        "--all-platforms",
        "--min-layer-size",
        "0",
        `oci:${partial}:multi`,
        dest,
      ]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `soci: ${dest} cannot hold the image: ${gone} is in neither oci:${partial}:multi nor the destination\n`,
      );
      assert.deepEqual(proxy.requests.filter((q) => q.method !== "HEAD" && q.method !== "GET"), []);
      assert.equal(
        (await fetch(`${reg.url}/v2/partial/img/manifests/1`, { method: "HEAD" })).status,
        404,
      );
      assert.deepEqual(await dbRows(root), []);
    });
  } finally {
    await proxy.stop();
    await reg.stop();
  }
});

/** A registry in front of which every write is refused (403 DENIED). */
function refusingProxy(reg: TestRegistry) {
  return startInterceptProxy(reg.url, async (req, forward) => {
    if (req.method === "GET" || req.method === "HEAD") return await forward();
    return new Response(
      JSON.stringify({
        errors: [{ code: "DENIED", message: "requested access to the resource is denied" }],
      }),
      { status: 403, headers: { "content-type": "application/json" } },
    );
  });
}

Deno.test("convert: a destination registry refusing the push: one line, the source untouched, nothing at the destination, nothing recorded", async () => {
  const a = await startRegistry();
  const b = await startRegistry();
  const refusing = refusingProxy(b);
  try {
    await push("app", `${a.host}/src/app:1`);
    const before = await rawOf(`${a.host}/src/app:1`);
    await withRoot(async (root) => {
      const dest = `docker://${refusing.host}/refused/app:1`;
      const r = await soci(root, [
        "convert",
        "--plain-http",
        "--min-layer-size",
        "0",
        `docker://${a.host}/src/app:1`,
        dest,
      ]);
      assert.equal(r.code, 1);
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`^soci: cannot write to ${dest.replaceAll(".", "\\.")}: .*403.*\\n$`),
      );
      assert.equal(await rawOf(`${a.host}/src/app:1`), before);
      assert.equal(
        (await fetch(`${b.url}/v2/refused/app/manifests/1`, { method: "HEAD" })).status,
        404,
      );
      assert.equal((await fetch(`${b.url}/v2/refused/app/tags/list`)).status, 404);
      assert.deepEqual(await dbRows(root), []);
    });
  } finally {
    await refusing.stop();
    await a.stop();
    await b.stop();
  }
});
