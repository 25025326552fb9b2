/**
 * A Deno user's and an upstream user's first hour (issue: "no surprises"):
 * the module publishes and works from anywhere, README's permission table
 * is exact, upstream's flags are accepted, errors name the fix, names do
 * not collide, Ctrl-C stops cleanly, reading leaves the root untouched.
 * Every check runs the real CLI in a subprocess.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry } from "./helpers/registry.ts";
import { skopeoCopyToRegistry } from "./helpers/registry.ts";
import { startInterceptProxy } from "./helpers/intercept_proxy.ts";
import { snapshotTree } from "./helpers/store_tree.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const SAMPLE = join(REPO, "fixtures", "sample-image");
const LAYER = join(
  SAMPLE,
  "blobs/sha256/db5df77dec8b7d533aed0cff4e6b58d4130d063b42d6d988c110fdbbb8e54d0b",
);
const dec = new TextDecoder();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno <args>` with a clean environment (HOME in a temp dir). */
async function deno(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: opts.cwd ?? REPO,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: opts.env?.HOME ?? "/nonexistent-home",
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache/deno"),
      ...opts.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs the CLI with `-A`. */
function soci(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return deno(["run", "-A", "--quiet", join(REPO, "cli.ts"), ...args], { env });
}

async function ok(r: Promise<Run>): Promise<Run> {
  const got = await r;
  assert.equal(got.code, 0, `exit ${got.code}\nstdout: ${got.stdout}\nstderr: ${got.stderr}`);
  return got;
}

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "soci-first-hour-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno publish --dry-run passes and ships only the library, the CLI, the WASM, README and LICENSE", async () => {
  const r = await deno(["publish", "--dry-run", "--allow-dirty"]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout + r.stderr;
  const files = [...text.matchAll(/file:\/\/\S+/g)].map((m) =>
    m[0].slice(("file://" + REPO + "/").length)
  );
  assert.ok(files.length > 50, text);
  for (const f of files) {
    assert.match(f, /^(lib\/|mod\.ts$|cli\.ts$|README\.md$|LICENSE$|deno\.json$)/, f);
  }
  for (const must of ["lib/gzip/zlib.wasm", "LICENSE", "README.md", "mod.ts", "cli.ts"]) {
    assert.ok(files.includes(must), `${must} is not shipped`);
  }
  assert.match(await Deno.readTextFile(join(REPO, "LICENSE")), /Apache License\s+Version 2\.0/);
});

Deno.test("deno doc --lint is clean for both exports", async () => {
  const r = await deno(["doc", "--lint", "mod.ts", "cli.ts"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

Deno.test("a script in another directory imports <checkout>/mod.ts without --config", async () => {
  await withTemp(async (dir) => {
    const script = join(dir, "index_it.ts");
    await Deno.writeTextFile(
      script,
      `import { index, layers, OciLayoutSource, pipe, spans, ztoc } from ${
        JSON.stringify(join(REPO, "mod.ts"))
      };\n` +
        `const image = OciLayoutSource.fromReference(${
          JSON.stringify(`oci:${SAMPLE}:latest`)
        });\n` +
        "const soci = await pipe(image, layers({ minLayerSize: 0 }), spans(), ztoc(), index());\n" +
        "console.log(soci.descriptor.digest);\n",
    );
    const r = await deno(["run", "-A", script], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    // The same index the CLI builds for that image.
    const cli = await ok(soci([
      "--root",
      join(dir, "root"),
      "create",
      "-q",
      "--min-layer-size",
      "0",
      `oci:${SAMPLE}:latest`,
    ]));
    assert.equal(r.stdout.trim(), cli.stdout.trim());
    // Run as a program, the module is the CLI (deno run jsr:@soci/cli …).
    const v = await deno(["run", "-A", join(REPO, "mod.ts"), "--version"], { cwd: dir });
    assert.equal(v.stdout, "soci version 0.1.0 <unknown>\n");
  });
});

Deno.test("deno install -g -A -n soci <checkout>/cli.ts gives a working soci command", async () => {
  await withTemp(async (dir) => {
    const install = await deno([
      "install",
      "-g",
      "-A",
      "--root",
      join(dir, "inst"),
      "-n",
      "soci",
      join(REPO, "cli.ts"),
    ], { cwd: dir });
    assert.equal(install.code, 0, install.stderr);
    const bin = join(dir, "inst", "bin", "soci");
    const run = async (args: string[]) => {
      const out = await new Deno.Command(bin, {
        args,
        cwd: dir,
        env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", HOME: dir },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    const v = await run(["--version"]);
    assert.equal(v.stdout, "soci version 0.1.0 <unknown>\n", v.stderr);
    const c = await run(["create", "-q", "--min-layer-size", "0", `oci:${SAMPLE}:latest`]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^sha256:[0-9a-f]{64}\n$/);
    // The default root: $HOME/.local/share/soci.
    const l = await run(["index", "ls", "-q"]);
    assert.equal(l.stdout, c.stdout);
  });
});

/** README's permission table: command → flags (placeholders kept). */
async function readmePermissions(): Promise<Map<string, string>> {
  const readme = await Deno.readTextFile(join(REPO, "README.md"));
  const section = readme.slice(readme.indexOf("### Permissions"));
  const rows = new Map<string, string>();
  for (const line of section.split("\n")) {
    const m = /^\| (`[^|]*`(?:, `[^|]*`)*(?: \/ `[^|]*`)?)\s*\| `([^`]*)`/.exec(line);
    if (m) rows.set(m[1].trim(), m[2].trim());
  }
  return rows;
}

/** The PERMISSIONS lines of a command's --help, by case (`""` when there is one). */
async function helpPermissions(cmd: string[]): Promise<Map<string, string>> {
  const help = (await ok(soci([...cmd, "--help"]))).stdout;
  const lines = help.slice(help.indexOf("PERMISSIONS:\n") + "PERMISSIONS:\n".length).split("\n");
  const out = new Map<string, string>();
  for (const l of lines) {
    if (!l.startsWith("   ")) break;
    const m = /^ {3}(?:([a-z:/-]+): )?(--.*)$/.exec(l);
    if (m) out.set(m[1] ?? "", m[2]);
  }
  return out;
}

Deno.test("README's permission table is what each command's --help says, and each command runs with exactly those flags", async () => {
  const table = await readmePermissions();
  const expect = (row: string) => {
    const v = table.get(row);
    assert.ok(v, `README has no row ${row} (rows: ${[...table.keys()].join(" | ")})`);
    return v;
  };
  const rows: Array<[string, string[], string]> = [
    ["`create oci:…` / `oci-archive:…`", ["create"], "oci:/oci-archive:"],
    ["`create docker://…`", ["create"], "docker://:"],
    ["`push`", ["push"], ""],
    ["`convert oci:… oci:…`", ["convert"], "oci:/oci-archive:"],
    ["`convert docker://… docker://…`", ["convert"], "docker://:"],
    ["`ls oci:…`, `cat oci:…`", ["ls"], "oci:/oci-archive:"],
    ["`ls oci:…`, `cat oci:…`", ["cat"], "oci:/oci-archive:"],
    ["`ls docker://…`, `cat docker://…`", ["ls"], "docker://:"],
    ["`ls docker://…`, `cat docker://…`", ["cat"], "docker://:"],
    ["`verify oci:…`", ["verify"], "oci:/oci-archive:"],
    ["`verify docker://…`", ["verify"], "docker://:"],
    [
      "`index list`, `index info`, `ztoc list`, `prefetch list`, `prefetch info`",
      ["prefetch", "list"],
      "",
    ],
    [
      "`index list`, `index info`, `ztoc list`, `prefetch list`, `prefetch info`",
      ["prefetch", "info"],
      "",
    ],
    [
      "`index list`, `index info`, `ztoc list`, `prefetch list`, `prefetch info`",
      ["index", "list"],
      "",
    ],
    [
      "`index list`, `index info`, `ztoc list`, `prefetch list`, `prefetch info`",
      ["index", "info"],
      "",
    ],
    [
      "`index list`, `index info`, `ztoc list`, `prefetch list`, `prefetch info`",
      ["ztoc", "list"],
      "",
    ],
    ["`index rm`, `rebuild-db`", ["index", "rm"], ""],
    ["`index rm`, `rebuild-db`", ["rebuild-db"], ""],
    ["`ztoc build`", ["ztoc", "build"], ""],
    ["`ztoc info FILE`", ["ztoc", "info"], "file:"],
    ["`ztoc info DIGEST`", ["ztoc", "info"], "digest:"],
    ["`ztoc get-file --layer LAYER FILE PATH`", ["ztoc", "get-file"], "file:"],
    ["`ztoc get-file DIGEST PATH`", ["ztoc", "get-file"], "digest:"],
  ];
  for (const [row, cmd, kase] of rows) {
    const help = await helpPermissions(cmd);
    assert.equal(help.get(kase.replace(/:$/, "")), expect(row), `${cmd.join(" ")} ${kase}`);
  }

  // Run each with exactly those flags.
  const reg = await startRegistry();
  try {
    await skopeoCopyToRegistry(SAMPLE, "latest", `${reg.host}/sample:1`);
    await withTemp(async (dir) => {
      const rootA = join(dir, "a");
      const rootB = join(dir, "b");
      const out = join(dir, "out");
      await Deno.mkdir(out);
      const fill = (flags: string, root: string) =>
        flags.replaceAll("<root>", root).replaceAll("<checkout>", REPO)
          .replaceAll("<image>", SAMPLE).replaceAll("<registry>", reg.host)
          .replaceAll("<layer>", LAYER).replaceAll("<output dir>", out)
          .replaceAll("<ztoc>", join(out, "l.ztoc")).replaceAll("<dest>", join(dir, "conv"))
          .replaceAll("<registries>", reg.host).split(" ");
      const scoped = (row: string, root: string, args: string[]) =>
        deno(["run", "--quiet", ...fill(expect(row), root), join(REPO, "cli.ts"), ...args]);
      const must = async (row: string, root: string, args: string[]) => {
        const r = await scoped(row, root, args);
        assert.equal(r.code, 0, `${row}: ${args.join(" ")}\n${r.stderr}`);
        assert.doesNotMatch(r.stderr, /Requires|NotCapable|PermissionDenied/, r.stderr);
        return r;
      };
      const min = ["--min-layer-size", "0"];
      const idx = (await must("`create oci:…` / `oci-archive:…`", rootA, [
        "--root",
        rootA,
        "create",
        "-q",
        ...min,
        `oci:${SAMPLE}:latest`,
      ])).stdout.trim();
      await must("`create docker://…`", rootB, [
        "--root",
        rootB,
        "create",
        "-q",
        "--plain-http",
        ...min,
        `docker://${reg.host}/sample:1`,
      ]);
      await must("`push`", rootB, [
        "--root",
        rootB,
        "push",
        "--plain-http",
        `${reg.host}/sample:1`,
      ]);
      const readRow = "`index list`, `index info`, `ztoc list`, `prefetch list`, `prefetch info`";
      await must(readRow, rootA, ["--root", rootA, "index", "list"]);
      await must(readRow, rootA, ["--root", rootA, "prefetch", "list"]);
      // convert, both ways; then the readers, from a layout with the local store's index and
      // from the registry with an empty root (the index found through the fallback tag).
      const rootC = join(dir, "c");
      const conv = await must("`convert oci:… oci:…`", rootC, [
        "--root",
        rootC,
        "convert",
        "-q",
        ...min,
        `oci:${SAMPLE}:latest`,
        `oci:${join(dir, "conv")}:soci`,
      ]);
      assert.match(conv.stdout, /^sha256:[0-9a-f]{64}\n$/);
      await must("`convert docker://… docker://…`", rootC, [
        "--root",
        rootC,
        "convert",
        "-q",
        "--plain-http",
        ...min,
        `docker://${reg.host}/sample:1`,
        `docker://${reg.host}/sample-soci:1`,
      ]);
      const lsOci = await must("`ls oci:…`, `cat oci:…`", rootA, [
        "--root",
        rootA,
        "ls",
        `oci:${SAMPLE}:latest`,
      ]);
      assert.match(lsOci.stdout, / app\/main\.js\n/);
      const main = await new Deno.Command("tar", { args: ["-xzOf", LAYER, "app/main.js"] })
        .output();
      assert.ok(main.success && main.stdout.length > 0);
      const catOci = await must("`ls oci:…`, `cat oci:…`", rootA, [
        "--root",
        rootA,
        "cat",
        `oci:${SAMPLE}:latest`,
        "app/main.js",
      ]);
      assert.equal(catOci.stdout, new TextDecoder().decode(main.stdout));
      const rootE = join(dir, "e");
      const lsReg = await must("`ls docker://…`, `cat docker://…`", rootE, [
        "--root",
        rootE,
        "ls",
        "--plain-http",
        `docker://${reg.host}/sample:1`,
      ]);
      assert.equal(lsReg.stdout, lsOci.stdout);
      const catReg = await must("`ls docker://…`, `cat docker://…`", rootE, [
        "--root",
        rootE,
        "cat",
        "--plain-http",
        `docker://${reg.host}/sample:1`,
        "app/main.js",
      ]);
      assert.equal(catReg.stdout, catOci.stdout);
      await must("`verify oci:…`", rootA, ["--root", rootA, "verify", `oci:${SAMPLE}:latest`]);
      await must("`verify docker://…`", rootE, [
        "--root",
        rootE,
        "verify",
        "--plain-http",
        `docker://${reg.host}/sample-soci:1`,
      ]);
      await must(readRow, rootA, ["--root", rootA, "index", "info", idx]);
      const ztocs = (await must(readRow, rootA, ["--root", rootA, "ztoc", "list", "-q"]))
        .stdout.trim().split("\n");
      await must("`ztoc build`", rootA, ["ztoc", "build", "-o", join(out, "l.ztoc"), LAYER]);
      await must("`ztoc info FILE`", rootA, ["ztoc", "info", join(out, "l.ztoc")]);
      await must("`ztoc info DIGEST`", rootA, ["--root", rootA, "ztoc", "info", ztocs[0]]);
      await must("`ztoc get-file --layer LAYER FILE PATH`", rootA, [
        "ztoc",
        "get-file",
        "--layer",
        LAYER,
        join(out, "l.ztoc"),
        "app/main.js",
      ]);
      const z = (await must(readRow, rootA, ["--root", rootA, "ztoc", "list"])).stdout
        .split("\n").find((l) => l.includes(LAYER.slice(-64)))!.split(/\s+/)[0];
      await must("`ztoc get-file DIGEST PATH`", rootA, [
        "--root",
        rootA,
        "ztoc",
        "get-file",
        z,
        "app/main.js",
      ]);
      await must("`index rm`, `rebuild-db`", rootA, ["--root", rootA, "rebuild-db"]);
      await must("`index rm`, `rebuild-db`", rootA, ["--root", rootA, "index", "rm", idx]);
      // Reading commands left no SQLite side files (they may not write).
      const names = (await Array.fromAsync(Deno.readDir(rootA))).map((e) => e.name).sort();
      assert.deepEqual(names, ["artifacts.sqlite", "content"]);
    });
  } finally {
    await reg.stop();
  }
});

Deno.test("deno.json has a task per main command with its least permissions, and the demo uses it", async () => {
  const cfg = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json")));
  for (const t of ["create", "convert", "push", "rebuild-db"]) {
    const task: string = cfg.tasks[t];
    assert.ok(task, `no task ${t}`);
    assert.doesNotMatch(task, /\s-A\b|--allow-all/, t);
    assert.match(task, new RegExp(`cli\\.ts ${t}$`), t);
  }
  assert.match(cfg.tasks.demo, /^deno task create /);
  await withTemp(async (dir) => {
    const r = await deno(["task", "--quiet", "demo"], { env: { HOME: dir } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /soci index sha256:[0-9a-f]{64} for linux\/amd64 \(2 ztocs\)/);
    assert.ok((await Deno.stat(join(dir, ".local/share/soci/artifacts.sqlite"))).isFile);
  });
});

Deno.test("upstream's flags are accepted where upstream accepts them; ones we cannot honour say so in one line", async () => {
  await withTemp(async (dir) => {
    const root = join(dir, "root");
    // Global flags before the command, and after it (urfave's rule).
    await ok(soci([
      "--address",
      "/run/x.sock",
      "-n",
      "ns",
      "--content-store",
      "soci",
      "--timeout",
      "1m",
      "--root",
      root,
      "create",
      "-q",
      "--min-layer-size",
      "0",
      `oci:${SAMPLE}:latest`,
    ]));
    await ok(soci(["index", "ls", "--root", root, "-a", "/run/x.sock", "--namespace", "default"]));
    const bad = await soci(["--root", root, "--content-store", "nope", "index", "ls"]);
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      "soci: unknown content store type: nope; must be one of [soci containerd]\n",
    );
    // push's upstream-only flags: accepted; the ones we cannot honour warn in one line each.
    const p = await soci([
      "--root",
      root,
      "push",
      "-k",
      "--hosts-dir",
      "/etc/containerd/certs.d",
      "--snapshotter",
      "soci",
      "--existing-index",
      "allow",
      "--plain-http",
      "127.0.0.1:9/none:1", // not in the store: fails after the warnings
    ]);
    const err = p.stderr.trim().split("\n");
    assert.match(err[0], /^warning: --skip-verify is not supported: .*--tlscacert/);
    assert.match(err[1], /^warning: --hosts-dir is not supported: /);
    assert.match(err[2], /^soci: image 127\.0\.0\.1:9\/none:1 is not in the local store/);
    assert.equal(err.length, 3, p.stderr);
    // An unknown flag: one line, naming the help to read.
    const u = await soci(["--root", root, "create", "--nope", "x"]);
    assert.equal(u.code, 1);
    assert.equal(
      u.stderr,
      'soci: flag provided but not defined: -nope (see "soci create --help")\n',
    );
  });
});

Deno.test("ztoc info prints upstream's JSON by default; --table is the human view", async () => {
  await withTemp(async (dir) => {
    const z = join(dir, "l.ztoc");
    await ok(soci(["ztoc", "build", "-o", z, LAYER]));
    const def = (await ok(soci(["ztoc", "info", z]))).stdout;
    const json = (await ok(soci(["ztoc", "info", "--json", z]))).stdout;
    assert.equal(def, json);
    const doc = JSON.parse(def);
    // Upstream's members, in upstream's order, and nothing else.
    assert.deepEqual(Object.keys(doc), [
      "version",
      "build_tool",
      "size",
      "span_size",
      "num_spans",
      "num_files",
      "num_multi_span_files",
      "files",
    ]);
    assert.deepEqual(Object.keys(doc.files[0]), [
      "filename",
      "offset",
      "size",
      "type",
      "start_span",
      "end_span",
    ]);
    assert.ok(def.endsWith("\n}\n") && def.startsWith('{\n  "version": "0.9",\n'));
    const table = (await ok(soci(["ztoc", "info", "--table", z]))).stdout;
    assert.match(table, /^Version: +0\.9$/m);
    assert.match(table, /^FILENAME +OFFSET +SIZE +TYPE +START SPAN +END SPAN/m);
    // Not a zTOC: says so.
    const notZ = await soci(["ztoc", "info", LAYER]);
    assert.equal(notZ.code, 1);
    assert.match(notZ.stderr, new RegExp(`^soci: ${LAYER} is not a zTOC \\(`));
  });
});

Deno.test("names never collide silently: oci:A:v1 then oci:B:v1 keep both images; --name picks one", async () => {
  await withTemp(async (dir) => {
    const root = join(dir, "root");
    // Two layouts with the same tag v1 and different images.
    const a = join(dir, "a");
    const b = join(dir, "b");
    for (const [dst, label] of [[a, "A"], [b, "B"]]) {
      await new Deno.Command("skopeo", {
        args: ["copy", "-q", `oci:${SAMPLE}:latest`, `oci:${dst}:v1`],
      }).output();
      await new Deno.Command("umoci", {
        args: ["config", "--image", `${dst}:v1`, "--config.label", `which=${label}`],
      }).output();
    }
    const ca = await ok(soci(["--root", root, "create", "--min-layer-size", "0", `oci:${a}:v1`]));
    assert.match(ca.stderr, /^image stored as v1 \(/m);
    const cb = await ok(soci(["--root", root, "create", "--min-layer-size", "0", `oci:${b}:v1`]));
    assert.match(cb.stderr, /^image stored as v1-2 \(/m);
    // Again from A: the same name, not a third one.
    const ca2 = await ok(soci(["--root", root, "create", "--min-layer-size", "0", `oci:${a}:v1`]));
    assert.match(ca2.stderr, /^image stored as v1 \(/m);
    const list = (await ok(soci(["--root", root, "index", "ls"]))).stdout;
    assert.match(list, /\sv1\s/);
    assert.match(list, /\sv1-2\s/);
    await ok(soci(["--root", root, "index", "ls", "--ref", "v1-2", "-q"]));
    const named = await ok(soci([
      "--root",
      root,
      "create",
      "--min-layer-size",
      "0",
      "--name",
      "mine",
      `oci:${b}:v1`,
    ]));
    assert.match(named.stderr, /^image stored as mine \(/m);
    // Pushing a layout-indexed image by a registry name tells exactly what to run.
    const p = await soci(["--root", root, "push", "127.0.0.1:5999/app:1"]);
    assert.equal(p.code, 1);
    assert.match(
      p.stderr,
      /^soci: image 127\.0\.0\.1:5999\/app:1 is not in the local store: run "soci create docker:\/\/127\.0\.0\.1:5999\/app:1" first, then push again \(an image indexed from a layout, like \S+ from oci:\S+, must be in the registry first: skopeo copy --preserve-digests oci:\S+ docker:\/\/127\.0\.0\.1:5999\/app:1\)\n$/,
    );
  });
});

Deno.test("errors name the fix", async () => {
  await withTemp(async (dir) => {
    const root = join(dir, "root");
    // A bare directory or archive path.
    const d = await soci(["--root", root, "create", SAMPLE]);
    assert.match(d.stderr, new RegExp(`write oci:${SAMPLE}\\n$`));
    const archive = join(dir, "img.tar");
    await new Deno.Command("skopeo", {
      args: ["copy", "-q", `oci:${SAMPLE}:latest`, `oci-archive:${archive}:latest`],
    }).output();
    const f = await soci(["--root", root, "create", archive]);
    assert.match(f.stderr, new RegExp(`write oci-archive:${archive}\\n$`));
    // A name that is not in the store lists the transports.
    const n = await soci(["--root", root, "create", "nothere"]);
    assert.match(n.stderr, /oci:DIR\[:TAG\], oci-archive:FILE\[:TAG\] or docker:\/\/HOST/);
    // No zTOCs: the flags to use.
    const e = await soci(["--root", root, "create", `oci:${SAMPLE}:latest`]);
    assert.equal(e.code, 1);
    assert.match(e.stderr, /no ztocs created.*--min-layer-size 10485760 get none; --allow-empty/);
    // Sizes take units.
    const s = await ok(soci([
      "--root",
      root,
      "create",
      "-q",
      "--min-layer-size",
      "1KiB",
      "--span-size",
      "256KiB",
      `oci:${SAMPLE}:latest`,
    ]));
    const info = JSON.parse(
      (await ok(soci(["--root", root, "index", "info", s.stdout.trim()])))
        .stdout,
    );
    assert.equal(info.layers[0].annotations["com.amazon.soci.span-size"], "262144");
    const u = await soci(["--root", root, "create", "--span-size", "4 parsecs", "x"]);
    assert.match(u.stderr, /^soci: invalid value "4 parsecs" for flag -span-size: not a size/);
    // Unique digest prefixes work where a digest is taken.
    const prefix = s.stdout.trim().slice("sha256:".length, "sha256:".length + 8);
    const byPrefix = await ok(soci(["--root", root, "index", "info", prefix]));
    assert.deepEqual(JSON.parse(byPrefix.stdout), info);
    // An operating-system error reads as Go writes it (operation, path, then what), and
    // nothing is left behind: procfs refuses new directories.
    const before = await snapshotTree(root);
    const os = await soci([
      "--root",
      root,
      "convert",
      "--min-layer-size",
      "1KiB",
      `oci:${SAMPLE}:latest`,
      "oci:/proc/soci-test-layout:v1",
    ]);
    assert.equal(os.code, 1);
    assert.equal(
      os.stderr.split("\n").at(-2),
      "soci: mkdir /proc/soci-test-layout/blobs/sha256: no such file or directory",
    );
    assert.deepEqual(await snapshotTree(root), before);
  });
});

Deno.test("platforms: the same rule in create, index list and push (a single-platform amd64 image is never labelled arm64)", async () => {
  const reg = await startRegistry();
  try {
    await skopeoCopyToRegistry(SAMPLE, "latest", `${reg.host}/sample:1`);
    await withTemp(async (dir) => {
      const root = join(dir, "root");
      const image = `docker://${reg.host}/sample:1`;
      const min = ["--plain-http", "--min-layer-size", "0"];
      const c = await soci(["--root", root, "create", ...min, "--platform", "linux/arm64", image]);
      assert.equal(c.code, 1);
      assert.equal(
        c.stderr,
        "soci: image manifest for linux/arm64: not found (the image is linux/amd64)\n",
      );
      await ok(soci(["--root", root, "create", ...min, image]));
      const name = `${reg.host}/sample:1`;
      const l = await soci(["--root", root, "index", "ls", "--ref", name, "-p", "linux/arm64"]);
      assert.equal(l.code, 1);
      assert.match(l.stderr, /image manifest for platform linux\/arm64: not found/);
      const p = await soci(["--root", root, "push", "--plain-http", "-p", "linux/arm64", name]);
      assert.equal(p.code, 1);
      assert.match(
        p.stderr,
        /image manifest for linux\/arm64: not found \(the image is linux\/amd64\)/,
      );
      // By default, all three work on the image's own platform.
      await ok(soci(["--root", root, "index", "ls", "--ref", name, "-p", "linux/amd64", "-q"]));
      await ok(soci(["--root", root, "push", "--plain-http", name]));
    });
  } finally {
    await reg.stop();
  }
});

Deno.test("Ctrl-C (or SIGTERM, SIGHUP) during create: one line, exit 130 (143, 129), the root as it was, no ingest files", async () => {
  const reg = await startRegistry();
  // The proxy trickles the layers, so that the create is caught reading one.
  let sawLayer: () => void = () => {};
  let reading = new Promise<void>((r) => sawLayer = r);
  const proxy = startInterceptProxy(reg.url, async (req, forward) => {
    const res = await forward();
    if (req.method !== "GET" || !req.path.includes("/blobs/") || !res.body) return res;
    sawLayer();
    const reader = res.body.getReader();
    const slow = new ReadableStream<Uint8Array>({
      async pull(c) {
        await new Promise((r) => setTimeout(r, 200));
        const { done, value } = await reader.read();
        if (done) c.close();
        else c.enqueue(value.subarray(0, Math.min(value.length, 1024)));
        if (value && value.length > 1024) {
          // the rest later, in small pieces
          for (let o = 1024; o < value.length; o += 1024) c.enqueue(value.subarray(o, o + 1024));
        }
      },
      cancel: () => reader.cancel(),
    });
    return new Response(slow, { status: res.status, headers: res.headers });
  });
  try {
    await skopeoCopyToRegistry(SAMPLE, "latest", `${reg.host}/sample:1`);
    for (
      const [signal, status, line] of [
        ["SIGINT", 130, "soci: interrupted"],
        ["SIGTERM", 143, "soci: terminated"],
        ["SIGHUP", 129, "soci: hangup"],
      ] as const
    ) {
      reading = new Promise<void>((r) => sawLayer = r);
      await withTemp(async (dir) => {
        const root = join(dir, "root");
        await Deno.mkdir(root);
        const before = await snapshotTree(root);
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "--quiet",
            join(REPO, "cli.ts"),
            "--root",
            root,
            "create",
            "--plain-http",
            "--min-layer-size",
            "0",
            `docker://${proxy.host}/sample:1`,
          ],
          env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        await reading;
        await new Promise((r) => setTimeout(r, 300));
        child.kill(signal);
        const out = await child.output();
        assert.equal(out.code, status, dec.decode(out.stderr));
        assert.equal(dec.decode(out.stderr), `${line}\n`);
        assert.deepEqual(await snapshotTree(root), before);
      });
    }
  } finally {
    await proxy.stop();
    await reg.stop();
  }
});

Deno.test("--plain-http is remembered with the image: ztoc get-file DIGEST PATH reads the registry the same way", async () => {
  const reg = await startRegistry();
  try {
    await skopeoCopyToRegistry(SAMPLE, "latest", `${reg.host}/sample:1`);
    await withTemp(async (dir) => {
      const root = join(dir, "root");
      await ok(soci([
        "--root",
        root,
        "create",
        "--plain-http",
        "--min-layer-size",
        "0",
        `docker://${reg.host}/sample:1`,
      ]));
      const z = (await ok(soci(["--root", root, "ztoc", "list"]))).stdout.split("\n")
        .find((l) => l.includes(LAYER.slice(-64)))!.split(/\s+/)[0];
      const got = await ok(soci(["--root", root, "ztoc", "get-file", z, "app/main.js"]));
      const direct = await ok(soci([
        "ztoc",
        "get-file",
        "--layer",
        LAYER,
        ...await (async () => {
          const f = join(dir, "l.ztoc");
          await ok(soci(["ztoc", "build", "-o", f, LAYER]));
          return [f];
        })(),
        "app/main.js",
      ]));
      assert.equal(got.stdout, direct.stdout);
      assert.ok(got.stdout.length > 0);
    });
  } finally {
    await reg.stop();
  }
});

Deno.test("rebuild-db keeps creation times of the rows it has, and gives new rows their blobs' times", async () => {
  await withTemp(async (dir) => {
    const root = join(dir, "root");
    await ok(soci(["--root", root, "create", "--min-layer-size", "0", `oci:${SAMPLE}:latest`]));
    const times = async () =>
      JSON.parse((await ok(soci(["--root", root, "index", "ls", "--json"]))).stdout)
        .map((r: { digest: string; createdAt: string }) => [r.digest, r.createdAt]);
    const before = await times();
    await new Promise((r) => setTimeout(r, 1100));
    await ok(soci(["--root", root, "rebuild-db"]));
    assert.deepEqual(await times(), before);
    // DB gone: rebuilt rows take the blob files' times, not "now".
    for (const f of await Array.fromAsync(Deno.readDir(root))) {
      if (f.name.startsWith("artifacts.sqlite")) await Deno.remove(join(root, f.name));
    }
    await new Promise((r) => setTimeout(r, 1100));
    const start = Date.now();
    await ok(soci(["--root", root, "rebuild-db"]));
    const after = await times();
    assert.equal(after.length, 1);
    assert.ok(Date.parse(after[0][1]) < start, `${after[0][1]} is not before the rebuild`);
    // The image name came back with it.
    await ok(soci(["--root", root, "index", "ls", "--ref", "latest", "-q"]));
  });
});
