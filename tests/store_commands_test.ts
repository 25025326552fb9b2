// End-to-end tests of the local-store commands after real `soci create` runs (C§8, C§9,
// C§11.3 items 15–20): `index list|info|rm` and `ztoc list|info|get-file`, run as processes.
// Expected values come from the stored blobs read with sha256sum, JSON.parse, flatc and
// Python (tarfile, json), and from the bytes the test images were built from.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dbRows,
  e2eImages,
  goTable,
  hostPlatform,
  lines,
  MT,
  parseJson,
  pyTarMembers,
  python,
  sha256sum,
  sha256sumOf,
  soci,
  sociOk,
  storeBlob,
  storedZtocs,
  tempDir,
  toolOk,
  treeListing,
  withRoot,
  ztocOf,
} from "./helpers/create_e2e_images.ts";
import { parseZinfoBlob } from "./helpers/ztoc_e2e_tools.ts";
import { skopeoCopyToRegistry, startRegistry } from "./helpers/registry.ts";
import { canLockPaths, lockPath } from "./helpers/store_tree.ts";
import { concat } from "./helpers/bytes.ts";
import { createContext } from "../lib/commands/command.ts";
import { openingRangeReader } from "../lib/use_cases/layer_reader.ts";
import { openStore } from "../lib/commands/open_store.ts";
import { ztocRecord } from "../lib/store/artifact_record.ts";
import { MemoryOutput } from "../lib/ui/output.ts";
import { decodeZtoc, encodeZtoc } from "../lib/ztoc/codec.ts";

const IMG = await e2eImages();
const L = IMG.layout;
const HOST = hostPlatform();
const SPAN = 4194304;
const DEC = new TextDecoder();

interface IndexJson {
  digest: string;
  size: number;
  manifestDigest: string;
  imageDigest: string;
  platform: string;
  artifactType: string;
  createdAt: string;
}

interface ZtocJson {
  digest: string;
  size: number;
  layerDigest: string;
  spanSize: number;
}

/**
 * One root for the read-only tests, built once: five `create` runs, in this
 * order (so creation times differ): app, docker (span 65536), multi (all
 * platforms), sibling (span 65536, shares a layer with multi), app again with
 * span 65536.
 */
const started = new Date();
const FIX = await (async () => {
  const dir = await tempDir("soci-store-cmds-");
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  const root = join(dir, "root");
  const run = async (args: string[]) =>
    (await sociOk(root, ["create", "-q", "--min-layer-size", "0", ...args])).stdout.trim()
      .split("\n");
  const [app] = await run([`oci:${L}:app`]);
  const [docker] = await run(["--span-size", "65536", `oci:${L}:docker`]);
  const [amd, arm] = await run(["--all-platforms", `oci:${L}:multi`]);
  const [sibling] = await run(["--span-size", "65536", `oci:${L}:sibling`]);
  const [app64] = await run(["--span-size", "65536", `oci:${L}:app`]);
  return { dir, root, idx: { app, docker, amd, arm, sibling, app64 } };
})();
const ROOT = FIX.root;

/** A copy of the fixture root for a test that changes it. */
async function withCopy(fn: (root: string) => Promise<void>): Promise<void> {
  const dir = await tempDir("soci-store-copy-");
  try {
    const root = join(dir, "root");
    await toolOk("cp", ["-a", ROOT, root]);
    await fn(root);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A stored SOCI index, parsed. */
async function storedIndex(root: string, digest: string) {
  return JSON.parse(await Deno.readTextFile(storeBlob(root, digest))) as {
    subject: { digest: string };
    layers: Array<{ digest: string; size: number; annotations: Record<string, string> }>;
  };
}

/** What the tree (DB files and their bytes included) and the DB rows look like. */
async function rootState(root: string) {
  return { tree: await treeListing(root), rows: await dbRows(root) };
}

/** Runs a command that must fail with exactly one stderr line, and returns that line. */
async function failLine(root: string, args: string[]): Promise<string> {
  const r = await soci(root, args);
  assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}`);
  const err = lines(r.stderr);
  assert.equal(err.length, 1, r.stderr);
  return err[0];
}

Deno.test("index list: newest first, --json members from the stored blobs, table, -q", async () => {
  const { idx } = FIX;
  const r = await sociOk(ROOT, ["index", "list", "--json"]);
  const list = parseJson<IndexJson[]>(r.stdout);
  const multiTarget = await sha256sum(IMG.blobPath(IMG.multi.index.digest));
  const expect = async (digest: string, imageDigest: string, platform: string) => {
    const path = storeBlob(ROOT, digest);
    return {
      digest: await sha256sum(path),
      size: (await Deno.stat(path)).size,
      manifestDigest: (await storedIndex(ROOT, digest)).subject.digest,
      imageDigest,
      platform,
      artifactType: MT.sociV1,
    };
  };
  const app = IMG.app.manifest.digest;
  const expected = {
    [idx.app64]: await expect(idx.app64, app, HOST),
    [idx.sibling]: await expect(idx.sibling, IMG.sibling.manifest.digest, HOST),
    [idx.amd]: await expect(idx.amd, multiTarget, "linux/amd64"),
    [idx.arm]: await expect(idx.arm, multiTarget, "linux/arm64/v8"),
    [idx.docker]: await expect(idx.docker, IMG.docker.manifest.digest, HOST),
    [idx.app]: await expect(idx.app, app, HOST),
  };
  assert.equal(expected[idx.amd].manifestDigest, IMG.multi.amd64.manifest.digest);
  assert.equal(expected[idx.arm].manifestDigest, IMG.multi.arm64.manifest.digest);
  assert.equal(list.length, 6);
  for (const e of list) {
    const { createdAt, ...rest } = e;
    assert.deepEqual(
      Object.fromEntries(Object.entries(rest).filter(([k]) => k in expected[e.digest])),
      expected[e.digest],
    );
    const t = Date.parse(createdAt);
    assert.ok(t >= started.getTime() - 1000 && t <= Date.now(), createdAt);
  }
  // Newest first: the runs' order, the two multi indexes (one run) next to each other.
  const order = list.map((e) => e.digest);
  assert.deepEqual(order.slice(0, 2), [idx.app64, idx.sibling]);
  assert.deepEqual(order.slice(2, 4).sort(), [idx.amd, idx.arm].sort());
  assert.deepEqual(order.slice(4), [idx.docker, idx.app]);
  const times = list.map((e) => Date.parse(e.createdAt));
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1] >= times[i]);

  const q = await sociOk(ROOT, ["index", "list", "-q"]);
  assert.equal(q.stdout, order.map((d) => d + "\n").join(""));

  // The table (C§8.1): one row per index and image name; CREATED is "<duration> ago".
  const table = await sociOk(ROOT, ["index", "ls"]);
  const created = lines(table.stdout).slice(1).map((l) => l.trimEnd().split(/ {2,}/).pop()!);
  for (const c of created) assert.match(c, /^(\d+h)?(\d+m)?\d+s ago$/);
  const names: Record<string, string> = {
    [idx.app64]: "app",
    [idx.sibling]: "sibling",
    [idx.amd]: "multi",
    [idx.arm]: "multi",
    [idx.docker]: "docker",
    [idx.app]: "app",
  };
  assert.equal(
    table.stdout,
    goTable([
      ["DIGEST", "SIZE", "IMAGE REF", "PLATFORM", "MEDIA TYPE", "MANIFEST VERSION", "CREATED"],
      ...list.map((e, i) => [
        e.digest,
        String(expected[e.digest].size),
        names[e.digest],
        expected[e.digest].platform,
        MT.ociManifest,
        "v1",
        created[i],
      ]),
    ]),
  );
});

Deno.test("index list: --ref, --ref with --platform, --platform alone (exact string), errors", async () => {
  const { idx } = FIX;
  const q = async (args: string[]) =>
    lines((await sociOk(ROOT, ["index", "list", "-q", ...args])).stdout);
  assert.deepEqual(await q(["--ref", "app"]), [idx.app64, idx.app]);
  assert.deepEqual(await q(["--ref", "docker"]), [idx.docker]);
  assert.deepEqual((await q(["--ref", "multi"])).sort(), [idx.amd, idx.arm].sort());
  assert.deepEqual(await q(["--ref", "multi", "--platform", "linux/arm64"]), [idx.arm]);
  assert.deepEqual(await q(["--ref", "multi", "-p", "linux/amd64"]), [idx.amd]);
  assert.deepEqual(await q(["--platform", "linux/arm64/v8"]), [idx.arm]);
  assert.deepEqual(await q(["--platform", "linux/arm64"]), []);
  if (HOST === "linux/amd64") {
    assert.deepEqual(await q(["--platform", "linux/amd64"]), [
      idx.app64,
      idx.sibling,
      idx.amd,
      idx.docker,
      idx.app,
    ]);
  }
  const json = parseJson<IndexJson[]>(
    (await sociOk(ROOT, ["index", "list", "--json", "--ref", "sibling"])).stdout,
  );
  assert.deepEqual(json.map((e) => e.digest), [idx.sibling]);
  const missing = await failLine(ROOT, ["index", "list", "--ref", "nope"]);
  assert.match(missing, /^soci: .*nope.*not found/);
  const noPlatform = await failLine(ROOT, [
    "index",
    "list",
    "--ref",
    "multi",
    "-p",
    "linux/s390x",
  ]);
  assert.equal(noPlatform, "soci: image manifest for platform linux/s390x: not found");
});

Deno.test("index info: the stored index re-indented like Go json.Indent; zTOC and bad digests fail (C§8.2)", async () => {
  const { idx } = FIX;
  for (const d of Object.values(idx)) {
    const r = await sociOk(ROOT, ["index", "info", d]);
    const expected = await python(
      String.raw`
import json, sys
with open(sys.argv[1], "rb") as f:
    print(json.dumps(json.dumps(json.loads(f.read()), indent=2) + "\n"))
`,
      storeBlob(ROOT, d),
    );
    assert.equal(r.stdout, expected);
  }
  const ztoc = (await storedIndex(ROOT, idx.app)).layers[0].digest;
  assert.equal(
    await failLine(ROOT, ["index", "info", ztoc]),
    'soci: the provided digest is of ztoc not SOCI index. Use "soci ztoc info" command to get ' +
      "detailed info of ztoc",
  );
  assert.equal(
    await failLine(ROOT, ["index", "info", "hello"]),
    "soci: invalid checksum digest format",
  );
  assert.equal(
    await failLine(ROOT, ["index", "info", "sha256:hello"]),
    "soci: invalid checksum digest length",
  );
  const unknown = "sha256:" + "0".repeat(64);
  assert.equal(
    await failLine(ROOT, ["index", "info", unknown]),
    `soci: couldn't retrieve artifact for ${unknown}, not found`,
  );
});

Deno.test("index rm: by digest, by --ref, all of them; zTOCs stay (C§8.3, C§11.3 item 17)", async (t) => {
  const { idx } = FIX;
  const listed = async (root: string) =>
    lines((await sociOk(root, ["index", "list", "-q"])).stdout).sort();
  const ztocs = async (root: string) => (await sociOk(root, ["ztoc", "list", "-q"])).stdout;
  const all = Object.values(idx).sort();
  const allZtocs = await ztocs(ROOT);

  await t.step("one digest", async () => {
    await withCopy(async (root) => {
      const r = await sociOk(root, ["index", "rm", idx.app]);
      assert.equal(r.stdout + r.stderr, "");
      assert.deepEqual(await listed(root), all.filter((d) => d !== idx.app));
      assert.equal(await ztocs(root), allZtocs);
      const entries = JSON.parse(await Deno.readTextFile(join(root, "content", "index.json")))
        .manifests.map((m: { digest: string }) => m.digest);
      assert.ok(!entries.includes(idx.app));
      assert.ok(!(await dbRows(root)).some((row) => row.digest === idx.app));
      assert.equal(
        await failLine(root, ["index", "info", idx.app]),
        `soci: couldn't retrieve artifact for ${idx.app}, not found`,
      );
      // The other index of the same image is still complete.
      await sociOk(root, ["index", "info", idx.app64]);
    });
  });
  await t.step("--ref removes every index of the image", async () => {
    await withCopy(async (root) => {
      await sociOk(root, ["index", "rm", "--ref", "multi"]);
      assert.deepEqual(await listed(root), all.filter((d) => d !== idx.amd && d !== idx.arm));
      assert.equal(await ztocs(root), allZtocs);
    });
  });
  await t.step("rm $(index ls -q) removes all", async () => {
    await withCopy(async (root) => {
      const digests = await listed(root);
      await sociOk(root, ["index", "rm", ...digests]);
      assert.deepEqual(await listed(root), []);
      assert.equal(await ztocs(root), allZtocs);
      assert.deepEqual(
        (await dbRows(root)).filter((row) => row.type === "soci_index"),
        [],
      );
    });
  });
  await t.step(
    "bogus digests, a zTOC digest, both digests and --ref: errors, nothing changes",
    async () => {
      await withCopy(async (root) => {
        const before = await rootState(root);
        const unknown = "sha256:" + "0".repeat(64);
        assert.equal(
          await failLine(root, ["index", "rm", unknown]),
          `soci: the index of the digest ${unknown} doesn't exist`,
        );
        assert.equal(
          await failLine(root, ["index", "rm", "hello"]),
          "soci: invalid checksum digest format",
        );
        const ztoc = (await storedIndex(root, idx.app)).layers[0].digest;
        assert.equal(
          await failLine(root, ["index", "rm", ztoc]),
          `soci: the digest ${ztoc} does not correspond to an index`,
        );
        assert.equal(
          await failLine(root, ["index", "rm", "--ref", "app", idx.app]),
          "soci: please provide either index digests or image ref, but not both",
        );
        const none = await soci(root, ["index", "rm"]);
        assert.equal(none.code, 0);
        assert.equal(none.stdout + none.stderr, "");
        assert.deepEqual(await rootState(root), before);
      });
    },
  );
});

Deno.test("ztoc list: every zTOC of every stored index, --ztoc-digest, -q, --json, table (C§9.2)", async () => {
  // Expected rows from the stored index documents: digest, size, layer, span size.
  const byDigest = new Map<string, ZtocJson>();
  for (const d of Object.values(FIX.idx)) {
    for (const l of (await storedIndex(ROOT, d)).layers) {
      byDigest.set(l.digest, {
        digest: await sha256sum(storeBlob(ROOT, l.digest)),
        size: (await Deno.stat(storeBlob(ROOT, l.digest))).size,
        layerDigest: l.annotations["com.amazon.soci.image-layer-digest"],
        spanSize: Number(l.annotations["com.amazon.soci.span-size"]),
      });
    }
  }
  const expected = [...byDigest.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1));
  // app ×2 span sizes (3 each), docker 2, multi 3 distinct, sibling 2.
  assert.equal(expected.length, 3 + 3 + 2 + 3 + 2);

  const json = parseJson<Array<ZtocJson & { createdAt: string }>>(
    (await sociOk(ROOT, ["ztoc", "list", "--json"])).stdout,
  );
  assert.deepEqual(json.map(({ createdAt: _, ...rest }) => rest), expected);
  const q = await sociOk(ROOT, ["ztoc", "ls", "-q"]);
  assert.equal(q.stdout, expected.map((z) => z.digest + "\n").join(""));
  const table = await sociOk(ROOT, ["ztoc", "list"]);
  assert.equal(
    table.stdout,
    goTable([
      ["DIGEST", "SIZE", "LAYER DIGEST"],
      ...expected.map((z) => [z.digest, String(z.size), z.layerDigest]),
    ]),
  );

  const one = expected[3];
  const filtered = await sociOk(ROOT, ["ztoc", "list", "--ztoc-digest", one.digest]);
  assert.equal(
    filtered.stdout,
    goTable([["DIGEST", "SIZE", "LAYER DIGEST"], [one.digest, String(one.size), one.layerDigest]]),
  );
  const unknown = await sociOk(ROOT, ["ztoc", "list", "--ztoc-digest", "sha256:" + "0".repeat(64)]);
  assert.equal(unknown.stdout, goTable([["DIGEST", "SIZE", "LAYER DIGEST"]]));
});

Deno.test("ztoc list --image-ref: exactly that image's zTOCs, even with a shared layer at another span size (C§11.3 item 18)", async () => {
  const { idx } = FIX;
  const of = async (...digests: string[]) => {
    const out: string[] = [];
    for (const d of digests) out.push(...(await storedIndex(ROOT, d)).layers.map((l) => l.digest));
    return out.sort();
  };
  const q = async (image: string) =>
    lines((await sociOk(ROOT, ["ztoc", "list", "-q", "--image-ref", image])).stdout).sort();
  const shared = IMG.sibling.layers[0].desc.digest;
  assert.equal(shared, IMG.multi.amd64.layers[0].desc.digest);

  const sibling = await q("sibling");
  assert.deepEqual(sibling, await of(idx.sibling));
  // The shared layer has a zTOC per span size; sibling lists only its own (65536).
  const sharedZtocs = parseJson<ZtocJson[]>((await sociOk(ROOT, ["ztoc", "list", "--json"])).stdout)
    .filter((z) => z.layerDigest === shared);
  assert.deepEqual(sharedZtocs.map((z) => z.spanSize).sort((a, b) => a - b), [65536, SPAN]);
  const sibShared = sharedZtocs.find((z) => z.spanSize === 65536)!.digest;
  const multiShared = sharedZtocs.find((z) => z.spanSize === SPAN)!.digest;
  assert.ok(sibling.includes(sibShared) && !sibling.includes(multiShared));

  // Both multi indexes list the shared zTOC: it appears twice (upstream behaviour).
  const multi = await q("multi");
  assert.deepEqual(multi, await of(idx.amd, idx.arm));
  assert.equal(multi.filter((d) => d === multiShared).length, 2);
  assert.deepEqual(await q("app"), await of(idx.app, idx.app64));

  const j = parseJson<ZtocJson[]>(
    (await sociOk(ROOT, ["ztoc", "list", "--json", "--image-ref", "docker"])).stdout,
  );
  assert.deepEqual(
    j.map((z) => [z.layerDigest, z.spanSize]),
    IMG.docker.layers.map((l) => [l.desc.digest, 65536]),
  );
  const withDigest = await sociOk(ROOT, [
    "ztoc",
    "list",
    "-q",
    "--image-ref",
    "sibling",
    "--ztoc-digest",
    sibShared,
  ]);
  assert.equal(withDigest.stdout, sibShared + "\n");
  assert.equal(
    await failLine(ROOT, ["ztoc", "list", "--image-ref", "sibling", "--ztoc-digest", multiShared]),
    "soci: the specified ztoc doesn't exist or is not associated with the specified image",
  );
  assert.equal(
    await failLine(ROOT, ["ztoc", "list", "--image-ref", "app", "--ztoc-digest", "bogus"]),
    "soci: the specified ztoc doesn't exist or is not associated with the specified image",
  );
  assert.match(await failLine(ROOT, ["ztoc", "list", "--image-ref", "nope"]), /nope.*not found/);
});

Deno.test("ztoc info: bad and unknown digests fail; JSON fields equal the zTOC's (C§9.1, C§11.3 item 19)", async () => {
  const { idx } = FIX;
  assert.match(await failLine(ROOT, ["ztoc", "info", ""]), /invalid checksum digest format/);
  assert.match(await failLine(ROOT, ["ztoc", "info", "hello"]), /invalid checksum digest format/);
  assert.match(
    await failLine(ROOT, ["ztoc", "info", "sha256:hello"]),
    /invalid checksum digest length/,
  );
  const unknown = "sha256:" + "a".repeat(64);
  assert.equal(
    await failLine(ROOT, ["ztoc", "info", unknown]),
    `soci: couldn't retrieve artifact for ${unknown}, not found`,
  );
  assert.equal(
    await failLine(ROOT, ["ztoc", "info", idx.app]),
    "soci: the provided digest belongs to a SOCI index. Use `soci index info` to get the " +
      "detailed information about it",
  );

  const zs = await storedZtocs(ROOT);
  for (const layer of IMG.app.layers) {
    const z = await ztocOf(zs, layer, 65536);
    const r = await sociOk(ROOT, ["ztoc", "info", "--json", z.digest]);
    const info = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(info).slice(0, 8), [
      "version",
      "build_tool",
      "size",
      "span_size",
      "num_spans",
      "num_files",
      "num_multi_span_files",
      "files",
    ]);
    assert.ok(
      r.stdout.startsWith('{\n  "version": "0.9",\n  "build_tool": "AWS SOCI CLI v0.2",\n'),
    );
    // The span of an offset (F§5.4): tar zinfo by division, gzip by the checkpoints.
    const gzip = z.ztoc.compression_info.compression_algorithm === "Gzip";
    const outs = gzip
      ? parseZinfoBlob(Uint8Array.from(z.ztoc.compression_info.checkpoints)).cps.map((c) => c.out)
      : [];
    const span = (off: number) => {
      if (!gzip) return Math.floor(off / 65536);
      let i = 0;
      while (i + 1 < outs.length && outs[i + 1] <= off) i++;
      return i;
    };
    const members = await pyTarMembers(layer.tar!);
    const files = members.map((m) => ({
      filename: m.name,
      offset: m.offset,
      size: m.size,
      type: m.type,
      start_span: span(m.offset),
      end_span: span(m.offset + m.size),
    }));
    assert.deepEqual(
      {
        version: info.version,
        build_tool: info.build_tool,
        size: info.size,
        span_size: info.span_size,
        num_spans: info.num_spans,
        num_files: info.num_files,
        num_multi_span_files: info.num_multi_span_files,
        files: info.files,
      },
      {
        version: "0.9",
        build_tool: "AWS SOCI CLI v0.2",
        size: (await Deno.stat(storeBlob(ROOT, z.digest))).size,
        span_size: 65536,
        num_spans: z.ztoc.compression_info.max_span_id + 1,
        num_files: members.length,
        num_multi_span_files: files.filter((f) => f.start_span !== f.end_span).length,
        files,
      },
    );
  }
  // The large layer really spans many spans, with files crossing them.
  const big = JSON.parse(
    (await sociOk(ROOT, [
      "ztoc",
      "info",
      "--json",
      (await ztocOf(zs, IMG.app.layers[1], 65536)).digest,
    ]))
      .stdout,
  );
  assert.ok(big.num_spans > 10 && big.num_multi_span_files >= 6, JSON.stringify(big).slice(0, 200));
});

Deno.test("ztoc get-file: exact bytes on stdout and with -o, read from the image's source (C§9.3, C§11.3 item 20)", async () => {
  const zs = await storedZtocs(ROOT);
  const [small, big, tar] = IMG.app.layers;
  const cases: Array<[string, string, Uint8Array]> = [];
  for (const layer of [small, big, tar]) {
    const z = await ztocOf(zs, layer, 65536);
    for (const [name, data] of layer.files) cases.push([z.digest, name, data]);
  }
  // A symlink is followed to its target.
  cases.push([(await ztocOf(zs, big, 65536)).digest, "app/link", big.files.get("app/main.js")!]);
  // The same layer through its default-span zTOC.
  cases.push([
    (await ztocOf(zs, big, SPAN)).digest,
    "app/data/part5.bin",
    big.files.get("app/data/part5.bin")!,
  ]);
  assert.ok(cases.length >= 11);

  const out = await tempDir();
  try {
    for (const [z, name, data] of cases) {
      const r = await soci(ROOT, ["ztoc", "get-file", z, name]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdoutBytes.length, data.length, name);
      assert.ok(r.stdoutBytes.every((b, i) => b === data[i]), name);
      const file = join(out, name.replaceAll("/", "_"));
      const o = await soci(ROOT, ["ztoc", "get-file", "-o", file, z, name]);
      assert.equal(o.code, 0, o.stderr);
      assert.equal(o.stdout, "");
      assert.deepEqual(await Deno.readFile(file), data);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }

  const z = (await ztocOf(zs, big, 65536)).digest;
  assert.equal(
    await failLine(ROOT, ["ztoc", "get-file", z, "nope"]),
    "soci: file nope does not exist in metadata",
  );
  const unknown = "sha256:" + "b".repeat(64);
  assert.equal(
    await failLine(ROOT, ["ztoc", "get-file", unknown, "x"]),
    `soci: couldn't retrieve artifact for ${unknown}, not found`,
  );
  const one = await soci(ROOT, ["ztoc", "get-file", z]);
  assert.equal(one.code, 1);
  assert.equal(
    one.stderr,
    "soci: please provide both a ztoc digest and a filename to extract " +
      '(see "soci ztoc get-file --help")\n',
  );
});

Deno.test("ztoc get-file: the layer comes from where the image was created from", async () => {
  await withRoot(async (root, scratch) => {
    const copy = join(scratch, "copy");
    await toolOk("skopeo", ["copy", "-q", `oci:${L}:app`, `oci:${copy}:app`]);
    await sociOk(root, ["create", "-q", "--min-layer-size", "0", `oci:${copy}:app`]);
    const zs = await storedZtocs(root);
    const z = zs.find((x) => x.ztoc.toc.metadata.some((m) => m.name === "etc/hello.txt"))!;
    const r = await sociOk(root, ["ztoc", "get-file", z.digest, "etc/hello.txt"]);
    assert.equal(r.stdout, "hello soci\n");
    await Deno.remove(copy, { recursive: true });
    const line = await failLine(root, ["ztoc", "get-file", z.digest, "etc/hello.txt"]);
    assert.ok(line.includes(copy), line);
  });
});

const SAMPLE = join(new URL("..", import.meta.url).pathname, "fixtures", "sample-image");

Deno.test("ztoc info, get-file, index info: the 64 hex digits of a digest are the digest; a stored zTOC changed on disk is refused", async () => {
  await withRoot(async (root, scratch) => {
    await sociOk(root, ["create", "-q", "--min-layer-size", "0", `oci:${SAMPLE}:latest`]);
    const path = (d: string) => storeBlob(root, d);
    let digest = "";
    let original = new Uint8Array(0);
    for (const d of lines((await sociOk(root, ["ztoc", "list", "-q"])).stdout)) {
      const bytes = await Deno.readFile(path(d));
      if (decodeZtoc(bytes).toc.some((e) => DEC.decode(e.name) === "etc/hostname")) {
        [digest, original] = [d, bytes];
      }
    }
    assert.ok(digest, "a zTOC holds etc/hostname");
    const hex = digest.slice("sha256:".length);

    // The full hex digits work as a prefix does, for both commands.
    const info = (await sociOk(root, ["ztoc", "info", digest])).stdout;
    assert.equal((await sociOk(root, ["ztoc", "info", hex])).stdout, info);
    assert.equal((await sociOk(root, ["ztoc", "info", hex.slice(0, 6)])).stdout, info);
    for (const arg of [hex, hex.slice(0, 6), digest]) {
      const r = await sociOk(root, ["ztoc", "get-file", arg, "etc/hostname"]);
      assert.equal(r.stdout, "sample\n", arg);
    }
    // and for the other commands that take a digest (one lookup for all)
    const idx = lines((await sociOk(root, ["index", "list", "-q"])).stdout)[0];
    assert.equal(
      (await sociOk(root, ["index", "info", idx.slice(7)])).stdout,
      (await sociOk(root, ["index", "info", idx])).stdout,
    );
    const unknown = "c".repeat(64);
    assert.equal(
      await failLine(root, ["ztoc", "info", unknown]),
      `soci: couldn't retrieve artifact for sha256:${unknown}, not found`,
    );
    assert.equal(
      await failLine(root, ["ztoc", "get-file", unknown, "etc/hostname"]),
      `soci: couldn't retrieve artifact for sha256:${unknown}, not found`,
    );

    // The blob with etc/hostname's size made 9 instead of 7: the codec finds the one byte.
    const z = decodeZtoc(original);
    assert.deepEqual(encodeZtoc(z), original, "the codec gives the stored bytes back");
    const entry = z.toc.find((e) => DEC.decode(e.name) === "etc/hostname")!;
    assert.equal(entry.uncompressedSize, 7);
    entry.uncompressedSize = 9;
    const resized = encodeZtoc(z);
    const changed = [...resized.keys()].filter((i) => resized[i] !== original[i]);
    assert.equal(resized.length, original.length);
    assert.deepEqual(changed.map((i) => [original[i], resized[i]]), [[7, 9]]);
    const sized = original.slice();
    sized[changed[0]] = 9;
    // 32 bytes flipped in the middle.
    const flipped = original.slice();
    const mid = Math.floor(flipped.length / 2) - 16;
    for (let i = mid; i < mid + 32; i++) flipped[i] ^= 0xff;

    const out = join(scratch, "out");
    for (const [label, bytes] of [["size 9", sized], ["flipped", flipped]] as const) {
      await Deno.writeFile(path(digest), bytes);
      const want = `soci: stored blob ${digest} has digest ${await sha256sumOf(bytes)}`;
      for (
        const args of [
          ["ztoc", "info", digest],
          ["ztoc", "info", "--table", hex],
          ["ztoc", "get-file", hex.slice(0, 6), "etc/hostname"],
          ["ztoc", "get-file", "-o", out, digest, "etc/hostname"],
        ]
      ) {
        const r = await soci(root, args);
        assert.equal(r.code, 1, `${label}: ${args.join(" ")}`);
        assert.equal(r.stderr, `${want}\n`, `${label}: ${args.join(" ")}`);
        assert.equal(r.stdout, "", `${label}: ${args.join(" ")}`);
      }
      assert.deepEqual(await Array.fromAsync(Deno.readDir(scratch), (e) => e.name), ["root"]);
    }
    await Deno.writeFile(path(digest), original);
    assert.equal((await sociOk(root, ["ztoc", "info", hex])).stdout, info);
  });
});

/** The list and info commands of the store, run on `root`. */
async function storeReads(root: string): Promise<void> {
  await sociOk(root, ["index", "list"]);
  await sociOk(root, ["ztoc", "list", "--image-ref", "multi"]);
  await sociOk(root, ["index", "info", FIX.idx.app]);
  await sociOk(root, ["ztoc", "info", (await storedIndex(root, FIX.idx.app)).layers[0].digest]);
}

Deno.test("store commands never write: list and info leave the root's tree and rows as they were", async () => {
  const before = await rootState(ROOT);
  const dbFiles = before.tree.filter((l) => l.startsWith("artifacts.sqlite"));
  assert.equal(dbFiles.length, 1, dbFiles.join("\n")); // no -wal/-shm to begin with
  assert.ok(dbFiles[0].startsWith("artifacts.sqlite file 600 "), dbFiles[0]);
  await storeReads(ROOT);
  assert.deepEqual(await rootState(ROOT), before);
});

// The same when we may not write the DB file, or the root (then SQLite cannot make its
// -wal/-shm files, and a read-only connection would otherwise leave them behind).
Deno.test({
  name: "store commands never write: also with the DB file, then the root, unwritable",
  ignore: !canLockPaths,
  fn: async () => {
    await withCopy(async (root) => {
      const copied = await rootState(root);
      for (const locked of [join(root, "artifacts.sqlite"), root]) {
        const unlock = await lockPath(locked);
        try {
          await storeReads(root);
          assert.deepEqual(await rootState(root), copied, locked);
        } finally {
          await unlock();
        }
      }
    });
  },
});

Deno.test("index list --ref / ztoc list --image-ref after indexing one platform of a multi-platform image", async () => {
  await withRoot(async (root) => {
    // Only the indexed platform's manifest is stored; the other platforms have no indexes.
    const [idx] = lines(
      (await sociOk(root, [
        "create",
        "-q",
        "--min-layer-size",
        "0",
        "-p",
        "linux/amd64",
        `oci:${L}:multi`,
      ]))
        .stdout,
    );
    assert.deepEqual(
      lines((await sociOk(root, ["index", "list", "-q", "--ref", "multi"])).stdout),
      [
        idx,
      ],
    );
    const ztocs = lines(
      (await sociOk(root, ["ztoc", "list", "-q", "--image-ref", "multi"])).stdout,
    );
    assert.deepEqual(
      ztocs.sort(),
      (await storedIndex(root, idx)).layers.map((l) => l.digest).sort(),
    );
    // Asking for the platform that was not indexed (its manifest is not stored) is an error.
    assert.equal(
      await failLine(root, ["index", "list", "--ref", "multi", "-p", "linux/arm64"]),
      "soci: image manifest for platform linux/arm64: not found",
    );
    await sociOk(root, ["index", "rm", "--ref", "multi"]);
    assert.equal((await sociOk(root, ["index", "list", "-q"])).stdout, "");
  });
});

Deno.test({
  name: "index rm: a failing clean-up after the removal is a warning, exit 0",
  ignore: !canLockPaths,
  fn: () => failingCleanUp(),
});

async function failingCleanUp(): Promise<void> {
  await withCopy(async (root) => {
    // gc will want to delete the index blob (nothing else refers to it): make that fail.
    const blob = storeBlob(root, FIX.idx.docker);
    const unlock = await lockPath(Deno.uid() === 0 ? blob : join(root, "content/blobs/sha256"));
    let r;
    try {
      r = await soci(root, ["index", "rm", FIX.idx.docker]);
    } finally {
      await unlock();
    }
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    const err = lines(r.stderr);
    assert.equal(err.length, 1, r.stderr);
    assert.ok(
      err[0].startsWith("warning: indexes removed, but removing unreferenced blobs failed: "),
      err[0],
    );
    // The removal itself happened.
    assert.ok(!(await dbRows(root)).some((row) => row.digest === FIX.idx.docker));
    const entries = JSON.parse(await Deno.readTextFile(join(root, "content", "index.json")))
      .manifests.map((m: { digest: string }) => m.digest);
    assert.ok(!entries.includes(FIX.idx.docker));
    assert.equal(await sha256sum(blob), FIX.idx.docker); // still there: gc could not delete it
    // The next gc (another rm) gets it.
    await sociOk(root, ["index", "rm", FIX.idx.app64]);
    assert.equal(await Deno.stat(blob).catch(() => undefined), undefined);
  });
}

Deno.test("ztoc info: a path we may not look at is a permission error, not 'not a digest'", async () => {
  await withRoot(async (root, scratch) => {
    const secret = join(scratch, "secret.ztoc");
    await Deno.writeFile(secret, new Uint8Array([1, 2, 3]));
    // Deno's permissions: read access to the repository and the root only; run from scratch.
    const repo = new URL("../", import.meta.url).pathname;
    const run = async (arg: string) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "--no-prompt",
          `--allow-read=${repo},${root}`,
          `--allow-write=${root}`,
          "--allow-env",
          join(repo, "cli.ts"),
          "--root",
          root,
          "ztoc",
          "info",
          arg,
        ],
        cwd: scratch,
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = lines(new TextDecoder().decode(out.stderr));
      assert.equal(out.code, 1);
      assert.equal(err.length, 1, err.join("\n"));
      return err[0];
    };
    const line = await run(secret);
    assert.ok(line.startsWith(`soci: cannot read ${secret}: `), line);
    assert.ok(!line.includes("not a digest"), line);
    // A digest is still looked up, although the same check fails on it (relative to scratch).
    const digest = "sha256:" + "0".repeat(64);
    assert.equal(await run(digest), `soci: couldn't retrieve artifact for ${digest}, not found`);
  });
});

Deno.test("openStore: no DB file until the first write; a process that fails deletes nothing", async () => {
  await withRoot(async (root) => {
    await Deno.mkdir(root);
    const ctx = createContext({ args: [], flags: { root }, out: new MemoryOutput() });
    // A and B start on a fresh root; C only reads.
    const a = openStore(ctx);
    const b = openStore(ctx);
    const c = openStore(ctx, { readOnly: true });
    const reader = openStore(ctx);
    try {
      assert.deepEqual(await treeListing(root), []);
      a[Symbol.dispose](); // A fails before writing anything
      c[Symbol.dispose]();
      assert.deepEqual(await treeListing(root), []);
      // B commits a zTOC row.
      const layer = "sha256:" + "1".repeat(64);
      const tx = b.begin();
      const z = await tx.putBlob(new Uint8Array([0x1c, 1, 2, 3]));
      tx.putRecord(ztocRecord(z.digest, z.size, layer, 4194304, new Date(1_700_000_000_000)));
      await tx.commit();
      // Another open store that has not written yet sees B's row.
      assert.equal(reader.db.findZtoc(layer, 4194304)?.digest, z.digest);
      b[Symbol.dispose]();
      const rows = await dbRows(root);
      assert.deepEqual(rows.map((r) => [r.digest, r.type, r.original_digest, r.span_size]), [
        [z.digest, "soci_layer", layer, 4194304],
      ]);
      assert.equal(
        (await Deno.stat(join(root, "artifacts.sqlite"))).mode! & 0o777,
        0o600,
      );
    } finally {
      reader[Symbol.dispose]();
    }
  });
});

Deno.test("openingRangeReader: the registry source (its TLS client and connection) is closed after each read", async () => {
  const reg = await startRegistry({ tls: true });
  // Established TCP connections to the registry (`ss`); only this process makes them now.
  const connections = async () => {
    const o = await new Deno.Command("ss", {
      args: ["-Htn", "state", "established", `( dport = :${reg.port} )`],
      stdout: "piped",
    }).output();
    return lines(new TextDecoder().decode(o.stdout)).length;
  };
  // A closed client drops its pooled connection; give the kernel a moment to see it.
  const settlesAt = async (want: number) => {
    let n = await connections();
    for (let i = 0; i < 40 && n > want; i++) {
      await new Promise((r) => setTimeout(r, 50));
      n = await connections();
    }
    return n;
  };
  try {
    await skopeoCopyToRegistry(L, "app", `${reg.host}/app:v1`);
    const layer = IMG.app.layers[1];
    const bytes = await Deno.readFile(layer.path);
    const read = openingRangeReader(`docker://${reg.host}/app:v1`, layer.desc, {
      registry: { caCerts: [reg.certs!.caPem] },
    });
    const before = await connections();
    const parts = await Array.fromAsync(read(100, 70_000));
    assert.deepEqual(concat(parts), bytes.subarray(100, 70_000));
    assert.ok(await settlesAt(before) <= before, "the read left a connection open");
    // Stopped early, the source is closed too.
    for await (const part of read(0, bytes.length)) {
      assert.ok(part.length > 0);
      break;
    }
    assert.ok(await settlesAt(before) <= before, "the stopped read left a connection open");
  } finally {
    await reg.stop();
  }
});
