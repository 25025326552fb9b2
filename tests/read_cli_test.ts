// `soci ls`, `soci cat` and `soci verify` end to end (`deno run -A cli.ts`
// subprocesses) against the real registry with a root that does not exist:
// everything is discovered from the registry, nothing is written, errors
// are one `soci: …` line, `verify` exits 1 naming the layer and the span of
// a damaged index, and `--stats` reports what was fetched.
import assert from "node:assert/strict";
import { join } from "node:path";
import { createIndexes } from "../lib/use_cases/create.ts";
import { pushIndexes } from "../lib/use_cases/push.ts";
import { openImage } from "../lib/image/open.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { decodeManifest } from "../lib/oci/json_decode.ts";
import { encodeManifest } from "../lib/oci/json_encode.ts";
import { decodeZtoc, encodeZtoc } from "../lib/ztoc/codec.ts";
import { startRegistry } from "./helpers/registry.ts";
import { skopeoCopyToRegistry } from "./helpers/registry.ts";
import { exists, linesOf, oneLineFailure, runSoci } from "./helpers/registry_e2e_cli.ts";
import { sha256 } from "./helpers/bytes.ts";
import {
  buildLayer,
  type BuiltLayer,
  standardTrees,
  umociTree,
  writeLayout,
} from "./helpers/read_images.ts";

const dec = new TextDecoder();

/** Runs the CLI and returns stdout as bytes too. */
async function runRaw(
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL("../cli.ts", import.meta.url).pathname, ...args],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", DOCKER_CONFIG: "/nonexistent/soci-read" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: out.stdout, stderr: dec.decode(out.stderr) };
}

Deno.test("cli: ls, cat and verify of a registry image with an empty root", async (t) => {
  const scratch = await Deno.makeTempDir({ prefix: "soci-read-cli-" });
  const reg = await startRegistry();
  try {
    const layers: BuiltLayer[] = [];
    for (const tr of standardTrees(2 << 20)) layers.push(await buildLayer(tr));
    const layout = await writeLayout(join(scratch, "layout"), "v1", layers);
    await skopeoCopyToRegistry(layout.dir, "v1", `${reg.host}/app:v1`);
    const ref = `docker://${reg.host}/app:v1`;
    const builder = join(scratch, "builder");
    {
      using store = LocalStore.open(builder);
      const src = await openImage(ref, { registry: { plainHttp: true } });
      await createIndexes(src, store, { spanSize: 64 * 1024, minLayerSize: 100_000 });
      await src.close?.();
      const client = new RegistryClient(reg.host, { plainHttp: true });
      await pushIndexes(store, `${reg.host}/app:v1`, client, "app");
      client.close();
    }
    const oracle = await umociTree(layout.dir, "v1");
    const root = join(scratch, "no-such-root");
    const soci = (...args: string[]) => runSoci(["--root", root, ...args]);

    await t.step("ls --json lists the unpacked tree", async () => {
      const r = await soci("ls", "--plain-http", "--json", ref);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      const list = JSON.parse(r.stdout) as Array<{ path: string; type: string; size: number }>;
      assert.deepEqual(list.map((f) => f.path), [...oracle.keys()].sort());
      const first = list.find((f) => f.path === "aaa-first.txt")!;
      assert.equal(first.size, oracle.get("aaa-first.txt")!.size);
    });

    await t.step("ls PATH prints aligned lines with modes and link targets", async () => {
      const r = await soci("ls", "--plain-http", ref, "links");
      assert.equal(r.code, 0, r.stderr);
      const lines = linesOf(r.stdout);
      assert.match(lines[0], /^drwxr-xr-x 0\/0 +0 2023-11-14T22:13:20Z links$/);
      assert.ok(
        lines.some((l) =>
          l.startsWith("lrwxrwxrwx") && l.endsWith("links/abs -> /data/mid-10.txt")
        ),
        r.stdout,
      );
      const tmp = await soci("ls", "--plain-http", ref, "tmp");
      assert.match(tmp.stdout, /^drwxrwxrwt /);
    });

    await t.step("cat writes the file's bytes, following symlinks; --stats on stderr", async () => {
      const r = await runRaw(["--root", root, "cat", "--plain-http", "--stats", ref, "links/abs"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sha256(r.stdout), oracle.get("data/mid-10.txt")!.digest);
      const stats = linesOf(r.stderr);
      assert.ok(stats.every((l) => l.startsWith("stats: ")), r.stderr);
      assert.match(r.stderr, /^stats: layer sha256:[0-9a-f]{12} of layer 1\/3: \d+ bytes/m);
      assert.match(r.stderr, /^stats: zTOC sha256:[0-9a-f]{12} of layer 2\/3: /m);
      const total = /^stats: total: (\d+) bytes/m.exec(r.stderr);
      const each = stats.filter((l) => !l.startsWith("stats: total:"))
        .map((l) => Number(/: (\d+) bytes/.exec(l)![1]));
      assert.equal(Number(total?.[1]), each.reduce((a, b) => a + b, 0), r.stderr);
      // Of the first layer, only the spans that hold the file were fetched.
      const layer1 = /^stats: layer sha256:[0-9a-f]{12} of layer 1\/3: (\d+) bytes/m.exec(r.stderr);
      assert.ok(Number(layer1![1]) < layers[0].size / 2, `${layers[0].size} ${r.stderr}`);
    });

    await t.step(
      "without an index, ls and cat say so once and read the layers in full",
      async () => {
        const none = `oci:${layout.dir}:v1`;
        const warning = (fallback: string) =>
          new RegExp(
            "^warning: no SOCI index found \\(no com\\.amazon\\.soci\\.index-digest annotation " +
              `on the manifest; [^\\n]*\\): ${fallback}\\n$`,
          );
        const ls = await soci("ls", "--json", none);
        assert.equal(ls.code, 0, ls.stderr);
        assert.match(ls.stderr, warning("reading every layer in full"));
        const list = JSON.parse(ls.stdout) as Array<{ path: string }>;
        assert.deepEqual(list.map((f) => f.path), [...oracle.keys()].sort());
        const cat = await runRaw(["--root", root, "cat", none, "links/abs"]);
        assert.equal(cat.code, 0, cat.stderr);
        assert.match(cat.stderr, warning("reading the file's layer in full"));
        assert.equal(sha256(cat.stdout), oracle.get("data/mid-10.txt")!.digest);
      },
    );

    await t.step("errors are one line", async () => {
      oneLineFailure(await soci("cat", "--plain-http", ref, "tmp"), /tmp is a directory/);
      oneLineFailure(
        await soci("cat", "--plain-http", ref, "gone/a.txt"),
        /no such file or directory: gone\/a\.txt/,
      );
      oneLineFailure(await soci("cat", "--plain-http", ref), /please provide an image and a path/);
      // A name with a newline and an escape sequence: written as escapes.
      oneLineFailure(
        await soci("cat", "--plain-http", ref, "gone/a\nb\x1b[2J"),
        /no such file or directory: gone\/a\\nb\\x1b\[2J$/,
      );
      oneLineFailure(
        await soci("verify", `oci:${layout.dir}:v1`),
        /^soci: no SOCI index found for sha256:[0-9a-f]{64}: no com\.amazon\.soci\.index-digest annotation on the manifest; no index for sha256:[0-9a-f]{64} in the local store; not a registry image/,
      );
    });

    await t.step("verify passes and says where the index came from", async () => {
      const r = await soci("verify", "--plain-http", ref);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const lines = linesOf(r.stdout);
      assert.match(
        lines[0],
        /^index sha256:[0-9a-f]{64} \(v1, listed by the sha256-<digest> fallback tag\): ok$/,
      );
      assert.match(
        lines[1],
        /^layer 1\/3 sha256:[0-9a-f]{12} zTOC sha256:[0-9a-f]{12}: ok \(\d+ spans, \d+ checkpoints, \d+ entries\)$/,
      );
      assert.match(lines[3], /^layer 3\/3 sha256:[0-9a-f]{12}: no zTOC/);
      assert.equal(lines.length, 4);
    });

    await t.step("verify exits 1 naming the layer and the span of a damaged index", async () => {
      // A local store holding a damaged copy of the index, named with --index.
      const bad = join(scratch, "bad-root");
      using store = LocalStore.open(bad);
      using built = LocalStore.open(builder);
      const idx = built.db.listIndexes()[0];
      const doc = decodeManifest(await built.readBlob(idx.digest));
      const z = decodeZtoc(await built.readBlob(doc.layers[1].digest));
      const spanDigests = z.spanDigests.map((d, i) => i === 2 ? sha256(new Uint8Array([7])) : d);
      const zBytes = encodeZtoc({ ...z, spanDigests });
      await Deno.mkdir(join(store.dir, "blobs", "sha256"), { recursive: true });
      await Deno.writeFile(store.blobPath(sha256(zBytes)), zBytes);
      await Deno.writeFile(
        store.blobPath(doc.layers[0].digest),
        await built.readBlob(doc.layers[0].digest),
      );
      const layersOut = doc.layers.map((d, i) =>
        i === 1 ? { ...d, digest: sha256(zBytes), size: zBytes.length } : d
      );
      const index = encodeManifest({ ...doc, layers: layersOut });
      await Deno.writeFile(store.blobPath(sha256(index)), index);
      const r = await runSoci([
        "--root",
        bad,
        "verify",
        "--plain-http",
        "--index",
        sha256(index),
        ref,
      ]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const lines = linesOf(r.stdout);
      assert.match(lines[0], /\(v1, given with --index\): ok$/);
      assert.match(lines[1], /^layer 1\/3 .*: ok/);
      assert.match(
        lines[2],
        new RegExp(
          `^layer 2/3 sha256:${layers[1].digest.slice(7, 19)} zTOC sha256:[0-9a-f]{12}: FAILED$`,
        ),
      );
      assert.match(
        lines[3],
        /^ {2}span 2 \(bytes \d+–\d+\): digest sha256:[0-9a-f]{64} does not match the layer's sha256:[0-9a-f]{64}$/,
      );
      assert.equal(linesOf(r.stderr).pop(), "soci: verify failed: 1 of 3 layers failed");
      const json = await runSoci([
        "--root",
        bad,
        "verify",
        "--plain-http",
        "--json",
        "--index",
        sha256(index),
        ref,
      ]);
      assert.equal(json.code, 1);
      const report = JSON.parse(json.stdout);
      assert.equal(report.ok, false);
      assert.equal(report.layers[1].status, "failed");
    });

    await t.step("a layer of an unknown media type: a one-line error", async () => {
      const odd = await writeLayout(join(scratch, "odd"), "v1", [
        layers[0],
        { ...layers[1], mediaType: "application/x-bogus-layer" },
      ]);
      for (const cmd of [["cat", "aaa-first.txt"], ["ls"], ["verify"]]) {
        const r = await soci(cmd[0], `oci:${odd.dir}:v1`, ...cmd.slice(1));
        assert.equal(r.stdout, "");
        oneLineFailure(
          r,
          /^soci: layer 2 \(sha256:[0-9a-f]{64}\) of sha256:[0-9a-f]{64}: not a layer mediaType: application\/x-bogus-layer$/,
        );
      }
    });

    await t.step("--index of another image: a one-line error, not a full read", async () => {
      const other = join(scratch, "other");
      const made = await runSoci([
        "--root",
        other,
        "create",
        "-q",
        "--min-layer-size",
        "0",
        `oci:${new URL("../fixtures/sample-image", import.meta.url).pathname}:latest`,
      ]);
      assert.equal(made.code, 0, made.stderr);
      const digest = linesOf(made.stdout)[0];
      assert.match(digest, /^sha256:[0-9a-f]{64}$/);
      for (const cmd of [["cat", ref, "links/rel"], ["ls", ref]]) {
        const r = await runSoci([
          "--root",
          other,
          cmd[0],
          "--plain-http",
          "--index",
          digest,
          ...cmd.slice(1),
        ]);
        assert.equal(r.stdout, "");
        oneLineFailure(
          r,
          new RegExp(
            `^soci: index ${digest} is not for this image: none of its \\d+ zTOCs is for a layer of sha256:[0-9a-f]{64}$`,
          ),
        );
      }
    });

    await t.step(
      "an image of the local store reads its layers from where it came from",
      async () => {
        const name = `${reg.host}/app:v1`;
        const r = await runRaw(["--root", builder, "cat", "--plain-http", name, "links/rel"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(sha256(r.stdout), oracle.get("etc/os-release")!.digest);
        const v = await runSoci(["--root", builder, "verify", "--plain-http", name]);
        assert.equal(v.code, 0, v.stdout + v.stderr);
        assert.match(linesOf(v.stdout)[0], /\(v1, from the local store\): ok$/);
      },
    );

    await t.step("nothing was written", async () => {
      assert.equal(await exists(root), false);
    });
  } finally {
    await reg.stop();
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("cli: a zTOC missing from the store and the image is named as the index's blob", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "soci-read-cli-" });
  try {
    const root = join(scratch, "root");
    const image = `oci:${new URL("../fixtures/sample-image", import.meta.url).pathname}:latest`;
    const made = await runSoci(["--root", root, "create", "-q", "--min-layer-size", "0", image]);
    assert.equal(made.code, 0, made.stderr);
    const listed = await runSoci(["--root", root, "ztoc", "list", "-q"]);
    const ztoc = linesOf(listed.stdout)[0];
    assert.match(ztoc, /^sha256:[0-9a-f]{64}$/);
    await Deno.remove(join(root, "content", "blobs", "sha256", ztoc.slice(7)));
    const r = await runSoci(["--root", root, "ls", image]);
    assert.equal(r.stdout, "");
    oneLineFailure(
      r,
      new RegExp(
        `^soci: blob ${ztoc} of the SOCI index: not in the local store, and OCI layout .*: ` +
          `blob ${ztoc} not found$`,
      ),
    );
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});
