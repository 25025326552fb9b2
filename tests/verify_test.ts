// `verify` (library): it passes on the indexes `create` builds (gzip and
// tar layers, several gzip members, PAX headers and long names, small and
// default span sizes) and fails, naming the layer and the span, checkpoint
// or entry, on indexes damaged one way each: a checkpoint window, a span
// digest, a TOC offset, a zTOC of another layer, a zTOC that does not
// load, and index JSON that is not Go's. A layer that cannot be checked (its
// blob corrupted or missing, its zTOC missing or damaged in the store) fails
// alone while the others are checked, and nothing is written. Images are OCI
// layouts made with GNU tar and gzip; damaged artifacts are written into the
// store's blob folder and named with `indexDigest`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { createIndexes } from "../lib/use_cases/create.ts";
import { verifyImage, type VerifyReport } from "../lib/use_cases/verify.ts";
import { openImage } from "../lib/image/open.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { decodeZtoc, encodeZtoc } from "../lib/ztoc/codec.ts";
import { decodeGzipZinfo, encodeGzipZinfo } from "../lib/gzip/zinfo.ts";
import { decodeManifest } from "../lib/oci/json_decode.ts";
import { encodeManifest } from "../lib/oci/json_encode.ts";
import type { Descriptor, ImageManifest } from "../lib/oci/descriptor.ts";
import { sha256 } from "./helpers/bytes.ts";
import { snapshotTree } from "./helpers/store_tree.ts";
import {
  buildLayer,
  type BuiltLayer,
  gzipBytes,
  OCI_GZIP,
  standardTrees,
  text,
  writeLayout,
} from "./helpers/read_images.ts";

const SPAN = 64 * 1024;

interface Fixture {
  root: string;
  store: LocalStore;
  image: string;
  index: ImageManifest;
  layers: BuiltLayer[];
}

/** Builds a layout from trees, indexes it into a fresh store. */
async function fixture(
  dir: string,
  layers: BuiltLayer[],
  spanSize = SPAN,
): Promise<Fixture> {
  const layout = await writeLayout(join(dir, "layout"), "v1", layers);
  const root = join(dir, "root");
  const store = LocalStore.open(root);
  const image = `oci:${layout.dir}:v1`;
  const made = await createIndexes(await openImage(image), store, { spanSize, minLayerSize: 0 });
  const index = decodeManifest(await store.readBlob(made.indexes[0].index.descriptor.digest));
  return { root, store, image, index, layers };
}

/** Writes a blob straight into the store's blob folder; returns its descriptor. */
async function plant(store: LocalStore, bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
  const digest = sha256(bytes);
  await Deno.writeFile(store.blobPath(digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

/** A copy of the fixture's index with `layers` replaced, planted; returns its digest. */
async function plantIndex(f: Fixture, layers: Descriptor[]): Promise<string> {
  const doc: ImageManifest = { ...f.index, layers };
  return (await plant(f.store, encodeManifest(doc), doc.mediaType!)).digest;
}

/** The index with the zTOC of layer `k` replaced by `bytes`. */
async function withZtoc(f: Fixture, k: number, bytes: Uint8Array): Promise<string> {
  const z = await plant(f.store, bytes, "application/octet-stream");
  const layers = f.index.layers.map((d, i) =>
    i === k ? { ...d, digest: z.digest, size: z.size } : d
  );
  return await plantIndex(f, layers);
}

async function ztocOf(f: Fixture, k: number) {
  return decodeZtoc(await f.store.readBlob(f.index.layers[k].digest));
}

function problemsOf(r: VerifyReport, k: number): string {
  return r.layers[k].problems.join("\n");
}

function assertOnlyLayerFails(r: VerifyReport, k: number): void {
  assert.equal(r.ok, false);
  assert.deepEqual(r.indexProblems, []);
  r.layers.forEach((l, i) => assert.equal(l.status, i === k ? "failed" : "ok", `layer ${i}`));
}

Deno.test("verify: passes on the indexes create builds", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "soci-verify-ok-" });
  try {
    const trees = standardTrees(2 << 20);
    const gz: BuiltLayer[] = [];
    for (const tr of trees) gz.push(await buildLayer(tr));

    await t.step("gzip layers, 64 KiB spans", async () => {
      const f = await fixture(join(dir, "a"), gz);
      try {
        const r = await verifyImage(f.image, { store: f.store });
        assert.ok(r.ok, JSON.stringify(r, null, 1));
        assert.equal(r.via, "store");
        assert.ok(r.layers[0].spans > 5 && r.layers[0].checkpoints === r.layers[0].spans);
        assert.ok(r.layers.every((l) => l.status === "ok" && l.entries > 0));
      } finally {
        f.store.close();
      }
    });

    await t.step("the default 4 MiB span size (one span per layer here)", async () => {
      const f = await fixture(join(dir, "b"), gz, 4 << 20);
      try {
        const r = await verifyImage(f.image, { store: f.store });
        assert.ok(r.ok, JSON.stringify(r.layers.map((l) => l.problems)));
      } finally {
        f.store.close();
      }
    });

    await t.step("uncompressed tar layers", async () => {
      const tar: BuiltLayer[] = [];
      for (const tr of trees.slice(0, 2)) tar.push(await buildLayer(tr, false));
      const f = await fixture(join(dir, "c"), tar);
      try {
        const r = await verifyImage(f.image, { store: f.store });
        assert.ok(r.ok, JSON.stringify(r.layers.map((l) => l.problems)));
        assert.ok(r.layers[0].spans > 10);
        assert.equal(r.layers[0].checkpoints, 0);
      } finally {
        f.store.close();
      }
    });

    await t.step("a layer of two gzip members", async () => {
      const tar = await buildLayer(trees[0], false);
      const cut = Math.floor(tar.bytes.length / 1024) * 512; // a block boundary mid-way
      const bytes = new Uint8Array([
        ...await gzipBytes(tar.bytes.subarray(0, cut)),
        ...await gzipBytes(tar.bytes.subarray(cut)),
      ]);
      const layer: BuiltLayer = {
        ...tar,
        mediaType: OCI_GZIP,
        bytes,
        digest: sha256(bytes),
        size: bytes.length,
      };
      const f = await fixture(join(dir, "d"), [layer]);
      try {
        const r = await verifyImage(f.image, { store: f.store });
        assert.ok(r.ok, JSON.stringify(r.layers.map((l) => l.problems)));
      } finally {
        f.store.close();
      }
    });

    await t.step("PAX headers and long names (tar --format=posix)", async () => {
      const src = join(dir, "pax-src");
      const long = "d/" + "n".repeat(150) + ".txt";
      await Deno.mkdir(join(src, "d"), { recursive: true });
      await Deno.writeFile(join(src, long), text(300_000, 9));
      await Deno.writeFile(join(src, "d", "é-ünïcode.txt"), text(200_000, 10));
      const tar = await new Deno.Command("tar", {
        args: ["--format=posix", "--sort=name", "-C", src, "-cf", "-", "."],
        stdout: "piped",
      }).output();
      const bytes = await gzipBytes(tar.stdout);
      const layer: BuiltLayer = {
        mediaType: OCI_GZIP,
        digest: sha256(bytes),
        size: bytes.length,
        bytes,
        diffId: sha256(tar.stdout),
        tarSize: tar.stdout.length,
      };
      const f = await fixture(join(dir, "e"), [layer]);
      try {
        const r = await verifyImage(f.image, { store: f.store });
        assert.ok(r.ok, JSON.stringify(r.layers.map((l) => l.problems)));
      } finally {
        f.store.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("verify: fails on damaged indexes, naming the layer and what is wrong", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "soci-verify-bad-" });
  const layers: BuiltLayer[] = [];
  for (const tr of standardTrees(2 << 20).slice(0, 2)) layers.push(await buildLayer(tr));
  const f = await fixture(dir, layers);
  const verify = (indexDigest: string) => verifyImage(f.image, { store: f.store, indexDigest });
  try {
    await t.step("the untouched index passes, named explicitly too", async () => {
      const digest = await plantIndex(f, f.index.layers);
      const r = await verify(digest);
      assert.ok(r.ok);
      assert.equal(r.via, "explicit");
    });

    await t.step("a damaged checkpoint window", async () => {
      const z = await ztocOf(f, 0);
      const zinfo = decodeGzipZinfo(z.checkpoints);
      const k = 3;
      assert.ok(zinfo.checkpoints.length > k + 1);
      const window = zinfo.checkpoints[k].window.slice();
      window[window.length - 100] ^= 0x55;
      const checkpoints = zinfo.checkpoints.map((c, i) => i === k ? { ...c, window } : c);
      const bad = encodeZtoc({ ...z, checkpoints: encodeGzipZinfo(zinfo.spanSize, checkpoints) });
      const r = await verify(await withZtoc(f, 0, bad));
      assertOnlyLayerFails(r, 0);
      const out = zinfo.checkpoints[k].out;
      assert.match(
        problemsOf(r, 0),
        new RegExp(
          `checkpoint ${k} \\(span ${k}, offset ${out}\\): its window differs .* at offset ${
            out - 100
          }`,
        ),
      );
    });

    await t.step("a checkpoint that does not resume to the layer's bytes", async () => {
      // Checkpoint k claims to start one byte later than it does; its window
      // is made right for that claim, so only resuming shows the lie.
      const z = await ztocOf(f, 0);
      const zinfo = decodeGzipZinfo(z.checkpoints);
      const k = 2;
      const tar = gunzipSync(f.layers[0].bytes);
      const out = zinfo.checkpoints[k].out + 1;
      const window = tar.slice(out - 32768, out);
      const checkpoints = zinfo.checkpoints.map((c, i) => i === k ? { ...c, out, window } : c);
      const bad = encodeZtoc({ ...z, checkpoints: encodeGzipZinfo(zinfo.spanSize, checkpoints) });
      const r = await verify(await withZtoc(f, 0, bad));
      assertOnlyLayerFails(r, 0);
      assert.equal(r.layers[0].problems.length, 1, problemsOf(r, 0));
      assert.match(
        problemsOf(r, 0),
        new RegExp(
          `^checkpoint ${k} \\(span ${k}, offset ${out}\\): resuming gives different bytes`,
        ),
      );
    });

    await t.step("a wrong span digest", async () => {
      const z = await ztocOf(f, 1);
      const j = 1;
      const spanDigests = z.spanDigests.map((d, i) => i === j ? sha256(new Uint8Array([1])) : d);
      const r = await verify(await withZtoc(f, 1, encodeZtoc({ ...z, spanDigests })));
      assertOnlyLayerFails(r, 1);
      assert.match(
        problemsOf(r, 1),
        new RegExp(`^span ${j} \\(bytes \\d+–\\d+\\): digest sha256:`, "m"),
      );
      assert.equal(r.layers[1].problems.length, 1, problemsOf(r, 1));
    });

    await t.step("a TOC entry with a wrong offset", async () => {
      const z = await ztocOf(f, 0);
      const i = z.toc.findIndex((m) => m.type === "reg" && m.uncompressedSize > 1000);
      const toc = z.toc.map((m, n) =>
        n === i ? { ...m, uncompressedOffset: m.uncompressedOffset + 512 } : m
      );
      const r = await verify(await withZtoc(f, 0, encodeZtoc({ ...z, toc })));
      assertOnlyLayerFails(r, 0);
      const name = new TextDecoder().decode(z.toc[i].name);
      assert.match(
        problemsOf(r, 0),
        new RegExp(
          `TOC entry ${i} "${name.replace(/[.]/g, "\\.")}": uncompressed_offset is ${
            z.toc[i].uncompressedOffset + 512
          }, the layer has ${z.toc[i].uncompressedOffset}`,
        ),
      );
    });

    await t.step("a zTOC of another layer", async () => {
      const other = f.index.layers[1];
      const ls = f.index.layers.map((d, i) =>
        i === 0 ? { ...d, digest: other.digest, size: other.size } : d
      );
      const r = await verify(await plantIndex(f, ls));
      assertOnlyLayerFails(r, 0);
      const p = problemsOf(r, 0);
      assert.match(
        p,
        /the zTOC is for a layer of \d+ bytes, this layer has \d+ \(a zTOC of another layer\?\)/,
      );
      assert.match(p, /^span 0 \(bytes/m);
    });

    await t.step("a zTOC that does not load", async () => {
      const r = await verify(await withZtoc(f, 1, new TextEncoder().encode("not a flatbuffer")));
      assertOnlyLayerFails(r, 1);
      assert.match(problemsOf(r, 1), /^the zTOC does not load/);
    });

    await t.step("index JSON that is not what Go writes", async () => {
      const canonical = new TextDecoder().decode(encodeManifest(f.index));
      const variants = [
        canonical.replace(",", ", "), // a space
        canonical + "\n", // a trailing newline
        canonical.replace('{"schemaVersion":2,"mediaType":', '{"mediaType":').replace(
          '"application/vnd.oci.image.manifest.v1+json",',
          '"application/vnd.oci.image.manifest.v1+json","schemaVersion":2,',
        ), // members out of order
      ];
      for (const v of variants) {
        assert.notEqual(v, canonical);
        const d = await plant(f.store, new TextEncoder().encode(v), "x");
        const r = await verify(d.digest);
        assert.equal(r.ok, false);
        assert.match(r.indexProblems.join("\n"), /not what Go's encoder writes/);
        assert.ok(r.layers.every((l) => l.status === "ok"));
      }
    });

    await t.step("an index whose subject is another manifest", async () => {
      const doc = {
        ...f.index,
        subject: { ...f.index.subject!, digest: sha256(new Uint8Array([2])) },
      };
      const d = await plant(f.store, encodeManifest(doc), "x");
      const r = await verify(d.digest);
      assert.equal(r.ok, false);
      assert.match(r.indexProblems.join("\n"), /its subject is sha256:\w+, not the image manifest/);
    });
  } finally {
    f.store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("verify: a layer that cannot be checked fails alone; the others are checked", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "soci-verify-unreadable-" });
  const layers: BuiltLayer[] = [];
  for (const tr of standardTrees(2 << 20).slice(0, 2)) layers.push(await buildLayer(tr));
  const f = await fixture(dir, layers);
  const layoutBlob = (k: number) =>
    join(dir, "layout", "blobs", "sha256", layers[k].digest.slice(7));
  const ztocBlob = (k: number) => f.store.blobPath(f.index.layers[k].digest);
  const before = await snapshotTree(dir);
  /** Runs `body` with `path` moved away (or its bytes damaged), then puts it back. */
  const without = async (path: string, body: () => Promise<void>) => {
    await Deno.rename(path, path + ".away");
    try {
      await body();
    } finally {
      await Deno.rename(path + ".away", path);
    }
  };
  const damaged = async (path: string, body: () => Promise<void>) => {
    const bytes = await Deno.readFile(path);
    const bad = bytes.slice();
    for (let i = 1000; i < 1010; i++) bad[i] ^= 0xff;
    await Deno.writeFile(path, bad);
    try {
      await body();
    } finally {
      await Deno.writeFile(path, bytes);
    }
  };
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  try {
    await t.step("a layer blob with bytes flipped (same size)", async () => {
      await damaged(layoutBlob(0), async () => {
        const r = await verifyImage(f.image, { store: f.store });
        assertOnlyLayerFails(r, 0);
        assert.deepEqual(r.layers.map((l) => l.index), [0, 1]);
        assert.equal(r.layers[0].problems.length, 1, problemsOf(r, 0));
        assert.match(
          problemsOf(r, 0),
          new RegExp(
            `^layer ${layers[0].digest} was served with digest sha256:[0-9a-f]{64} ` +
              `\\(${layers[0].size} bytes\\): cannot check it$`,
          ),
        );
        assert.equal(r.layers[0].ztoc?.digest, f.index.layers[0].digest);
        assert.ok(r.layers[1].spans > 0 && r.layers[1].entries > 0);
      });
    });

    await t.step("a layer blob that is missing (one layer at a time)", async () => {
      await without(layoutBlob(0), async () => {
        const r = await verifyImage(f.image, { store: f.store, concurrency: 1 });
        assertOnlyLayerFails(r, 0);
        assert.equal(r.layers[0].problems.length, 1, problemsOf(r, 0));
        assert.match(
          problemsOf(r, 0),
          new RegExp(`^the layer cannot be read: .*blob ${esc(layers[0].digest)} not found$`),
        );
        assert.equal(r.layers[0].spans, 0);
      });
    });

    await t.step("the top layer's blob missing", async () => {
      await without(layoutBlob(1), async () => {
        const r = await verifyImage(f.image, { store: f.store });
        assertOnlyLayerFails(r, 1);
        assert.match(problemsOf(r, 1), new RegExp(`blob ${esc(layers[1].digest)} not found$`));
      });
    });

    await t.step("a zTOC missing from the store", async () => {
      await without(ztocBlob(0), async () => {
        const reports: number[] = [];
        const r = await verifyImage(f.image, {
          store: f.store,
          onLayer: (l) => reports.push(l.index),
        });
        assert.deepEqual(reports, [0, 1]);
        assertOnlyLayerFails(r, 0);
        assert.match(
          problemsOf(r, 0),
          new RegExp(
            `^the zTOC cannot be read: .*blob ${esc(f.index.layers[0].digest)} not found$`,
          ),
        );
      });
    });

    await t.step("a zTOC damaged in the store", async () => {
      await damaged(ztocBlob(1), async () => {
        const r = await verifyImage(f.image, { store: f.store });
        assertOnlyLayerFails(r, 1);
        assert.match(
          problemsOf(r, 1),
          new RegExp(
            `^the zTOC cannot be read: stored blob ${
              esc(f.index.layers[1].digest)
            } has digest sha256:[0-9a-f]{64}$`,
          ),
        );
      });
    });

    await t.step("every layer unreadable: each fails, none stops the others", async () => {
      await without(layoutBlob(0), async () => {
        await without(ztocBlob(1), async () => {
          const r = await verifyImage(f.image, { store: f.store });
          assert.equal(r.ok, false);
          assert.deepEqual(r.layers.map((l) => l.status), ["failed", "failed"]);
          assert.match(problemsOf(r, 0), /^the layer cannot be read: /);
          assert.match(problemsOf(r, 1), /^the zTOC cannot be read: /);
        });
      });
    });

    await t.step("an abort still stops the whole check", async () => {
      await assert.rejects(
        verifyImage(f.image, { store: f.store, signal: AbortSignal.abort() }),
      );
    });

    await t.step("the sound image passes again, and verify wrote nothing", async () => {
      const r = await verifyImage(f.image, { store: f.store });
      assert.ok(r.ok, JSON.stringify(r.layers.map((l) => l.problems)));
      assert.deepEqual(await snapshotTree(dir), before);
    });
  } finally {
    f.store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
