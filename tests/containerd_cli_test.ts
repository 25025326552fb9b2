/**
 * The CLI against a real containerd 1.6 (started by each test on its own
 * root, state and socket; CRI disabled), run as `deno run cli.ts`
 * processes: `--content-store containerd` for create, index list/info/rm,
 * ztoc list/info/get-file, push and rebuild-db; `containerd:NAME` and bare
 * names with the default soci store; bad inputs; a socket that is not
 * containerd's gRPC socket (its ttrpc socket, a listener that never
 * answers); a namespace that does not exist; permissions; a SIGKILL during
 * create. Images come in with `ctr images import` and `ctr images
 * pull` from the real registry. Expected artifacts are those `create oci:`
 * puts in the soci store for the same image (same digests, same bytes);
 * what containerd holds is read with `ctr`; expected labels come from the
 * index JSON.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { CONNECT_TIMEOUT_MS } from "../lib/containerd/client.ts";
import {
  ctrContentDigests,
  ctrContentLabels,
  ctrGc,
  ctrImageLabels,
  ctrImport,
  ctrLeases,
  ctrPull,
  ociArchive,
  outputWithin,
  silentSocket,
  startContainerd,
  type TestContainerd,
} from "./helpers/containerd.ts";
import {
  e2eImages,
  hostPlatform,
  lines,
  sha256,
  storeBlob,
  tempDir,
} from "./helpers/create_e2e_images.ts";
import { startRegistry } from "./helpers/registry.ts";
import { pythonLayout, run } from "./helpers/oci_fixtures.ts";

const IMG = await e2eImages();
const L = IMG.layout;
const REPO = new URL("..", import.meta.url).pathname;
const CLI = join(REPO, "cli.ts");
const EMPTY_CONFIG = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const SOCI_LABEL = "containerd.io/gc.ref.content.soci-index";
const dec = new TextDecoder();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
}

/** `deno run [perms] cli.ts --root ROOT ARGS…` with `env` added to ours. */
async function cli(
  root: string,
  args: string[],
  options: { env?: Record<string, string>; perms?: string[] } = {},
): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      ...(options.perms ?? ["-A"]),
      CLI,
      "--root",
      root,
      ...args,
    ],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...(options.env ?? {}) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    stdoutBytes: out.stdout,
  };
}

/**
 * `soci ARGS…` as {@link cli}, killed (SIGKILL) if it has not ended after
 * `limitMs`; with how long it ran and whether it had to be killed.
 */
async function cliWithin(
  root: string,
  args: string[],
  limitMs: number,
): Promise<Result & { ms: number; killed: boolean }> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-prompt", "-A", CLI, "--root", root, ...args],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { out, killed } = await outputWithin(child, limitMs);
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    stdoutBytes: out.stdout,
    ms: performance.now() - started,
    killed,
  };
}

/** Every row of every table of the root's artifacts DB, as text (to compare before/after). */
function dbRows(root: string): string[] {
  const db = new DatabaseSync(join(root, "artifacts.sqlite"), { readOnly: true });
  try {
    const rows: string[] = [];
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all() as Array<{ name: string }>;
    for (const { name } of tables) {
      for (const row of db.prepare(`SELECT * FROM "${name}"`).all()) {
        rows.push(`${name} ${JSON.stringify(row)}`);
      }
    }
    return rows.sort();
  } finally {
    db.close();
  }
}

async function cliOk(root: string, args: string[], options = {}): Promise<Result> {
  const r = await cli(root, args, options);
  assert.equal(r.code, 0, `soci ${args.join(" ")}: ${r.stderr}${r.stdout}`);
  return r;
}

/** The containerd store flags for `c`. */
const ctrd = (c: TestContainerd, ns = "default") => [
  "--content-store",
  "containerd",
  "--address",
  c.socket,
  "--namespace",
  ns,
];

/** Archives of the test images (skopeo), made once, removed at unload. */
const ARCHIVES = await (async () => {
  const dir = await tempDir("soci-ctrd-cli-");
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  for (const tag of ["app", "multi", "sibling"]) {
    await ociArchive(L, tag, join(dir, `${tag}.tar`));
  }
  return dir;
})();

/** An index as the soci store holds it: digest, bytes, parsed JSON. */
interface StoredIndex {
  digest: string;
  bytes: Uint8Array;
  config: string;
  ztocs: string[];
}

/**
 * What `create oci:` puts in a soci store for each image (min layer size
 * 0; multi with all platforms): the index digests as printed, in order.
 */
const EXPECTED = await (async () => {
  const dir = await tempDir("soci-ctrd-expected-");
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  const root = join(dir, "root");
  const make = async (args: string[]) => {
    const out = (await cliOk(root, ["create", "-q", "--min-layer-size", "0", ...args])).stdout;
    const indexes: StoredIndex[] = [];
    for (const digest of lines(out)) {
      const bytes = await Deno.readFile(storeBlob(root, digest));
      const doc = JSON.parse(dec.decode(bytes));
      indexes.push({
        digest,
        bytes,
        config: doc.config.digest,
        ztocs: doc.layers.map((l: { digest: string }) => l.digest),
      });
    }
    return indexes;
  };
  const app = await make([`oci:${L}:app`]);
  const multi = await make(["--all-platforms", `oci:${L}:multi`]);
  const sibling = await make([`oci:${L}:sibling`]);
  const ztocBytes = new Map<string, Uint8Array>();
  for (const i of [...app, ...multi, ...sibling]) {
    for (const z of i.ztocs) ztocBytes.set(z, await Deno.readFile(storeBlob(root, z)));
  }
  return { root, app, multi, sibling, ztocBytes };
})();

/** The labels upstream puts on a SOCI index blob (F§10.3), from its JSON. */
function indexLabels(i: StoredIndex): Record<string, string> {
  const labels: Record<string, string> = { "containerd.io/gc.ref.content.config": i.config };
  i.ztocs.forEach((z, n) => labels[`containerd.io/gc.ref.content.ztoc.${n}`] = z);
  return labels;
}

/** The labels of an image record that keeps `indexes` (`last` built last). */
function imageLabels(indexes: StoredIndex[]): Record<string, string> {
  const labels: Record<string, string> = { [SOCI_LABEL]: indexes[indexes.length - 1].digest };
  for (const i of indexes) labels[`${SOCI_LABEL}.${i.digest.slice(7)}`] = i.digest;
  return labels;
}

async function withDaemon(
  fn: (c: TestContainerd, root: string, scratch: string) => Promise<void>,
): Promise<void> {
  const c = await startContainerd();
  const scratch = await tempDir("soci-ctrd-cli-root-");
  try {
    await fn(c, join(scratch, "root"), scratch);
  } finally {
    await c.stop();
    await Deno.remove(scratch, { recursive: true });
  }
}

/** Imports the images as docker.io/library/img:<tag> into `ns`. */
async function importImages(c: TestContainerd, ns = "default", tags = ["app", "multi", "sibling"]) {
  for (const tag of tags) {
    await ctrImport(c, join(ARCHIVES, `${tag}.tar`), {
      baseName: "docker.io/library/img",
      namespace: ns,
    });
  }
  // ctr's import lease is gone; collect what it alone held now, so that the
  // test's "before" snapshots do not race containerd's background GC.
  await ctrGc(c, ns);
}

Deno.test("containerd CLI: create by short and full name, single- and multi-platform: the soci store's artifacts, upstream's labels, kept by the GC", async () => {
  await withDaemon(async (c, root) => {
    await importImages(c);
    const create = async (args: string[]) =>
      lines(
        (await cliOk(root, [...ctrd(c), "create", "-q", "--min-layer-size", "0", ...args]))
          .stdout,
      );
    assert.deepEqual(await create(["img:app"]), EXPECTED.app.map((i) => i.digest));
    assert.deepEqual(
      await create(["--all-platforms", "docker.io/library/img:multi"]),
      EXPECTED.multi.map((i) => i.digest),
    );
    assert.deepEqual(
      await create(["containerd:img:sibling"]),
      EXPECTED.sibling.map((i) => i.digest),
    );
    const all = [...EXPECTED.app, ...EXPECTED.multi, ...EXPECTED.sibling];

    // Same bytes as the soci store, our labels, nothing left in a lease; kept by the GC.
    await ctrGc(c);
    const content = await ctrContentLabels(c);
    for (const i of all) {
      assert.deepEqual(await c.ctrBytes(["content", "get", i.digest]), i.bytes);
      assert.deepEqual(content.get(i.digest), indexLabels(i), i.digest);
      for (const z of i.ztocs) {
        assert.deepEqual(await c.ctrBytes(["content", "get", z]), EXPECTED.ztocBytes.get(z), z);
        assert.deepEqual(content.get(z), {}, z);
      }
    }
    assert.ok(content.has(EMPTY_CONFIG));
    const images = await ctrImageLabels(c);
    assert.deepEqual(images.get("docker.io/library/img:app"), imageLabels(EXPECTED.app));
    assert.deepEqual(images.get("docker.io/library/img:multi"), imageLabels(EXPECTED.multi));
    assert.deepEqual(images.get("docker.io/library/img:sibling"), imageLabels(EXPECTED.sibling));
    assert.deepEqual(await ctrLeases(c), []);

    // Reading commands.
    const g = ctrd(c);
    assert.deepEqual(
      lines((await cliOk(root, [...g, "index", "list", "-q", "--ref", "img:app"])).stdout),
      EXPECTED.app.map((i) => i.digest),
    );
    const table = (await cliOk(root, [...g, "index", "list"])).stdout;
    for (const i of EXPECTED.multi) {
      assert.match(
        table,
        new RegExp(`${i.digest}\\s+${i.bytes.length}\\s+docker\\.io/library/img:multi\\s`),
      );
    }
    const info = await cliOk(root, [...g, "index", "info", EXPECTED.app[0].digest]);
    assert.deepEqual(JSON.parse(info.stdout), JSON.parse(dec.decode(EXPECTED.app[0].bytes)));
    assert.deepEqual(
      lines((await cliOk(root, [...g, "ztoc", "list", "-q", "--image-ref", "img:app"])).stdout),
      EXPECTED.app[0].ztocs,
    );
    const big = EXPECTED.app[0].ztocs[1]; // the layer with app/*
    const local = await cliOk(EXPECTED.root, ["ztoc", "info", big]);
    assert.equal((await cliOk(root, [...g, "ztoc", "info", big])).stdout, local.stdout);
    const file = await cliOk(root, [...g, "ztoc", "get-file", big, "app/data/part3.bin"]);
    assert.deepEqual(file.stdoutBytes, IMG.app.layers[1].files.get("app/data/part3.bin"));

    // index rm: the index blob goes now, its zTOCs with the GC unless another index keeps them.
    const [amd, arm] = EXPECTED.multi;
    await cliOk(root, [...g, "index", "rm", amd.digest]);
    await ctrGc(c);
    const after = await ctrContentLabels(c);
    assert.ok(!after.has(amd.digest));
    const keptElsewhere = new Set([
      ...arm.ztocs,
      ...EXPECTED.sibling[0].ztocs,
      ...EXPECTED.app[0].ztocs,
    ]);
    for (const z of amd.ztocs) assert.equal(after.has(z), keptElsewhere.has(z), z);
    assert.ok(
      amd.ztocs.some((z) => !keptElsewhere.has(z)) && amd.ztocs.some((z) => keptElsewhere.has(z)),
    );
    const multiLabels = (await ctrImageLabels(c)).get("docker.io/library/img:multi")!;
    assert.deepEqual(multiLabels, imageLabels([arm])); // the last one was arm's: it stays
    assert.deepEqual(
      lines((await cliOk(root, [...g, "index", "list", "-q", "--ref", "img:multi"])).stdout),
      [arm.digest],
    );

    // Deleting the image lets the GC collect its indexes and zTOCs.
    await c.ctr(["images", "rm", "docker.io/library/img:app"]);
    await ctrGc(c);
    const gone = await ctrContentLabels(c);
    assert.ok(!gone.has(EXPECTED.app[0].digest));
    for (const z of EXPECTED.app[0].ztocs) assert.ok(!gone.has(z), z);
    assert.ok(gone.has(arm.digest) && gone.has(EXPECTED.sibling[0].digest));
    // rebuild-db brings the DB in line: the rows of collected blobs go.
    await cliOk(root, [...g, "rebuild-db"]);
    assert.deepEqual(
      lines((await cliOk(root, [...g, "index", "list", "-q"])).stdout).sort(),
      [arm.digest, EXPECTED.sibling[0].digest].sort(),
    );
    assert.deepEqual(await ctrLeases(c), []);
  });
});

Deno.test("containerd CLI: rebuild-db after ctr content rm of a zTOC, and from containerd's content alone", async () => {
  await withDaemon(async (c, root) => {
    await importImages(c, "default", ["app"]);
    const g = ctrd(c);
    await cliOk(root, [...g, "create", "--min-layer-size", "0", "img:app"]);
    const [first, ...rest] = EXPECTED.app[0].ztocs;
    await c.ctr(["content", "rm", first]);
    assert.deepEqual(
      lines((await cliOk(root, [...g, "ztoc", "list", "-q"])).stdout).sort(),
      [
        first,
        ...rest,
      ].sort(),
    );
    assert.equal((await cliOk(root, [...g, "rebuild-db"])).stdout, "");
    assert.deepEqual(
      lines((await cliOk(root, [...g, "ztoc", "list", "-q"])).stdout).sort(),
      [
        ...rest,
      ].sort(),
    );
    assert.deepEqual(lines((await cliOk(root, [...g, "index", "list", "-q"])).stdout), [
      EXPECTED.app[0].digest,
    ]);

    // The DB lost: rebuilt from containerd's blobs and image records.
    await Deno.remove(join(root, "artifacts.sqlite"));
    await cliOk(root, [...g, "rebuild-db"]);
    const listed = JSON.parse((await cliOk(root, [...g, "index", "list", "--json"])).stdout);
    assert.equal(listed.length, 1);
    assert.equal(listed[0].digest, EXPECTED.app[0].digest);
    assert.equal(listed[0].platform, "linux/amd64");
    assert.equal(listed[0].imageDigest, IMG.app.manifest.digest);
    assert.deepEqual(listed[0].imageRefs, ["docker.io/library/img:app"]);
    assert.deepEqual(
      lines((await cliOk(root, [...g, "ztoc", "list", "-q"])).stdout).sort(),
      [
        ...rest,
      ].sort(),
    );
  });
});

Deno.test("containerd CLI: images pulled from the registry: create by full name, push from the containerd store", async () => {
  const reg = await startRegistry();
  try {
    for (const tag of ["app", "multi"]) {
      await run("skopeo", [
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        `oci:${L}:${tag}`,
        `docker://${reg.host}/team/app:${tag}`,
      ]);
    }
    await withDaemon(async (c, root) => {
      const g = ctrd(c, "pulled");
      for (const tag of ["app", "multi"]) await ctrPull(c, `${reg.host}/team/app:${tag}`, "pulled");
      const made = lines(
        (await cliOk(root, [
          ...g,
          "create",
          "-q",
          "--min-layer-size",
          "0",
          `${reg.host}/team/app:app`,
        ])).stdout,
      );
      assert.deepEqual(made, EXPECTED.app.map((i) => i.digest));
      const multi = lines(
        (await cliOk(root, [
          ...g,
          "create",
          "-q",
          "--min-layer-size",
          "0",
          "--all-platforms",
          `${reg.host}/team/app:multi`,
        ])).stdout,
      );
      assert.deepEqual(multi, EXPECTED.multi.map((i) => i.digest));

      const pushed = await cliOk(root, [
        ...g,
        "push",
        "--plain-http",
        "-q",
        "--all-platforms",
        `${reg.host}/team/app:multi`,
      ]);
      assert.deepEqual(lines(pushed.stdout), EXPECTED.multi.map((i) => i.digest));
      for (const i of EXPECTED.multi) {
        const m = await fetch(`${reg.url}/v2/team/app/manifests/${i.digest}`, {
          headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
        });
        assert.equal(m.status, 200);
        assert.deepEqual(new Uint8Array(await m.arrayBuffer()), i.bytes);
        for (const z of [...i.ztocs, EMPTY_CONFIG]) {
          const b = await fetch(`${reg.url}/v2/team/app/blobs/${z}`);
          assert.equal(b.status, 200, z);
          assert.equal(sha256(new Uint8Array(await b.arrayBuffer())), z);
        }
      }
      // The fallback tag of the amd64 manifest lists its index.
      const amdManifest = IMG.multi.amd64.manifest.digest;
      const tag = `sha256-${amdManifest.slice(7)}`;
      const fallback = await fetch(`${reg.url}/v2/team/app/manifests/${tag}`, {
        headers: { Accept: "application/vnd.oci.image.index.v1+json" },
      });
      const listedIn = (await fallback.json()).manifests.map((d: { digest: string }) => d.digest);
      assert.deepEqual(listedIn, [EXPECTED.multi[0].digest]);
      assert.deepEqual(await ctrLeases(c, "pulled"), []);
    });
  } finally {
    await reg.stop();
  }
});

Deno.test("containerd CLI: bad inputs are one clear line each, and leave nothing behind", async () => {
  await withDaemon(async (c, root) => {
    await importImages(c, "default", ["app"]);
    const fails = async (args: string[], line: string, env?: Record<string, string>) => {
      const r = await cli(root, args, { env });
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}`);
      assert.equal(r.stderr, `soci: ${line}\n`, args.join(" "));
      assert.equal(r.stdout, "");
    };
    await fails(
      ["--content-store", "local", "index", "list"],
      "unknown content store type: local; must be one of [soci containerd]",
    );
    await fails(
      ["--content-store", "containerd", "--address", "/nonexistent/c.sock", "create", "img:app"],
      "containerd socket /nonexistent/c.sock does not exist: is containerd running? " +
        "(set --address or CONTAINERD_ADDRESS)",
    );
    // The same through the environment variables.
    await fails(
      ["--content-store", "containerd", "create", "img:app"],
      "containerd socket /nonexistent/env.sock does not exist: is containerd running? " +
        "(set --address or CONTAINERD_ADDRESS)",
      { CONTAINERD_ADDRESS: "/nonexistent/env.sock" },
    );
    await fails(
      [...ctrd(c), "create", "nope:1"],
      'image "docker.io/library/nope:1": not found in containerd namespace default',
    );
    await fails(
      ["--content-store", "containerd", "create", "img:app"],
      "containerd namespace elsewhere does not exist (set --namespace or CONTAINERD_NAMESPACE)",
      { CONTAINERD_ADDRESS: c.socket, CONTAINERD_NAMESPACE: "elsewhere" },
    );
    await fails(
      ["--address", c.socket, "create", "containerd:nope:1"],
      'image "docker.io/library/nope:1": not found in containerd namespace default',
    );
    await fails(
      ["--address", c.socket, "create", "nope:1"],
      `image nope:1: not found in the local store (${root}/content), nor in containerd ` +
        `namespace default (${c.socket}); give the image as oci:DIR[:TAG], ` +
        "oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG], or a name that create stored",
    );
    await fails(
      ["--address", c.socket, "--namespace", "elsewhere", "create", "img:app"],
      `image img:app: not found in the local store (${root}/content), nor in containerd ` +
        `namespace elsewhere (which does not exist) (${c.socket}); give the image as ` +
        "oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG], or a name that " +
        "create stored",
    );
    const r = await cli(root, [...ctrd(c), "index", "list", "--ref", "nope:1"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^soci: image nope:1: not found in containerd namespace default \\(${c.socket}\\); `,
      ),
    );
    // A zTOC whose blob containerd lost.
    await cliOk(root, [...ctrd(c), "create", "--min-layer-size", "0", "img:app"]);
    const z = EXPECTED.app[0].ztocs[0];
    await c.ctr(["content", "rm", z]);
    await fails(
      [...ctrd(c), "ztoc", "info", z],
      `ztoc ${z} is recorded but its blob is missing (try "soci rebuild-db")`,
    );
    assert.deepEqual(await ctrLeases(c), []);
  });
});

Deno.test("containerd CLI: a socket that is not containerd's gRPC socket fails create, rebuild-db, index list and index rm in bounded time, in one line, changing nothing", async () => {
  await withDaemon(async (c, root, scratch) => {
    await importImages(c, "default", ["app"]);
    await cliOk(root, [...ctrd(c), "create", "--min-layer-size", "0", "img:app"]);
    const before = dbRows(root);
    assert.ok(before.some((r) => r.startsWith("artifacts ")), before.join("\n"));
    assert.ok((await Deno.stat(c.ttrpcSocket)).isSocket);
    await using silent = silentSocket(join(scratch, "silent.sock"));
    const commands = [
      ["create", "img:app"],
      ["rebuild-db"],
      ["index", "list"],
      ["index", "rm", EXPECTED.app[0].digest],
    ];
    // All at once: each waits CONNECT_TIMEOUT_MS (10 s) for containerd's answer.
    const runs = [silent.path, c.ttrpcSocket].flatMap((sock) =>
      commands.map(async (command) => {
        const args = ["--content-store", "containerd", "--address", sock, ...command];
        const r = await cliWithin(root, args, 30_000);
        const what = `${sock}: ${command.join(" ")}`;
        assert.equal(r.killed, false, `${what} still ran after 30 s`);
        assert.equal(r.code, 1, `${what}: ${r.stderr}`);
        assert.equal(
          r.stderr,
          `soci: cannot connect to containerd at ${sock}: no answer in ` +
            `${CONNECT_TIMEOUT_MS / 1000} s (is it containerd's gRPC socket?)\n`,
          what,
        );
        assert.equal(r.stdout, "", what);
        assert.ok(r.ms >= CONNECT_TIMEOUT_MS, `${what}: ended after ${r.ms} ms`);
      })
    );
    await Promise.all(runs);
    assert.ok(silent.accepted() >= commands.length, `${silent.accepted()} connections`);
    assert.deepEqual(dbRows(root), before);
    assert.deepEqual(await ctrLeases(c), []);
  });
});

Deno.test("containerd CLI: index rm through a silent socket waits without the root lock: a rebuild-db meanwhile is not held up", async () => {
  await withDaemon(async (c, root, scratch) => {
    await importImages(c, "default", ["app"]);
    await cliOk(root, [...ctrd(c), "create", "--min-layer-size", "0", "img:app"]);
    const before = dbRows(root);
    await using silent = silentSocket(join(scratch, "silent.sock"));
    const rm = cliWithin(root, [
      "--content-store",
      "containerd",
      "--address",
      silent.path,
      "index",
      "rm",
      EXPECTED.app[0].digest,
    ], 30_000);
    // Once rm talks to the socket, it waits CONNECT_TIMEOUT_MS for an answer.
    while (silent.accepted() === 0) await new Promise((r) => setTimeout(r, 20));
    const other = await cliWithin(root, [...ctrd(c), "rebuild-db"], 30_000);
    assert.equal(other.code, 0, other.stderr);
    const removing = await rm;
    assert.equal(removing.code, 1, removing.stderr);
    assert.ok(
      other.ms < CONNECT_TIMEOUT_MS / 2,
      `rebuild-db took ${Math.round(other.ms)} ms beside rm's ${Math.round(removing.ms)} ms`,
    );
    assert.deepEqual(dbRows(root), before);
  });
});

Deno.test("containerd CLI: a namespace that does not exist: rebuild-db, index rm and the reading commands fail in one line and change nothing", async () => {
  await withDaemon(async (c, root) => {
    await importImages(c, "default", ["app"]);
    await cliOk(root, [...ctrd(c), "create", "--min-layer-size", "0", "img:app"]);
    const before = dbRows(root);
    assert.ok(before.filter((r) => r.startsWith("artifacts ")).length >= 2, before.join("\n"));
    const namespaces = await c.ctr(["namespaces", "ls", "-q"]);
    const content = await ctrContentDigests(c);
    const index = EXPECTED.app[0].digest;
    const ztoc = EXPECTED.app[0].ztocs[0];
    const line = "soci: containerd namespace wrongns does not exist (set --namespace or " +
      "CONTAINERD_NAMESPACE)\n";
    for (
      const command of [
        ["rebuild-db"],
        ["index", "rm", index],
        ["index", "rm", "--ref", "img:app"],
        ["index", "list"],
        ["index", "list", "-q"],
        ["index", "list", "--ref", "img:app"],
        ["index", "info", index],
        ["ztoc", "list"],
        ["ztoc", "list", "-q"],
        ["ztoc", "list", "--image-ref", "img:app"],
        ["prefetch", "list"],
        ["prefetch", "info", index],
        ["ztoc", "info", ztoc],
        ["ztoc", "get-file", ztoc, "/etc/hostname"],
      ]
    ) {
      const r = await cli(root, [...ctrd(c, "wrongns"), ...command]);
      assert.equal(r.code, 1, `${command.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr, line, command.join(" "));
      assert.equal(r.stdout, "", command.join(" "));
      assert.deepEqual(dbRows(root), before, command.join(" "));
    }
    // The same through CONTAINERD_NAMESPACE.
    const r = await cli(root, ["--content-store", "containerd", "rebuild-db"], {
      env: { CONTAINERD_ADDRESS: c.socket, CONTAINERD_NAMESPACE: "wrongns" },
    });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, line);
    assert.deepEqual(dbRows(root), before);
    // Nothing was made or removed in containerd.
    assert.equal(await c.ctr(["namespaces", "ls", "-q"]), namespaces);
    assert.deepEqual(await ctrContentDigests(c), content);
    assert.deepEqual(await ctrLeases(c), []);
    // With the right namespace, rebuild-db has nothing to change.
    await cliOk(root, [...ctrd(c), "rebuild-db"]);
    assert.deepEqual(dbRows(root), before);
  });
});

Deno.test("containerd CLI: the soci store is unchanged; containerd images go into it by name or containerd:NAME", async () => {
  await withDaemon(async (c, root) => {
    await importImages(c, "default", ["app", "multi"]);
    // containerd's docker.io/library/app:latest is the multi image.
    await c.ctr(["images", "tag", "docker.io/library/img:multi", "docker.io/library/app:latest"]);
    const before = {
      content: (await ctrContentDigests(c)).sort(),
      images: await c.ctr(["images", "ls", "-q"]),
    };
    // From the layout into the soci store: containerd is not touched.
    const g = ["--address", c.socket];
    const fromLayout = lines(
      (await cliOk(root, [...g, "create", "-q", "--min-layer-size", "0", `oci:${L}:app`])).stdout,
    );
    assert.deepEqual(fromLayout, EXPECTED.app.map((i) => i.digest));
    // "app" is the local store's image: not containerd's app:latest.
    const again = lines(
      (await cliOk(root, [...g, "create", "-q", "--min-layer-size", "0", "app"]))
        .stdout,
    );
    assert.deepEqual(again, fromLayout);
    assert.deepEqual((await ctrContentDigests(c)).sort(), before.content);
    assert.equal(await c.ctr(["images", "ls", "-q"]), before.images);
    assert.deepEqual(await ctrLeases(c), []);

    // A name only containerd has: read from containerd, stored in the soci store.
    const fromCtrd = lines(
      (await cliOk(root, [
        ...g,
        "create",
        "-q",
        "--min-layer-size",
        "0",
        "--all-platforms",
        "img:multi",
      ])).stdout,
    );
    assert.deepEqual(fromCtrd, EXPECTED.multi.map((i) => i.digest));
    for (const i of EXPECTED.multi) {
      assert.deepEqual(await Deno.readFile(storeBlob(root, i.digest)), i.bytes);
    }
    const listed = JSON.parse(
      (await cliOk(root, ["index", "list", "--json", "--ref", "docker.io/library/img:multi"]))
        .stdout,
    );
    assert.deepEqual(
      listed.map((r: { digest: string }) => r.digest).sort(),
      EXPECTED.multi.map((i) => i.digest).sort(),
    );
    // get-file reads the layer from containerd, where the image came from.
    const z = EXPECTED.multi[0].ztocs[1];
    const out = await cliOk(root, [...g, "ztoc", "get-file", z, "bin/tool"]);
    assert.equal(out.stdout, "amd64 tool\n");
    // containerd:NAME says it explicitly, and works the same.
    const explicit = lines(
      (await cliOk(root, [
        ...g,
        "create",
        "-q",
        "--min-layer-size",
        "0",
        "containerd:docker.io/library/img:app",
      ])).stdout,
    );
    assert.deepEqual(explicit, EXPECTED.app.map((i) => i.digest));
    // Still nothing written into containerd.
    assert.deepEqual((await ctrContentDigests(c)).sort(), before.content);
    assert.deepEqual((await ctrImageLabels(c)).get("docker.io/library/img:app"), {});
  });
});

Deno.test("containerd CLI: SIGKILL during create --content-store containerd: the next writer leaves no lease, the GC no partial content", async () => {
  await withDaemon(async (c, root, scratch) => {
    // A 40 MB incompressible layer: the build takes a while.
    const layout = join(scratch, "big");
    const arch = hostPlatform().split("/")[1];
    await pythonLayout(layout, [
      { tag: "big", arch, files: { "etc/big": "big\n" }, randomBytes: 40_000_000 },
    ]);
    await ociArchive(layout, "big", join(scratch, "big.tar"));
    await ctrImport(c, join(scratch, "big.tar"), { baseName: "docker.io/library/big" });
    await ctrGc(c);
    const before = (await ctrContentDigests(c)).sort();
    await Deno.mkdir(root, { recursive: true });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        CLI,
        "--root",
        root,
        ...ctrd(c),
        "create",
        "--min-layer-size",
        "0",
        "big:big",
      ],
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Kill it once its lease holds content (the image's documents, written first).
    const started = Date.now();
    for (;;) {
      const leases = await ctrLeases(c);
      if (leases.length > 0) break;
      assert.ok(Date.now() - started < 60_000, "no lease appeared");
      await new Promise((r) => setTimeout(r, 10));
    }
    Deno.kill(child.pid, "SIGKILL");
    assert.equal((await child.status).signal, "SIGKILL", "killed before it finished");
    const leases = await ctrLeases(c);
    assert.equal(leases.length, 1);
    assert.match(leases[0].labels["containerd.io/gc.expire"], /^\d{4}-/);
    // The next writer (here rebuild-db) deletes the lease; the GC collects what it held.
    await cliOk(root, [...ctrd(c), "rebuild-db"]);
    assert.deepEqual(await ctrLeases(c), []);
    assert.deepEqual(lines((await cliOk(root, [...ctrd(c), "index", "list", "-q"])).stdout), []);
    await ctrGc(c);
    assert.deepEqual((await ctrContentDigests(c)).sort(), before);
    assert.deepEqual(await c.ctr(["content", "active"]), "REF\tSIZE\tAGE\t\n");
  });
});

Deno.test("containerd CLI: the documented permissions are enough; a missing one is one line", async () => {
  await withDaemon(async (c, root) => {
    await importImages(c, "default", ["app"]);
    const S = c.socket;
    const base = [`--allow-net=unix:${S}`, "--allow-env=GRPC_*"];
    const write = [...base, `--allow-read=${root},${S}`, `--allow-write=${root},${S}`];
    const read = [...base, `--allow-read=${root},${S}`, `--allow-write=${S}`];
    const g = ctrd(c);
    await Deno.mkdir(root);
    const digest = lines(
      (await cliOk(root, [...g, "create", "-q", "--min-layer-size", "0", "img:app"], {
        perms: write,
      })).stdout,
    )[0];
    assert.equal(digest, EXPECTED.app[0].digest);
    const z = EXPECTED.app[0].ztocs[1];
    for (
      const args of [
        ["index", "list"],
        ["index", "info", digest],
        ["ztoc", "list"],
        ["ztoc", "info", z],
        ["ztoc", "get-file", z, "app/main.js"],
        ["index", "list", "--ref", "img:app"],
      ]
    ) {
      await cliOk(root, [...g, ...args], { perms: read });
    }
    await cliOk(root, [...g, "rebuild-db"], { perms: write });
    // --direct-read: with leave to read containerd's content folder, and without (the API then).
    const contentDir = `${c.root}/io.containerd.content.v1.content`;
    for (const perms of [[...write, `--allow-read=${root},${S},${contentDir}`], write]) {
      const again = await cliOk(root, [
        ...g,
        "create",
        "-q",
        "--force",
        "--min-layer-size",
        "0",
        "--direct-read",
        "img:app",
      ], { perms });
      assert.deepEqual(lines(again.stdout), [digest]);
    }
    await cliOk(root, [...g, "index", "rm", digest], { perms: write });

    const one = async (perms: string[], line: string) => {
      const r = await cli(root, [...g, "index", "list"], { perms });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `soci: ${line}\n`);
    };
    await one(
      [`--allow-read=${root}`],
      `reaching containerd at ${S} needs --allow-read=${S} --allow-write=${S} --allow-net=unix:${S}`,
    );
    await one(
      [`--allow-read=${root},${S}`, `--allow-write=${S}`, `--allow-net=unix:${S}`],
      "talking to containerd needs --allow-env=GRPC_* (grpc-js reads its settings from GRPC_* " +
        "variables)",
    );
    // The soci store does not ask containerd about a bare name without leave to look.
    const r = await cli(root, ["--address", S, "create", "nope:1"], {
      perms: [`--allow-read=${root}`, `--allow-write=${root}`],
    });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `soci: image nope:1: not found in the local store (${root}/content), containerd (${S}) ` +
        `was not asked: that needs --allow-read=${S}; give the image as oci:DIR[:TAG], ` +
        "oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG], or a name that create stored\n",
    );
    await one(
      [`--allow-read=${root},${S}`, "--allow-env=GRPC_*"],
      `reaching containerd at ${S} needs --allow-read=${S} --allow-write=${S} --allow-net=unix:${S}`,
    );
  });
});
