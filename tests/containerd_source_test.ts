/**
 * `ContainerdSource` against a real containerd 1.6: images imported with
 * `ctr images import` (single- and multi-platform) and pulled with `ctr
 * images pull` from the real registry must serve every blob byte-equal to
 * the OCI layout they came from (whole, streamed, chunked, ranged), and
 * give a SOCI index identical to the one built from the layout.
 */
import assert from "node:assert/strict";
import { ContainerdClient } from "../lib/containerd/client.ts";
import { contentStoreRoot } from "../lib/containerd/introspection.ts";
import { BadInputError, NotFoundError, SociError } from "../lib/errors.ts";
import { ContainerdSource } from "../lib/image/containerd_source.ts";
import { OciLayoutSource } from "../lib/image/oci_layout.ts";
import { imagePlatforms, selectManifest } from "../lib/image/select.ts";
import type { ImageSource } from "../lib/image/source.ts";
import type { Descriptor } from "../lib/oci/descriptor.ts";
import { index, layers, pipe, spans, ztoc } from "../lib/pipeline.ts";
import {
  ctrImport,
  ctrPull,
  ociArchive,
  startContainerd,
  type TestContainerd,
} from "./helpers/containerd.ts";
import { pythonLayout, readJson, run, withTempDir } from "./helpers/oci_fixtures.ts";
import { startRegistry } from "./helpers/registry.ts";
import { concat } from "./helpers/bytes.ts";

const REF_NAME = "org.opencontainers.image.ref.name";

/** The layout's index.json entry tagged `tag`. */
async function entry(layout: string, tag: string): Promise<Descriptor> {
  const manifests = (await readJson(`${layout}/index.json`)).manifests as Descriptor[];
  const found = manifests.find((d) => d.annotations?.[REF_NAME] === tag);
  assert.ok(found, `no ${tag} in ${layout}`);
  return found;
}

/** Every blob reachable from `desc` in the layout, read from its files (JSON walked by hand). */
async function reachable(layout: string, desc: Descriptor): Promise<Descriptor[]> {
  const out = new Map<string, Descriptor>();
  const walk = async (d: Descriptor) => {
    if (out.has(d.digest)) return;
    out.set(d.digest, { mediaType: d.mediaType, digest: d.digest, size: d.size });
    if (!/manifest|index/.test(d.mediaType)) return;
    const doc = JSON.parse(await Deno.readTextFile(blobPath(layout, d)));
    for (const child of [doc.config, ...(doc.layers ?? []), ...(doc.manifests ?? [])]) {
      if (child) await walk(child);
    }
  };
  await walk(desc);
  return [...out.values()];
}

function blobPath(layout: string, d: Descriptor): string {
  return `${layout}/blobs/sha256/${d.digest.slice("sha256:".length)}`;
}

/** The source serves every blob reachable from `target` exactly as the layout holds it. */
async function assertServesLayout(src: ImageSource, layout: string, target: Descriptor) {
  const blobs = await reachable(layout, target);
  assert.ok(blobs.length >= 3, `${blobs.length} blobs`);
  let bigSeen = false;
  for (const desc of blobs) {
    const want = await Deno.readFile(blobPath(layout, desc));
    assert.equal(want.length, desc.size);
    assert.deepEqual(await src.fetchBytes(desc), want, desc.digest);
    const streamed: Uint8Array[] = [];
    for await (const c of await src.openBlob(desc)) streamed.push(c);
    assert.deepEqual(concat(streamed), want);
    const chunks: Uint8Array[] = [];
    for await (const c of src.readChunks!(desc)) chunks.push(c.slice());
    assert.deepEqual(concat(chunks), want);
    for (const c of chunks) assert.ok(c.length > 0 && c.length <= 1 << 20, `chunk ${c.length}`);
    if (desc.size > 1 << 20) {
      bigSeen = true;
      assert.ok(chunks.length > 1);
    }
    const start = Math.floor(desc.size / 3);
    const end = Math.min(desc.size, start + 1_500_000);
    assert.deepEqual(await src.readRange!(desc, start, end), want.subarray(start, end));
    assert.deepEqual(await src.readRange!(desc, desc.size, desc.size), new Uint8Array(0));
  }
  assert.ok(bigSeen, "a blob larger than one gRPC message was read");
}

/** A layout with `single` (amd64), `amd`/`arm` and the index `multi` of both. */
async function makeLayout(layout: string): Promise<void> {
  await pythonLayout(layout, [
    { tag: "single", arch: "amd64", files: { "etc/single": "one\n" }, randomBytes: 2_500_000 },
    { tag: "amd", arch: "amd64", files: { "etc/amd": "amd\n" }, randomBytes: 1_200_000 },
    { tag: "arm", arch: "arm64", variant: "v8", files: { "etc/arm": "arm\n" } },
  ], [{ tag: "multi", of: ["amd", "arm"] }]);
}

async function withContainerd(fn: (c: TestContainerd) => Promise<void>): Promise<void> {
  const c = await startContainerd();
  try {
    await fn(c);
  } finally {
    await c.stop();
  }
}

Deno.test("ContainerdSource: images imported with ctr are served byte-equal", async () => {
  await withTempDir(async (dir) => {
    const layout = `${dir}/layout`;
    await makeLayout(layout);
    for (const tag of ["single", "multi"]) await ociArchive(layout, tag, `${dir}/${tag}.tar`);
    await withContainerd(async (c) => {
      for (const tag of ["single", "multi"]) {
        await ctrImport(c, `${dir}/${tag}.tar`, { baseName: "docker.io/library/app" });
      }
      assert.deepEqual(
        (await c.ctr(["images", "ls", "-q"])).trim().split("\n").sort(),
        ["docker.io/library/app:multi", "docker.io/library/app:single"],
      );

      // Single-platform, by its short name.
      const single = new ContainerdSource("containerd:app:single", { address: c.socket });
      try {
        assert.equal(single.storeName, "docker.io/library/app:single");
        const want = await entry(layout, "single");
        const target = await single.resolve();
        assert.deepEqual(target, {
          mediaType: want.mediaType,
          digest: want.digest,
          size: want.size,
        });
        assert.equal(single.record?.name, "docker.io/library/app:single");
        await assertServesLayout(single, layout, target);
      } finally {
        await single.close();
      }

      // Multi-platform index, by its full name and without the transport prefix.
      const multi = new ContainerdSource("docker.io/library/app:multi", { address: c.socket });
      try {
        const target = await multi.resolve();
        assert.equal(target.digest, (await entry(layout, "multi")).digest);
        assert.equal(target.mediaType, "application/vnd.oci.image.index.v1+json");
        await assertServesLayout(multi, layout, target);
        const platforms = await imagePlatforms(multi, target);
        assert.deepEqual(platforms.map((p) => `${p.os}/${p.architecture}/${p.variant ?? ""}`), [
          "linux/amd64/",
          "linux/arm64/v8",
        ]);
        const arm = await selectManifest(multi, target, { os: "linux", architecture: "arm64" });
        assert.equal(arm.descriptor.digest, (await entry(layout, "arm")).digest);
      } finally {
        await multi.close();
      }
    });
  });
});

Deno.test("ContainerdSource: the SOCI index built from containerd equals the one from the layout", async () => {
  await withTempDir(async (dir) => {
    const layout = `${dir}/layout`;
    await makeLayout(layout);
    await ociArchive(layout, "multi", `${dir}/multi.tar`);
    await withContainerd(async (c) => {
      await ctrImport(c, `${dir}/multi.tar`, { baseName: "docker.io/library/app" });
      const build = (src: ImageSource) =>
        pipe(
          src,
          layers({ minLayerSize: 0, platform: { os: "linux", architecture: "amd64" } }),
          spans({ spanSize: 1 << 18 }),
          ztoc(),
          index(),
        );
      const fromLayout = await build(OciLayoutSource.fromReference(`oci:${layout}:multi`));
      const src = new ContainerdSource("containerd:app:multi", { address: c.socket });
      try {
        const fromContainerd = await build(src);
        assert.deepEqual(fromContainerd.bytes, fromLayout.bytes);
        assert.equal(fromContainerd.manifest.layers.length, 1);
        assert.equal(
          fromContainerd.manifest.subject?.digest,
          (await entry(layout, "amd")).digest,
        );
      } finally {
        await src.close();
      }
    });
  });
});

Deno.test("ContainerdSource: images pulled from the registry with ctr", async () => {
  await withTempDir(async (dir) => {
    const layout = `${dir}/layout`;
    await makeLayout(layout);
    const reg = await startRegistry();
    try {
      for (const tag of ["single", "multi"]) {
        await run("skopeo", [
          "copy",
          "--quiet",
          "--all",
          "--preserve-digests",
          "--dest-tls-verify=false",
          `oci:${layout}:${tag}`,
          `docker://${reg.host}/team/app:${tag}`,
        ]);
      }
      await withContainerd(async (c) => {
        const client = new ContainerdClient({ address: c.socket, namespace: "pulled" });
        try {
          for (const tag of ["single", "multi"]) {
            await ctrPull(c, `${reg.host}/team/app:${tag}`, "pulled");
            const src = new ContainerdSource(`containerd:${reg.host}/team/app:${tag}`, { client });
            assert.equal(src.storeName, `${reg.host}/team/app:${tag}`);
            const target = await src.resolve();
            assert.equal(target.digest, (await entry(layout, tag)).digest);
            await assertServesLayout(src, layout, target);
            await src.close();
          }
          // The source did not own the client: it still works.
          assert.ok((await client.version()).version.length > 0);
        } finally {
          client.close();
        }
      });
    } finally {
      await reg.stop();
    }
  });
});

Deno.test("ContainerdSource: names as ctr import writes them, and errors", async () => {
  await withTempDir(async (dir) => {
    const layout = `${dir}/layout`;
    await makeLayout(layout);
    await ociArchive(layout, "single", `${dir}/single.tar`);
    await withContainerd(async (c) => {
      // Without --base-name, ctr names the image import-<date>:<tag>: found by its exact name.
      await ctrImport(c, `${dir}/single.tar`, { namespace: "imports" });
      const name = (await c.ctr(["images", "ls", "-q"], "imports")).trim();
      assert.match(name, /^import-\d{4}-\d{2}-\d{2}:single$/);
      const exact = new ContainerdSource(`containerd:${name}`, {
        address: c.socket,
        namespace: "imports",
      });
      assert.equal((await exact.resolve()).digest, (await entry(layout, "single")).digest);
      assert.equal(exact.storeName, name);
      const target = await exact.resolve();

      // Missing blob, wrong descriptors, bad ranges.
      const missing = {
        mediaType: "application/octet-stream",
        digest: `sha256:${"ab".repeat(32)}`,
        size: 5,
      };
      const notFound = `blob ${missing.digest} not found in containerd namespace imports`;
      await assert.rejects(
        exact.fetchBytes(missing),
        (e: Error) => e instanceof NotFoundError && e.message === notFound,
      );
      await assert.rejects(
        exact.openBlob(missing),
        (e: Error) => e instanceof NotFoundError && e.message === notFound,
      );
      await assert.rejects(async () => {
        for await (const _ of exact.readChunks(missing)) { /* nothing */ }
      }, NotFoundError);
      await assert.rejects(exact.readRange(missing, 0, 2), NotFoundError);
      await assert.rejects(
        exact.fetchBytes({ ...target, size: target.size - 1 }),
        (e: Error) =>
          e instanceof BadInputError &&
          e.message.startsWith(
            `containerd blob does not match its descriptor: expected ${target.digest} (${
              target.size - 1
            } bytes), got `,
          ),
      );
      await assert.rejects(
        exact.fetchBytes({ ...target, size: target.size + 7 }),
        /does not match its descriptor: .* \(\d+ bytes\)$/,
      );
      await assert.rejects(exact.readRange(target, 0, target.size + 1), /beyond the end of blob/);
      await assert.rejects(exact.readRange(target, 5, 4), /invalid range \[5, 4\)/);
      // A descriptor that claims more bytes than the blob has.
      await assert.rejects(
        exact.readRange({ ...target, size: target.size + 10 }, target.size - 2, target.size + 5),
        (e: Error) =>
          e instanceof BadInputError && /beyond the end of blob .* in containerd/.test(e.message),
      );
      await exact.close();

      // A missing image, in an existing namespace and in a missing one.
      const nope = new ContainerdSource("containerd:nope:1", {
        address: c.socket,
        namespace: "imports",
      });
      await assert.rejects(
        nope.resolve(),
        (e: Error) =>
          e instanceof NotFoundError &&
          e.message ===
            `image "docker.io/library/nope:1": not found in containerd namespace imports`,
      );
      await nope.close();
      const noNs = new ContainerdSource("app:single", {
        address: c.socket,
        namespace: "soci-none",
      });
      await assert.rejects(
        noNs.resolve(),
        (e: Error) =>
          e instanceof NotFoundError &&
          e.message ===
            "containerd namespace soci-none does not exist (set --namespace or CONTAINERD_NAMESPACE)",
      );
      await noNs.close();
    });
  });
  const noSocket = new ContainerdSource("containerd:app:1", { address: "/nonexistent/c.sock" });
  await assert.rejects(
    noSocket.resolve(),
    (e: Error) =>
      e instanceof SociError &&
      e.message ===
        "containerd socket /nonexistent/c.sock does not exist: is containerd running? (set --address or CONTAINERD_ADDRESS)",
  );
  await noSocket.close();
  assert.throws(() => new ContainerdSource("containerd:"), /missing image name in containerd:/);
});

Deno.test("ContainerdSource: direct reads of the content store's files, still per namespace", async () => {
  await withTempDir(async (dir) => {
    const layout = `${dir}/layout`;
    await makeLayout(layout);
    await ociArchive(layout, "single", `${dir}/single.tar`);
    await withContainerd(async (c) => {
      await ctrImport(c, `${dir}/single.tar`, { baseName: "docker.io/library/app" });
      await c.ctr(["namespaces", "create", "empty"]);
      const client = new ContainerdClient({ address: c.socket });
      try {
        const root = `${c.root}/io.containerd.content.v1.content`;
        assert.equal(await contentStoreRoot(client), root);
        const src = new ContainerdSource("app:single", { client, directRead: true });
        const target = await src.resolve();
        await assertServesLayout(src, layout, target);
        // The layer (2.5 MB) comes from its file through one reused buffer.
        const manifest = JSON.parse(new TextDecoder().decode(await src.fetchBytes(target)));
        const layer: Descriptor = manifest.layers[0];
        const buffers = new Set<ArrayBufferLike>();
        let n = 0;
        for await (const c of src.readChunks(layer)) {
          buffers.add(c.buffer);
          n += c.length;
        }
        assert.equal(n, layer.size);
        assert.equal(buffers.size, 1);
        // The same blob through gRPC: a buffer per message.
        const grpc = new ContainerdSource("app:single", { client });
        buffers.clear();
        for await (const c of grpc.readChunks(layer)) buffers.add(c.buffer);
        assert.ok(buffers.size > 1);
        // A namespace that does not hold the blob does not see the file either.
        const other = new ContainerdSource("app:single", {
          client: client.withNamespace("empty"),
          directRead: root,
        });
        await assert.rejects(async () => {
          for await (const _ of other.readChunks(layer)) { /* nothing */ }
        }, (e: Error) => e instanceof NotFoundError && /namespace empty$/.test(e.message));
        // A folder without the blob files: read over gRPC instead.
        const elsewhere = new ContainerdSource("app:single", { client, directRead: dir });
        const chunks: Uint8Array[] = [];
        for await (const c of elsewhere.readChunks(layer)) chunks.push(c);
        assert.deepEqual(concat(chunks), await Deno.readFile(blobPath(layout, layer)));
      } finally {
        client.close();
      }
    });
  });
});
