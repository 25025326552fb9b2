// `soci verify` end to end (`deno run -A cli.ts` subprocesses) when a layer
// cannot be checked: a two-layer image in the real registry whose first
// layer blob has bytes flipped in the registry's storage (same size), whose
// second layer blob is deleted, or one of whose zTOC blobs is deleted; and
// the same image from an OCI layout with a zTOC removed from the local
// store. The broken layer is FAILED naming its problem, the other is
// checked and ok, the exit code is 1, `--json` prints the whole report, and
// nothing is written. Errors that are not one layer's (an image that does
// not exist, layers the registry refuses to serve without credentials) are
// still one `soci: …` line.
import assert from "node:assert/strict";
import { join } from "node:path";
import { createIndexes } from "../lib/use_cases/create.ts";
import { pushIndexes } from "../lib/use_cases/push.ts";
import { openImage } from "../lib/image/open.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { decodeManifest } from "../lib/oci/json_decode.ts";
import { run, skopeoCopyToRegistry, startRegistry } from "./helpers/registry.ts";
import {
  type CliResult,
  exists,
  linesOf,
  oneLineFailure,
  runSoci,
} from "./helpers/registry_e2e_cli.ts";
import { snapshotTree } from "./helpers/store_tree.ts";
import { buildLayer, type BuiltLayer, standardTrees, writeLayout } from "./helpers/read_images.ts";

const USER = "verifier";
const PASS = "s3cret-verify";

/** `sha256:` and the first 12 hex digits, as the report lines print digests. */
function short(digest: string): string {
  return digest.slice(0, 19);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

interface JsonReport {
  ok: boolean;
  indexProblems: string[];
  layers: Array<{
    index: number;
    layer: { digest: string };
    ztoc?: { digest: string };
    status: string;
    problems: string[];
  }>;
}

/**
 * Asserts the report of a two-layer image whose layer `bad` cannot be
 * checked: the index line, layer `bad` FAILED with one problem matching
 * `problem`, the other ok, exit 1, the summary on stderr; and the same in
 * the `--json` run.
 */
function assertOneLayerFails(
  text: CliResult,
  json: CliResult,
  expect: { layers: string[]; ztocs: string[]; bad: number; problem: RegExp; via: string },
): void {
  const { layers, ztocs, bad, problem, via } = expect;
  assert.equal(text.code, 1, text.stdout + text.stderr);
  const lines = linesOf(text.stdout);
  assert.match(lines[0], new RegExp(`^index sha256:[0-9a-f]{64} \\(v1, ${escape(via)}\\): ok$`));
  const want: Array<string | RegExp> = [];
  layers.forEach((d, k) => {
    const head = `layer ${k + 1}/2 ${short(d)} zTOC ${short(ztocs[k])}`;
    if (k === bad) {
      want.push(`${head}: FAILED`);
      want.push(new RegExp(`^ {2}${problem.source}`));
    } else {
      want.push(
        new RegExp(`^${escape(head)}: ok \\(\\d+ spans, \\d+ checkpoints, \\d+ entries\\)$`),
      );
    }
  });
  assert.equal(lines.length, 1 + want.length, text.stdout);
  want.forEach((w, i) => {
    if (typeof w === "string") assert.equal(lines[i + 1], w);
    else assert.match(lines[i + 1], w);
  });
  assert.deepEqual(linesOf(text.stderr), ["soci: verify failed: 1 of 2 layers failed"]);

  assert.equal(json.code, 1, json.stdout + json.stderr);
  const report = JSON.parse(json.stdout) as JsonReport;
  assert.equal(report.ok, false);
  assert.deepEqual(report.indexProblems, []);
  assert.deepEqual(report.layers.map((l) => l.index), [0, 1]);
  assert.deepEqual(report.layers.map((l) => l.layer.digest), layers);
  assert.deepEqual(report.layers.map((l) => l.ztoc?.digest), ztocs);
  assert.deepEqual(
    report.layers.map((l) => l.status),
    bad === 0 ? ["failed", "ok"] : ["ok", "failed"],
  );
  assert.equal(report.layers[bad].problems.length, 1, json.stdout);
  assert.match(report.layers[bad].problems[0], problem);
  assert.deepEqual(report.layers[1 - bad].problems, []);
  assert.deepEqual(linesOf(json.stderr), ["soci: verify failed: 1 of 2 layers failed"]);
}

/** The zTOC digests of the one index in a store, in layer order. */
async function storedZtocs(root: string): Promise<string[]> {
  using store = LocalStore.open(root);
  const [idx] = store.db.listIndexes();
  const doc = decodeManifest(await store.readBlob(idx.digest));
  return doc.layers.map((d) => d.digest);
}

Deno.test("cli: verify reports a layer that cannot be checked and checks the others", async (t) => {
  const scratch = await Deno.makeTempDir({ prefix: "soci-verify-cli-" });
  const reg = await startRegistry();
  try {
    const layers: BuiltLayer[] = [];
    for (const tr of standardTrees(2 << 20).slice(0, 2)) layers.push(await buildLayer(tr));
    const layout = await writeLayout(join(scratch, "layout"), "v1", layers);
    const digests = layers.map((l) => l.digest);
    // One repository per way of breaking it, each with its index pushed.
    const builder = join(scratch, "builder");
    for (const repo of ["corrupt", "gone", "noztoc"]) {
      await skopeoCopyToRegistry(layout.dir, "v1", `${reg.host}/${repo}:v1`);
      using store = LocalStore.open(builder);
      const src = await openImage(`docker://${reg.host}/${repo}:v1`, {
        registry: { plainHttp: true },
      });
      await createIndexes(src, store, { spanSize: 64 * 1024, minLayerSize: 0 });
      await src.close?.();
      const client = new RegistryClient(reg.host, { plainHttp: true });
      await pushIndexes(store, `${reg.host}/${repo}:v1`, client, repo);
      client.close();
    }
    const ztocs = await storedZtocs(builder);
    assert.equal(ztocs.length, 2);

    const root = join(scratch, "no-such-root");
    const verify = (repo: string, ...flags: string[]) =>
      runSoci([
        "--root",
        root,
        "verify",
        "--plain-http",
        ...flags,
        `docker://${reg.host}/${repo}:v1`,
      ]);
    const both = async (repo: string) => [await verify(repo), await verify(repo, "--json")];
    const deleteBlob = async (repo: string, digest: string) => {
      const res = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`, { method: "DELETE" });
      await res.body?.cancel();
      assert.equal(res.status, 202, `DELETE ${repo}@${digest}`);
    };
    const via = "listed by the sha256-<digest> fallback tag";

    await t.step("the sound image passes", async () => {
      const r = await verify("corrupt");
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(linesOf(r.stdout).length, 3, r.stdout);
    });

    await t.step("a layer blob with bytes flipped in the registry (same size)", async () => {
      const hex = digests[0].slice(7);
      const data = join(reg.dir, "data", "docker", "registry", "v2", "blobs", "sha256");
      const path = join(data, hex.slice(0, 2), hex, "data");
      const bytes = await Deno.readFile(path);
      const bad = bytes.slice();
      for (let i = 4096; i < 4096 + 64; i++) bad[i] ^= 0xff;
      await Deno.writeFile(path, bad);
      try {
        const [text, json] = await both("corrupt");
        assertOneLayerFails(text, json, {
          layers: digests,
          ztocs,
          bad: 0,
          via,
          problem: new RegExp(
            `layer ${digests[0]} was served with digest sha256:[0-9a-f]{64} ` +
              `\\(${layers[0].size} bytes\\): cannot check it$`,
          ),
        });
      } finally {
        await Deno.writeFile(path, bytes);
      }
    });

    await t.step("a layer blob deleted from the repository", async () => {
      await deleteBlob("gone", digests[1]);
      const [text, json] = await both("gone");
      assertOneLayerFails(text, json, {
        layers: digests,
        ztocs,
        bad: 1,
        via,
        problem: new RegExp(
          `the layer cannot be read: blob ${digests[1]} of ${escape(reg.host)}/gone:v1: ` +
            "not found",
        ),
      });
    });

    await t.step("a zTOC blob deleted from the repository", async () => {
      await deleteBlob("noztoc", ztocs[0]);
      const [text, json] = await both("noztoc");
      assertOneLayerFails(text, json, {
        layers: digests,
        ztocs,
        bad: 0,
        via,
        problem: new RegExp(
          `the zTOC cannot be read: .*blob ${ztocs[0]} of ${escape(reg.host)}/noztoc:v1: ` +
            "not found",
        ),
      });
    });

    await t.step("errors that are not one layer's are still one line", async () => {
      for (const flags of [[], ["--json"]]) {
        const r = await verify("no-such-repo", ...flags);
        oneLineFailure(r, /not found/);
        assert.equal(r.stdout, "");
      }
    });

    await t.step("nothing was written", async () => {
      assert.equal(await exists(root), false);
    });

    await t.step("a zTOC removed from the local store", async () => {
      const local = join(scratch, "local");
      const image = `oci:${layout.dir}:v1`;
      const made = await runSoci([
        "--root",
        local,
        "create",
        "--min-layer-size",
        "0",
        "--span-size",
        "65536",
        image,
      ]);
      assert.equal(made.code, 0, made.stdout + made.stderr);
      const stored = await storedZtocs(local);
      const path = join(local, "content", "blobs", "sha256", stored[1].slice(7));
      await Deno.remove(path);
      const before = await snapshotTree(local);
      const text = await runSoci(["--root", local, "verify", image]);
      const json = await runSoci(["--root", local, "verify", "--json", image]);
      assertOneLayerFails(text, json, {
        layers: digests,
        ztocs: stored,
        bad: 1,
        via: "from the local store",
        problem: new RegExp(
          `the zTOC cannot be read: .*blob ${stored[1]} not found$`,
        ),
      });
      assert.deepEqual(await snapshotTree(local), before);
    });
  } finally {
    await reg.stop();
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("cli: verify stops with one line when the registry refuses the layers", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "soci-verify-cli-auth-" });
  const reg = await startRegistry({ auth: { username: USER, password: PASS } });
  try {
    const layers: BuiltLayer[] = [];
    for (const tr of standardTrees(2 << 20).slice(0, 2)) layers.push(await buildLayer(tr));
    const layout = await writeLayout(join(scratch, "layout"), "v1", layers);
    const name = `${reg.host}/app:v1`;
    await run("skopeo", [
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      "--dest-creds",
      `${USER}:${PASS}`,
      "--preserve-digests",
      `oci:${layout.dir}:v1`,
      `docker://${name}`,
    ]);
    const root = join(scratch, "root");
    const made = await runSoci([
      "--root",
      root,
      "create",
      "--plain-http",
      "--user",
      `${USER}:${PASS}`,
      "--min-layer-size",
      "0",
      `docker://${name}`,
    ]);
    assert.equal(made.code, 0, made.stdout + made.stderr);
    // With the credentials, the image of the store verifies (layers from the registry).
    const ok = await runSoci([
      "--root",
      root,
      "verify",
      "--plain-http",
      "--user",
      `${USER}:${PASS}`,
      name,
    ]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    // Without: its index and zTOCs are in the store, its layers are refused.
    const before = await snapshotTree(root);
    const text = await runSoci(["--root", root, "verify", "--plain-http", name]);
    oneLineFailure(text, /401|unauthorized|authentication/i);
    assert.ok(!/^layer /m.test(text.stdout), text.stdout);
    const json = await runSoci(["--root", root, "verify", "--plain-http", "--json", name]);
    oneLineFailure(json, /401|unauthorized|authentication/i);
    assert.equal(json.stdout, "");
    assert.deepEqual(await snapshotTree(root), before);
  } finally {
    await reg.stop();
    await Deno.remove(scratch, { recursive: true });
  }
});
