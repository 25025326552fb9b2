// `soci push` of several platforms against Debian's docker-registry 2.8 behind a counting proxy:
// every platform's index is checked before anything is uploaded, so a zTOC missing from the
// local store for the last platform fails the push with nothing written to the registry (no
// blob, no index, no fallback tag for the platforms before it); with the zTOC back, one push
// makes every platform's index discoverable through its fallback tag.
import assert from "node:assert/strict";
import { join } from "node:path";
import { startCountingProxy } from "./helpers/counting_proxy.ts";
import { e2eImages, lines, soci, sociOk, withRoot } from "./helpers/create_e2e_images.ts";
import { skopeoCopyToRegistry, startRegistry } from "./helpers/registry.ts";

const IMG = await e2eImages();
const DEC = new TextDecoder();

function blobPath(root: string, digest: string): string {
  return join(root, "content", "blobs", "sha256", digest.slice(7));
}

/** The status and JSON body of a GET of the registry API. */
async function getJson(base: string, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}/v2/${path}`, {
    headers: { accept: "application/vnd.oci.image.index.v1+json" },
  });
  const text = await res.text();
  return { status: res.status, body: res.ok ? JSON.parse(text) : text };
}

Deno.test("push of two platforms: a zTOC missing for the last platform uploads nothing for any platform; all present, every platform is pushed", async () => {
  const reg = await startRegistry();
  const proxy = startCountingProxy(reg.url);
  try {
    await skopeoCopyToRegistry(IMG.layout, "multi", `${reg.host}/app/multi:1`, { all: true });
    await withRoot(async (root) => {
      const name = `${proxy.host}/app/multi:1`;
      const c = await sociOk(root, [
        "create",
        "--plain-http",
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
        "--min-layer-size",
        "0",
        `docker://${name}`,
      ]);
      // One index per platform, in the order push takes them.
      const indexes = lines(c.stdout).flatMap((l) => {
        const m = /^soci index (sha256:[0-9a-f]{64}) for (\S+) /.exec(l);
        return m ? [{ digest: m[1], platform: m[2] }] : [];
      });
      assert.deepEqual(indexes.map((i) => i.platform), ["linux/amd64", "linux/arm64"]);
      const manifests = [IMG.multi.amd64.manifest.digest, IMG.multi.arm64.manifest.digest];
      const last = JSON.parse(
        DEC.decode(await Deno.readFile(blobPath(root, indexes[1].digest))),
      );
      const gone: string = last.layers.at(-1).digest;
      const kept = await Deno.readFile(blobPath(root, gone));
      await Deno.remove(blobPath(root, gone));
      const args = ["push", "--plain-http", "--platform", "linux/amd64", "--platform"];

      proxy.reset();
      const p = await soci(root, [...args, "linux/arm64", name]);
      assert.equal(p.code, 1, p.stdout);
      assert.equal(
        p.stderr,
        `soci: error pushing graph to remote: cannot push ${gone}: not in ${proxy.host}/app/multi ` +
          `and not readable locally: blob ${gone} is not in the local store\n`,
      );
      // Both platforms checked for an existing index, neither pushed.
      assert.equal(
        p.stdout,
        "checking if a soci index already exists in remote repository...\n".repeat(2),
      );
      // Nothing written to the registry, for either platform.
      const written = proxy.requests.filter((q) => q.method !== "GET" && q.method !== "HEAD");
      assert.deepEqual(written.map((q) => `${q.method} ${q.path}`), []);
      assert.deepEqual((await getJson(reg.url, "app/multi/tags/list")).body, {
        name: "app/multi",
        tags: ["1"],
      });
      for (const i of indexes) {
        assert.equal((await getJson(reg.url, `app/multi/manifests/${i.digest}`)).status, 404);
      }

      // With the zTOC back, both platforms are pushed, each found through its fallback tag.
      await Deno.writeFile(blobPath(root, gone), kept);
      const ok = await sociOk(root, [...args, "linux/arm64", "-q", name]);
      assert.deepEqual(lines(ok.stdout), indexes.map((i) => i.digest));
      for (const [n, i] of indexes.entries()) {
        const tag = `sha256-${manifests[n].slice(7)}`;
        const fallback = await getJson(reg.url, `app/multi/manifests/${tag}`);
        assert.equal(fallback.status, 200, tag);
        const listed = (fallback.body as { manifests: { digest: string }[] }).manifests;
        assert.deepEqual(listed.map((d) => d.digest), [i.digest]);
      }
    });
  } finally {
    await proxy.stop();
    await reg.stop();
  }
});
