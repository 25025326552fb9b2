// Reading images through their SOCI index against the real registry
// (Debian's docker-registry on loopback), with an empty local store: the
// index is discovered from the registry (fallback tag), `ls` equals the
// tree `umoci unpack` makes of the same image, `cat` of every file equals
// the unpacked file (start, middle and end of a multi-span layer; upper
// and lower layers; through whiteouts, opaque directories, symlinks and
// hard links; a layer without a zTOC), and the bytes a `cat` of one 1 MiB
// file transfers, counted by a proxy, stay within two spans, the file and
// the documents. A v2 image (index bound by the manifest annotation) is
// read the same way.
import assert from "node:assert/strict";
import { join } from "node:path";
import { createIndexes } from "../lib/use_cases/create.ts";
import { pushIndexes } from "../lib/use_cases/push.ts";
import { ImageFiles, listFiles, openFile } from "../lib/use_cases/read_files.ts";
import { verifyImage } from "../lib/use_cases/verify.ts";
import { openImage } from "../lib/image/open.ts";
import { LayoutImageSource } from "../lib/image/layout_core.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { BadInputError, NotFoundError } from "../lib/errors.ts";
import { decodeZtoc } from "../lib/ztoc/codec.ts";
import { zinfoOf } from "../lib/ztoc/spans.ts";
import { startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { skopeoCopyToRegistry } from "./helpers/registry.ts";
import { startCountingProxy } from "./helpers/counting_proxy.ts";
import { sha256 } from "./helpers/bytes.ts";
import {
  buildLayer,
  type BuiltLayout,
  OCI_INDEX,
  OCI_MANIFEST,
  pushIndexRaw,
  standardTrees,
  text,
  type TreeSpec,
  umociTree,
  type UnpackedEntry,
  writeLayout,
} from "./helpers/read_images.ts";

const SPAN = 64 * 1024;
const plain = { plainHttp: true, configDir: "/nonexistent/soci-read-docker-config" };

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Builds the standard image as a layout, pushes it, indexes it and pushes its index. */
async function publish(
  reg: TestRegistry,
  scratch: string,
  repo: string,
  trees: TreeSpec[][],
  minLayerSize: number,
  spanSize = SPAN,
): Promise<{ layout: BuiltLayout; ref: string }> {
  const layers = [];
  for (const t of trees) layers.push(await buildLayer(t));
  const layout = await writeLayout(join(scratch, repo), "v1", layers);
  await skopeoCopyToRegistry(layout.dir, "v1", `${reg.host}/${repo}:v1`);
  const ref = `docker://${reg.host}/${repo}:v1`;
  const root = join(scratch, `${repo}-builder-root`);
  using store = LocalStore.open(root);
  const source = await openImage(ref, { registry: plain });
  try {
    await createIndexes(source, store, { spanSize, minLayerSize });
  } finally {
    await source.close?.();
  }
  const client = new RegistryClient(reg.host, { plainHttp: true });
  try {
    await pushIndexes(store, `${reg.host}/${repo}:v1`, client, repo);
  } finally {
    client.close();
  }
  return { layout, ref };
}

function asUnpacked(type: string): string {
  return type === "hardlink" ? "reg" : type;
}

Deno.test("read: ls and cat of a registry image through its index, empty store", async (t) => {
  const scratch = await Deno.makeTempDir({ prefix: "soci-read-e2e-" });
  const reg = await startRegistry();
  try {
    // Layer 2 (a few KiB) stays below the minimum size: no zTOC.
    const { layout, ref } = await publish(reg, scratch, "app", standardTrees(), 100_000);
    const oracle = await umociTree(layout.dir, "v1");
    await using files = await ImageFiles.open(ref, { registry: plain });

    await t.step("the index comes from the registry's fallback tag", () => {
      assert.equal(files.index?.via, "tag");
      assert.equal(files.index?.version, "v1");
      assert.deepEqual(files.layers.map((l) => l.ztoc !== undefined), [true, true, false]);
    });

    await t.step("ls equals the tree umoci unpacks", async () => {
      const list = await files.list();
      assert.deepEqual(list.map((f) => f.path), [...oracle.keys()].sort());
      for (const f of list) {
        const u = oracle.get(f.path)!;
        assert.equal(asUnpacked(f.type), u.type, f.path);
        assert.equal(f.mode, u.mode, f.path);
        if (u.type === "reg") assert.equal(f.size, u.size, f.path);
        if (u.type === "symlink") assert.equal(f.linkname, u.target, f.path);
      }
      // Whiteouts and opaque markers are applied, never listed.
      assert.ok(!list.some((f) => f.path.split("/").some((p) => p.startsWith(".wh."))));
    });

    await t.step("cat of every regular file equals the unpacked file", async () => {
      const regular = [...oracle.values()].filter((u) => u.type === "reg");
      assert.ok(regular.length > 30);
      for (const u of regular) {
        const data = await bytesOf(await files.open(u.path));
        assert.equal(data.length, u.size, u.path);
        assert.equal(sha256(data), u.digest, u.path);
      }
    });

    await t.step("files at the start, middle and end of the multi-span lower layer", async () => {
      const z = decodeZtoc(await files.blob(files.layers[0].ztoc!));
      const zi = zinfoOf(z);
      assert.ok(zi.numSpans > 20, `${zi.numSpans} spans`);
      const spanOf = (name: string) => {
        const e = z.toc.find((m) => new TextDecoder().decode(m.name) === `./${name}`)!;
        return [
          zi.spanOf(e.uncompressedOffset),
          zi.spanOf(e.uncompressedOffset + e.uncompressedSize),
        ];
      };
      const [firstA] = spanOf("aaa-first.txt");
      const [midA, midB] = spanOf("data/mid-11.txt");
      const [, lastB] = spanOf("zzz-last.txt");
      assert.equal(firstA, 0);
      assert.ok(midA > 5 && midB < zi.numSpans - 5 && midB >= midA, `${midA}-${midB}`);
      assert.equal(lastB, zi.numSpans - 1);
      for (const name of ["aaa-first.txt", "data/mid-11.txt", "zzz-last.txt"]) {
        assert.equal(sha256(await bytesOf(await files.open(name))), oracle.get(name)!.digest);
      }
    });

    await t.step("symlinks are followed within the image", async () => {
      const cases: Array<[string, string]> = [
        ["links/abs", "data/mid-10.txt"],
        ["links/chain", "data/mid-10.txt"],
        ["links/rel", "etc/os-release"],
        ["links/up", "etc/os-release"], // `..` never leaves the root
        ["links/dir/mid-05.txt", "data/mid-05.txt"],
        ["/links/lib", "lib/libfoo.so.1"],
        ["lib/libfoo.so", "lib/libfoo.so.1"],
      ];
      for (const [path, real] of cases) {
        const data = await bytesOf(await files.open(path));
        assert.equal(sha256(data), oracle.get(real)!.digest, path);
      }
      const st = await files.stat("links/abs");
      assert.equal(st.type, "symlink");
      assert.equal((await files.stat("links/abs", { follow: true })).path, "data/mid-10.txt");
    });

    await t.step("whiteouts, opaque dirs and replacements decide what exists", async () => {
      const missing = [
        "gone/a.txt", // whole directory whited out
        "to-delete.txt",
        "opq/a.txt", // hidden by the opaque marker
        "etc/passwd", // whited out by the layer without zTOC
        "dir-to-file/child.txt", // its directory became a file
        "links/dangling",
      ];
      for (const p of missing) {
        await assert.rejects(files.open(p), NotFoundError, p);
      }
      await assert.rejects(files.open("links/loop1"), BadInputError);
      await assert.rejects(files.open("tmp"), /is a directory/);
      assert.equal((await files.stat("file-to-dir")).type, "dir");
      assert.equal((await files.stat("dir-to-file")).type, "reg");
      assert.equal((await files.stat("opq/c.txt")).layer, 1);
      assert.equal((await files.stat("data/mid-03.txt")).layer, 2); // from the layer without zTOC
      assert.equal((await files.stat("replaced.txt")).layer, 1);
    });

    await t.step("listFiles and openFile do the same in one call", async () => {
      const sub = await listFiles(ref, { registry: plain, path: "opq" });
      assert.deepEqual(sub.map((f) => f.path), ["opq", "opq/c.txt"]);
      const data = await bytesOf(await openFile(ref, "up-hard.txt", { registry: plain }));
      assert.equal(sha256(data), oracle.get("up-hard.txt")!.digest);
    });
  } finally {
    await reg.stop();
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("read: cat of a 1 MiB file transfers at most two spans, the file and the documents", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "soci-read-bound-" });
  const reg = await startRegistry();
  const proxy = startCountingProxy(reg.url);
  try {
    const span = 256 * 1024;
    const tree: TreeSpec[] = [];
    // ~24 MiB of text in 1 MiB-ish files; the 1 MiB file sits in the middle.
    for (let i = 0; i < 24; i++) {
      const size = i === 12 ? 1 << 20 : 1_000_000 + i * 997;
      tree.push({
        path: `f/${String(i).padStart(2, "0")}.txt`,
        kind: "file",
        data: text(size, 500 + i),
      });
    }
    const layer = await buildLayer(tree);
    const layout = await writeLayout(join(scratch, "big"), "v1", [layer]);
    await skopeoCopyToRegistry(layout.dir, "v1", `${reg.host}/big:v1`);
    const root = join(scratch, "builder");
    {
      using store = LocalStore.open(root);
      const src = await openImage(`docker://${reg.host}/big:v1`, { registry: plain });
      await createIndexes(src, store, { spanSize: span, minLayerSize: 0 });
      await src.close?.();
      const client = new RegistryClient(reg.host, { plainHttp: true });
      await pushIndexes(store, `${reg.host}/big:v1`, client, "big");
      client.close();
    }
    proxy.reset();
    const ref = `docker://${proxy.host}/big:v1`;
    const data = await bytesOf(await openFile(ref, "f/12.txt", { registry: plain }));
    assert.equal(sha256(data), sha256(tree[12].kind === "file" ? tree[12].data : new Uint8Array()));
    // What the documents weigh, as the registry serves them.
    const docs = proxy.requests.filter((r) =>
      !r.path.includes("/blobs/sha256:" + layer.digest.slice(7))
    );
    const layerBytes = proxy.total() - docs.reduce((n, r) => n + r.received, 0);
    const ztocReq = proxy.requests.find((r) => r.path.includes("/blobs/") && r.received > 100_000);
    assert.ok(ztocReq, "the zTOC was fetched");
    const documents = docs.reduce((n, r) => n + r.received, 0);
    const bound = 2 * span + (1 << 20) + documents;
    assert.ok(
      proxy.total() <= bound,
      `transferred ${proxy.total()} bytes (layer ${layerBytes}), bound ${bound}`,
    );
    // The layer itself is 24 MiB of text: nowhere near it was read.
    assert.ok(layerBytes < layer.size / 4, `${layerBytes} of ${layer.size}`);
    // Only ranged reads of the layer, no whole-blob GET.
    for (const r of proxy.requests) {
      if (r.path.includes(layer.digest.slice(7))) assert.ok(r.range, `unranged ${r.path}`);
    }
    // Each document is fetched once: manifest, config, fallback tag index, index, zTOC
    // (and the referrers API's 404).
    const paths = docs.map((r) => r.path);
    assert.equal(new Set(paths).size, paths.length, JSON.stringify(paths));
  } finally {
    await proxy.stop();
    await reg.stop();
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("read: a v2 image (index named by the manifest annotation), as a layout and in the registry", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "soci-read-v2-" });
  const reg = await startRegistry();
  try {
    const trees = standardTrees(1 << 20);
    const layers = [];
    for (const tr of trees) layers.push(await buildLayer(tr));
    const plainLayout = await writeLayout(join(scratch, "plain"), "v1", layers);
    // zTOCs built by the library into a store, then laid out as a v2 image (F§8).
    const root = join(scratch, "builder");
    using store = LocalStore.open(root);
    const made = await createIndexes(await openImage(`oci:${plainLayout.dir}:v1`), store, {
      spanSize: SPAN,
      minLayerSize: 0,
    });
    const v1doc = JSON.parse(
      new TextDecoder().decode(await store.readBlob(made.indexes[0].index.descriptor.digest)),
    );
    const dir = join(scratch, "v2");
    await Deno.mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    const put = async (bytes: Uint8Array) => {
      const d = sha256(bytes);
      await Deno.writeFile(join(dir, "blobs", "sha256", d.slice(7)), bytes);
      return { digest: d, size: bytes.length };
    };
    for (const l of layers) await put(l.bytes);
    for (const z of v1doc.layers) await put(await store.readBlob(z.digest));
    await put(new TextEncoder().encode("{}"));
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const v2doc = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { ...v1doc.config, mediaType: "application/vnd.amazon.soci.index.v2+json" },
      layers: v1doc.layers,
      annotations: v1doc.annotations,
    };
    const v2 = await put(enc(v2doc));
    const imageDoc = JSON.parse(new TextDecoder().decode(plainLayout.manifest.bytes));
    imageDoc.annotations = { "com.amazon.soci.index-digest": v2.digest };
    const manifest = await put(enc(imageDoc));
    await put(
      enc({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
        config: {},
      }),
    );
    const platform = { architecture: "amd64", os: "linux" };
    const indexDoc = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, ...manifest, annotations: imageDoc.annotations, platform },
        {
          mediaType: OCI_MANIFEST,
          ...v2,
          annotations: { "com.amazon.soci.image-manifest-digest": manifest.digest },
          platform,
          artifactType: "application/vnd.amazon.soci.index.v2+json",
        },
      ],
    };
    const index = await put(enc(indexDoc));
    await Deno.writeTextFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    await Deno.writeFile(
      join(dir, "index.json"),
      enc({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{
          mediaType: OCI_INDEX,
          ...index,
          annotations: { "org.opencontainers.image.ref.name": "v2" },
        }],
      }),
    );
    const oracle = await umociTree(plainLayout.dir, "v1");
    const check = async (files: ImageFiles) => {
      assert.equal(files.index?.via, "annotation");
      assert.equal(files.index?.version, "v2");
      assert.equal(files.index?.descriptor.digest, v2.digest);
      const list = await files.list();
      assert.deepEqual(list.map((f) => f.path), [...oracle.keys()].sort());
      for (const u of [...oracle.values()].filter((x: UnpackedEntry) => x.type === "reg")) {
        assert.equal(sha256(await bytesOf(await files.open(u.path))), u.digest, u.path);
      }
    };
    {
      await using files = await ImageFiles.open(`oci:${dir}:v2`, { platform });
      await check(files);
    }
    // verify accepts it: a v2 index without subject, named by the annotation.
    const report = await verifyImage(`oci:${dir}:v2`, { platform });
    assert.ok(report.ok, JSON.stringify([report.indexProblems, report.layers]));
    assert.equal(report.version, "v2");
    assert.equal(report.via, "annotation");
    // The same image in the registry.
    await pushIndexRaw(reg.url, "v2img", "v2", dir, index);
    {
      await using files = await ImageFiles.open(`docker://${reg.host}/v2img:v2`, {
        registry: plain,
        platform,
      });
      await check(files);
    }
  } finally {
    await reg.stop();
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("read: tar and zstd layers (with and without zTOCs) in an OCI layout", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "soci-read-kinds-" });
  try {
    const enc = new TextEncoder();
    const trees: TreeSpec[][] = [
      [{ path: "base/a.txt", kind: "file", data: text(400_000, 40) }],
      [
        { path: "tar/b.txt", kind: "file", data: text(300_000, 41) },
        { path: "base/.wh.a.txt", kind: "file", data: new Uint8Array(0) },
      ],
      [{ path: "zstd/c.txt", kind: "file", data: text(200_000, 42) }],
      [{ path: "small/d.txt", kind: "file", data: enc.encode("tiny\n") }],
    ];
    const gz = await buildLayer(trees[0]);
    const tar = await buildLayer(trees[1], false); // uncompressed, gets a tar zTOC
    const plainTar = await buildLayer(trees[2], false);
    const zst = await new Deno.Command("zstd", {
      args: ["-q", "-c", "-"],
      stdin: "piped",
      stdout: "piped",
    })
      .spawn();
    const w = zst.stdin.getWriter();
    await w.write(plainTar.bytes);
    await w.close();
    const zBytes = (await zst.output()).stdout;
    const zstdLayer = {
      ...plainTar,
      mediaType: "application/vnd.oci.image.layer.v1.tar+zstd",
      bytes: zBytes,
      digest: sha256(zBytes),
      size: zBytes.length,
    };
    const small = await buildLayer(trees[3], false); // below the minimum size: no zTOC
    const layout = await writeLayout(join(scratch, "l"), "v1", [gz, tar, zstdLayer, small]);
    const image = `oci:${layout.dir}:v1`;
    using store = LocalStore.open(join(scratch, "root"));
    await createIndexes(await openImage(image), store, { spanSize: SPAN, minLayerSize: 50_000 });
    await using files = await ImageFiles.open(image, { store });
    assert.deepEqual(files.layers.map((l) => l.ztoc !== undefined), [true, true, false, false]);
    const list = await files.list();
    assert.deepEqual(list.filter((f) => f.type === "reg").map((f) => [f.path, f.layer]), [
      ["small/d.txt", 3],
      ["tar/b.txt", 1],
      ["zstd/c.txt", 2],
    ]);
    const want: Array<[string, TreeSpec]> = [
      ["tar/b.txt", trees[1][0]],
      ["zstd/c.txt", trees[2][0]],
      ["small/d.txt", trees[3][0]],
    ];
    for (const [path, spec] of want) {
      const data = await bytesOf(await files.open(path));
      assert.equal(sha256(data), sha256((spec as { data: Uint8Array }).data), path);
    }
    await assert.rejects(files.open("base/a.txt"), NotFoundError);
    const report = await verifyImage(image, { store });
    assert.ok(report.ok, JSON.stringify(report.layers.map((l) => l.problems)));
    assert.deepEqual(report.layers.map((l) => l.status), ["ok", "ok", "no-ztoc", "no-ztoc"]);
    // An index of another image (the sample's) is refused by listFiles and openFile:
    // nothing of it would be used.
    const other = await createIndexes(
      await openImage(
        `oci:${new URL("../fixtures/sample-image", import.meta.url).pathname}:latest`,
      ),
      store,
      { minLayerSize: 0 },
    );
    const indexDigest = other.indexes[0].index.descriptor.digest;
    const notForIt = new RegExp(
      `^index ${indexDigest} is not for this image: none of its 2 zTOCs is for a layer of ` +
        `${files.manifest.descriptor.digest}$`,
    );
    const refused = (e: Error) => e instanceof BadInputError && notForIt.test(e.message);
    await assert.rejects(listFiles(image, { store, indexDigest }), refused);
    await assert.rejects(openFile(image, "tar/b.txt", { store, indexDigest }), refused);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("openFile: the image is closed once whether the stream is read, cancelled mid-way or cancelled unread", async () => {
  const proto = LayoutImageSource.prototype;
  const close = proto.close;
  let closes = 0;
  proto.close = function () {
    closes++;
    return close.call(this);
  };
  try {
    const ref = `oci:${new URL("../fixtures/sample-image", import.meta.url).pathname}:latest`;
    const ways: Record<string, (s: ReadableStream<Uint8Array>) => Promise<void>> = {
      "read": async (s) => void await new Response(s).bytes(),
      "cancelled after a chunk": async (s) => {
        const r = s.getReader();
        assert.equal((await r.read()).done, false);
        await r.cancel();
      },
      "cancelled unread": (s) => s.cancel(),
    };
    for (const [way, use] of Object.entries(ways)) {
      closes = 0;
      await use(await openFile(ref, "app/main.js"));
      assert.equal(closes, 1, way);
    }
  } finally {
    proto.close = close;
  }
});
