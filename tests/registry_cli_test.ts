// `create docker://…` and `push` end to end through the CLI (`deno run -A
// cli.ts …` subprocesses with `--root <tmp>`) where the registry is hard to
// talk to: htpasswd (bcrypt) + TLS with a test CA (`DENO_CERT`), credentials
// from --user, a Docker config file and credential-helper scripts, refusals
// that must not leak the password, `--debug` traces; a fault proxy (dropped
// connections, 500, 429 + Retry-After, cut bodies); an unreachable registry
// and a missing repository (one `soci: …` line, exit 1, root unchanged);
// and `create docker://` writing no layer bytes to disk.
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry, type TestRegistry } from "./helpers/registry.ts";
import { startFaultProxy } from "./helpers/fault_proxy.ts";
import { startReferrersRegistry } from "./helpers/referrers_registry.ts";
import { snapshotTree } from "./helpers/store_tree.ts";
import {
  type CliResult,
  EMPTY_CONFIG_DIGEST,
  expectedFallbackIndex,
  fallbackTagOf,
  filesUnder,
  linesOf,
  OCI_INDEX,
  OCI_MANIFEST,
  rawGet,
  type RawRegistry,
  runSoci,
  SAMPLE_LAYOUT,
  type SampleImage,
  sampleImage,
  sha256,
  skopeoCopySample,
  skopeoRaw,
  writeCredentialHelper,
  writeDockerConfig,
} from "./helpers/registry_e2e_cli.ts";

const dec = new TextDecoder();
const USER = "e2e-user";
const PASSWORD = "Pw-e2e-7f3c9a1b";
const WRONG = "Wrong-pw-5d2e8c4a";

const CHECKING = "checking if a soci index already exists in remote repository...\n";

/** Asserts a failure: exit 1, `stdout` on stdout, exactly one `soci: …` line on stderr. */
function assertOneLineFailure(r: CliResult, pattern: RegExp, stdout = ""): string {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.stdout, stdout);
  const lines = linesOf(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(r.stderr.endsWith("\n"));
  assert.match(lines[0], /^soci: /);
  assert.match(lines[0], pattern);
  return lines[0];
}

/** Asserts that no text shows the password or the Basic credentials made of it. */
function assertNoSecret(texts: string[], ...secrets: string[]): void {
  for (const text of texts) {
    for (const s of secrets) {
      assert.ok(!text.includes(s), `secret ${s} leaked`);
      assert.ok(!text.includes(btoa(`${USER}:${s}`)), `Basic credentials with ${s} leaked`);
    }
  }
}

/**
 * The `--debug` trace lines (`http …`) of a run. They are looked for on
 * both streams: the CLI is moving them from stdout to stderr.
 */
function traceOf(r: CliResult): string[] {
  // --debug traces go to stderr only: stdout keeps what --json and -q promise.
  assert.deepEqual(
    linesOf(r.stdout).filter((l) => /^http (req|res|err|retry) /.test(l)),
    [],
    "trace lines on stdout",
  );
  return linesOf(r.stderr).filter((l) => /^http (req|res|err|retry) /.test(l));
}

/** The lines of `text` that are not `--debug` trace lines. */
function untraced(text: string): string[] {
  return linesOf(text).filter((l) => !/^http (req|res|err|retry) /.test(l));
}

/** The single index line of `create -q`. */
function indexDigestOf(r: CliResult): string {
  assert.equal(r.stderr, "");
  assert.equal(r.code, 0);
  const lines = linesOf(r.stdout);
  assert.equal(lines.length, 1, r.stdout);
  assert.match(lines[0], /^sha256:[0-9a-f]{64}$/);
  return lines[0];
}

/** Registry-side state after a push of `index` for the sample image in `repo`. */
async function assertPushed(
  raw: RawRegistry,
  repo: string,
  img: SampleImage,
  index: { digest: string; size: number; bytes: Uint8Array },
): Promise<void> {
  const tag = await rawGet(
    raw,
    `/v2/${repo}/manifests/${fallbackTagOf(img.manifest.digest)}`,
    OCI_INDEX,
  );
  assert.equal(tag.status, 200);
  assert.equal(dec.decode(tag.bytes), expectedFallbackIndex([index]));
  const m = await rawGet(raw, `/v2/${repo}/manifests/${index.digest}`, OCI_MANIFEST);
  assert.equal(m.status, 200);
  assert.deepEqual(m.bytes, index.bytes);
  const doc = JSON.parse(dec.decode(index.bytes));
  assert.equal(doc.config.digest, EMPTY_CONFIG_DIGEST);
  for (const d of [doc.config, ...doc.layers]) {
    const b = await rawGet(raw, `/v2/${repo}/blobs/${d.digest}`);
    assert.equal(b.status, 200);
    assert.equal(sha256(b.bytes), d.digest);
    assert.equal(b.bytes.length, d.size);
  }
}

function blobPath(root: string, digest: string): string {
  return join(root, "content", "blobs", "sha256", digest.slice(7));
}

Deno.test("create docker:// and push via CLI, htpasswd + TLS: --user, docker config, helpers, --debug", async (t) => {
  const img = await sampleImage();
  const reg = await startRegistry({ auth: { username: USER, password: PASSWORD }, tls: true });
  const work = await Deno.makeTempDir({ prefix: "soci-e2e-auth-" });
  const caPath = reg.certs!.caCertPath;
  const client = Deno.createHttpClient({ caCerts: [reg.certs!.caPem] });
  const raw: RawRegistry = { url: reg.url, basic: `${USER}:${PASSWORD}`, client };
  const env = { DENO_CERT: caPath };
  try {
    // skopeo trusts the CA through a cert dir holding only ca.crt.
    const certDir = join(work, "skopeo-certs");
    await Deno.mkdir(certDir);
    await Deno.copyFile(caPath, join(certDir, "ca.crt"));
    for (const repo of ["u1", "u2", "u3", "u4"]) {
      await skopeoCopySample(`${reg.host}/${repo}:latest`, [
        "--dest-creds",
        `${USER}:${PASSWORD}`,
        "--dest-cert-dir",
        certDir,
      ]);
    }
    // The expected index: the same image built from its OCI layout (no registry involved).
    const layoutRoot = join(work, "root-layout");
    const expected = indexDigestOf(
      await runSoci([
        "--root",
        layoutRoot,
        "create",
        "-q",
        "--min-layer-size",
        "0",
        `oci:${SAMPLE_LAYOUT}:latest`,
      ]),
    );
    const expectedBytes = await Deno.readFile(blobPath(layoutRoot, expected));
    const index = { digest: expected, size: expectedBytes.length, bytes: expectedBytes };

    /** create -q then push with the given extra flags/env; both must succeed. */
    const createAndPush = async (
      repo: string,
      flags: string[],
      extraEnv: Record<string, string>,
    ) => {
      const root = join(work, `root-${repo}`);
      const e = { ...env, ...extraEnv };
      const c = await runSoci(
        [
          "--root",
          root,
          "create",
          "-q",
          "--min-layer-size",
          "0",
          ...flags,
          `docker://${reg.host}/${repo}:latest`,
        ],
        { env: e },
      );
      assert.equal(indexDigestOf(c), expected);
      const p = await runSoci(["--root", root, "push", ...flags, `${reg.host}/${repo}:latest`], {
        env: e,
      });
      assert.deepEqual([p.code, p.stderr], [0, ""], p.stdout + p.stderr);
      assert.ok(
        linesOf(p.stdout).includes(`successfully pushed artifact with digest: ${expected}`),
        p.stdout,
      );
      assertNoSecret([c.stdout, c.stderr, p.stdout, p.stderr], PASSWORD);
      await assertPushed(raw, repo, img, index);
      return root;
    };

    await t.step("no credentials: create and push fail with one clear line", async () => {
      const root = join(work, "root-anon");
      const c = await runSoci(
        ["--root", root, "create", "--min-layer-size", "0", `docker://${reg.host}/u1:latest`],
        { env },
      );
      assertOneLineFailure(c, /401 Unauthorized.*no credentials/);
    });

    let root1 = "";
    await t.step("--user: create docker:// and push work", async () => {
      root1 = await createAndPush("u1", ["--user", `${USER}:${PASSWORD}`], {});
    });

    await t.step(
      "bad --user: one line without the password; push without credentials fails (item 23)",
      async () => {
        const before = await snapshotTree(root1);
        const c = await runSoci(
          [
            "--root",
            root1,
            "create",
            "--min-layer-size",
            "0",
            "--user",
            `${USER}:${WRONG}`,
            `docker://${reg.host}/u1:latest`,
          ],
          { env },
        );
        assertOneLineFailure(
          c,
          new RegExp(`${reg.host.replaceAll(".", "\\.")}.*401.*credentials were refused`),
        );
        assertNoSecret([c.stdout, c.stderr], WRONG);
        const p = await runSoci(
          ["--root", root1, "push", "--user", `${USER}:${WRONG}`, `${reg.host}/u1:latest`],
          { env },
        );
        assertOneLineFailure(p, /401.*credentials were refused/, CHECKING);
        assertNoSecret([p.stdout, p.stderr], WRONG);
        const anon = await runSoci(["--root", root1, "push", "-q", `${reg.host}/u1:latest`], {
          env,
        });
        assertOneLineFailure(anon, /401.*no credentials/);
        assert.deepEqual(await snapshotTree(root1), before);
      },
    );

    await t.step("DOCKER_CONFIG auths entry: create docker:// and push work", async () => {
      const dir = await writeDockerConfig(join(work, "dc-auths"), {
        auths: { [reg.host]: { auth: btoa(`${USER}:${PASSWORD}`) } },
      });
      await createAndPush("u2", [], { DOCKER_CONFIG: dir });
    });

    await t.step("credsStore helper on PATH: create docker:// and push work", async () => {
      const bin = join(work, "bin-store");
      const log = join(work, "store.log");
      await writeCredentialHelper(bin, "e2estore", reg.host, USER, PASSWORD, log);
      const dir = await writeDockerConfig(join(work, "dc-store"), { credsStore: "e2estore" });
      await createAndPush("u3", [], {
        DOCKER_CONFIG: dir,
        PATH: `${bin}:${Deno.env.get("PATH")}`,
      });
      const calls = linesOf(await Deno.readTextFile(log));
      assert.ok(calls.length >= 2, calls.join("\n"));
      assert.ok(calls.every((l) => l === `get ${reg.host}`), calls.join("\n"));
    });

    await t.step(
      "credHelpers entry wins over a wrong auths entry: create and push work",
      async () => {
        const bin = join(work, "bin-helper");
        const log = join(work, "helper.log");
        await writeCredentialHelper(bin, "e2ehelper", reg.host, USER, PASSWORD, log);
        const dir = await writeDockerConfig(join(work, "dc-helpers"), {
          auths: { [reg.host]: { auth: btoa(`${USER}:${WRONG}`) } },
          credHelpers: { [reg.host]: "e2ehelper" },
        });
        await createAndPush("u4", [], {
          DOCKER_CONFIG: dir,
          PATH: `${bin}:${Deno.env.get("PATH")}`,
        });
        const calls = linesOf(await Deno.readTextFile(log));
        assert.ok(
          calls.length >= 2 && calls.every((l) => l === `get ${reg.host}`),
          calls.join("\n"),
        );
      },
    );

    await t.step(
      "--debug: http req/res lines with ids, never the password or credentials",
      async () => {
        const c = await runSoci(
          [
            "--debug",
            "--root",
            join(work, "root-debug"),
            "create",
            "--min-layer-size",
            "0",
            "--user",
            `${USER}:${PASSWORD}`,
            `docker://${reg.host}/u1:latest`,
          ],
          { env },
        );
        assert.deepEqual([c.code, untraced(c.stderr)], [0, [
          `image stored as ${reg.host}/u1:latest (use this name with push, index list --ref)`,
        ]]);
        const p = await runSoci(
          [
            "--root",
            root1,
            "--debug",
            "push",
            "--user",
            `${USER}:${PASSWORD}`,
            `${reg.host}/u1:latest`,
          ],
          { env },
        );
        assert.deepEqual([p.code, untraced(p.stderr)], [0, []]);
        for (const r of [c, p]) {
          const lines = traceOf(r);
          const out = lines.join("\n");
          const reqs = lines.filter((l) => l.startsWith("http req "));
          const ress = lines.filter((l) => l.startsWith("http res "));
          assert.ok(reqs.length >= 3 && ress.length >= 3, out);
          assert.ok(
            reqs.every((l) => /^http req #\d+ (GET|HEAD|PUT|POST|PATCH|DELETE) https:\/\//.test(l)),
            out,
          );
          assert.ok(
            reqs.some((l) => /^http req #\d+ GET https:\/\/[^/]+\/v2\/u1\/manifests\//.test(l)),
          );
          assert.ok(ress.every((l) => /^http res #\d+ \d{3}( .*)?$/.test(l)), out);
          // Each answer pairs with the request of the same id, which came first.
          const ids = reqs.map((l) => l.split(" ")[2]);
          assert.equal(new Set(ids).size, ids.length, out);
          for (const l of ress) {
            const id = l.split(" ")[2];
            const at = lines.indexOf(reqs.find((q) => q.split(" ")[2] === id)!);
            assert.ok(at >= 0 && at < lines.indexOf(l), `${l} has no request before it`);
          }
          assert.ok(ress.some((l) => / 401 Unauthorized$/.test(l)), out);
          assert.ok(ress.some((l) => / 200 OK$/.test(l)), out);
        }
        assert.ok(
          traceOf(p).some((l) =>
            new RegExp(`^http req #\\d+ HEAD https://${reg.host}/v2/u1/manifests/${expected}$`)
              .test(l)
          ),
          traceOf(p).join("\n"),
        );
        // --debug with --json: stdout is the JSON document alone.
        const j = await runSoci(
          [
            "--debug",
            "--root",
            join(work, "root-debug-json"),
            "create",
            "--json",
            "--min-layer-size",
            "0",
            "--user",
            `${USER}:${PASSWORD}`,
            `docker://${reg.host}/u1:latest`,
          ],
          { env },
        );
        assert.equal(j.code, 0, j.stderr);
        assert.equal(JSON.parse(j.stdout).image, `${reg.host}/u1:latest`);
        assert.ok(traceOf(j).length > 0);
        // A refused password with --debug (stack trace on stderr) leaks nothing either.
        const bad = await runSoci(
          [
            "--debug",
            "--root",
            root1,
            "push",
            "--user",
            `${USER}:${WRONG}`,
            `${reg.host}/u1:latest`,
          ],
          { env },
        );
        assert.equal(bad.code, 1);
        assert.ok(traceOf(bad).some((l) => /^http res #\d+ 401/.test(l)));
        assertNoSecret([c.stdout, c.stderr, p.stdout, p.stderr], PASSWORD);
        assertNoSecret([bad.stdout, bad.stderr], WRONG, PASSWORD);
      },
    );
  } finally {
    client.close();
    await reg.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("create docker:// and push via CLI through faults; unreachable and missing fail cleanly; no layer bytes on disk", async (t) => {
  const img = await sampleImage();
  const reg: TestRegistry = await startRegistry();
  const work = await Deno.makeTempDir({ prefix: "soci-e2e-faults-" });
  const raw: RawRegistry = { url: reg.url };
  const proxy = await startFaultProxy({
    upstream: reg.url,
    seed: 7,
    dropEveryNthConnection: 5,
    errorRate: 0.12,
    throttleRate: 0.06,
    retryAfterSeconds: 1,
    cutRate: 0.12,
  });
  let proxyStopped = false;
  try {
    await skopeoCopySample(`${reg.host}/sample:latest`, ["--dest-tls-verify=false"]);
    const rootDirect = join(work, "root-direct");
    let expected = "";

    await t.step("create docker:// writes no layer bytes (root and TMPDIR)", async () => {
      const tmp = join(work, "tmpdir");
      await Deno.mkdir(tmp);
      const r = await runSoci(
        [
          "--root",
          rootDirect,
          "create",
          "-q",
          "--plain-http",
          "--min-layer-size",
          "0",
          `docker://${reg.host}/sample:latest`,
        ],
        { env: { TMPDIR: tmp, TMP: tmp, TEMP: tmp } },
      );
      expected = indexDigestOf(r);
      assert.deepEqual([...Deno.readDirSync(tmp)], []);
      const layerDigests = new Set(img.layers.map((l) => l.digest));
      const files = await filesUnder(rootDirect);
      assert.ok(files.length > 0);
      for (const f of files) {
        const digest = sha256(await Deno.readFile(f));
        assert.ok(!layerDigests.has(digest), `${f} holds layer ${digest}`);
        for (const l of layerDigests) {
          assert.ok(!f.includes(l.slice(7)), `${f} is named after a layer`);
        }
      }
      // The same index as from the OCI layout (no registry involved).
      const layoutRoot = join(work, "root-layout");
      const fromLayout = await runSoci([
        "--root",
        layoutRoot,
        "create",
        "-q",
        "--min-layer-size",
        "0",
        `oci:${SAMPLE_LAYOUT}:latest`,
      ]);
      assert.equal(indexDigestOf(fromLayout), expected);
    });

    const rootFaulty = join(work, "root-faulty");
    const rootAfterCreate = join(work, "root-faulty-after-create");
    await t.step("create docker:// and push through drops, 500s, 429s and cut bodies", async () => {
      const c = await runSoci([
        "--root",
        rootFaulty,
        "create",
        "-q",
        "--plain-http",
        "--min-layer-size",
        "0",
        `docker://${proxy.host}/sample:latest`,
      ]);
      assert.equal(indexDigestOf(c), expected);
      await copyTree(rootFaulty, rootAfterCreate);
      const p = await runSoci([
        "--root",
        rootFaulty,
        "push",
        "--plain-http",
        `${proxy.host}/sample:latest`,
      ]);
      assert.deepEqual([p.code, p.stderr], [0, ""], p.stdout + p.stderr);
      assert.ok(
        linesOf(p.stdout).includes(`successfully pushed artifact with digest: ${expected}`),
      );
      const s = proxy.stats;
      assert.ok(s.dropped > 0 && s.errors > 0 && s.throttled > 0 && s.cut > 0, JSON.stringify(s));
      const bytes = await Deno.readFile(blobPath(rootDirect, expected));
      assert.deepEqual(
        await skopeoRaw(`${reg.host}/sample@${expected}`, ["--tls-verify=false"]),
        bytes,
      );
      await assertPushed(raw, "sample", img, { digest: expected, size: bytes.length, bytes });
    });

    await t.step(
      "unreachable registry: create and push fail with one line, root unchanged",
      async () => {
        await proxy.stop();
        proxyStopped = true;
        const createRoot = join(work, "root-unreachable-create");
        await copyTree(rootDirect, createRoot);
        const beforeCreate = await snapshotTree(createRoot);
        const beforePush = await snapshotTree(rootAfterCreate);
        const [c, p] = await Promise.all([
          runSoci([
            "--root",
            createRoot,
            "create",
            "--plain-http",
            "--min-layer-size",
            "0",
            `docker://${proxy.host}/sample:latest`,
          ]),
          runSoci([
            "--root",
            rootAfterCreate,
            "push",
            "--plain-http",
            `${proxy.host}/sample:latest`,
          ]),
        ]);
        const unreachable = new RegExp(
          `^soci: .*cannot reach registry ${
            proxy.host.replaceAll(".", "\\.")
          }: .*connection refused$`, // (the OS error as Go words it)
        );
        assertOneLineFailure(c, unreachable);
        assertOneLineFailure(p, unreachable, CHECKING);
        assert.deepEqual(await snapshotTree(createRoot), beforeCreate);
        assert.deepEqual(await snapshotTree(rootAfterCreate), beforePush);
      },
    );

    await t.step("missing repository: create fails with one line, root unchanged", async () => {
      const before = await snapshotTree(rootDirect);
      const c = await runSoci([
        "--root",
        rootDirect,
        "create",
        "--plain-http",
        "--min-layer-size",
        "0",
        `docker://${reg.host}/nosuch:latest`,
      ]);
      assertOneLineFailure(c, new RegExp(`nosuch.*not found`));
      assert.deepEqual(await snapshotTree(rootDirect), before);
    });

    await t.step(
      "repository deleted from the registry: push fails with one line, root unchanged",
      async () => {
        await skopeoCopySample(`${reg.host}/gone:latest`, ["--dest-tls-verify=false"]);
        const c = await runSoci([
          "--root",
          rootDirect,
          "create",
          "-q",
          "--plain-http",
          "--min-layer-size",
          "0",
          `docker://${reg.host}/gone:latest`,
        ]);
        assert.equal(indexDigestOf(c), expected);
        await Deno.remove(
          join(reg.dir, "data", "docker", "registry", "v2", "repositories", "gone"),
          {
            recursive: true,
          },
        );
        assert.equal((await rawGet(raw, "/v2/gone/tags/list")).status, 404);
        const before = await snapshotTree(rootDirect);
        const p = await runSoci([
          "--root",
          rootDirect,
          "push",
          "-q",
          "--plain-http",
          `${reg.host}/gone:latest`,
        ]);
        // -q: the index digest is printed before its graph is copied.
        const line = assertOneLineFailure(
          p,
          new RegExp(
            `^soci: error pushing graph to remote: cannot push sha256:[0-9a-f]{64}: ` +
              `not in ${reg.host.replaceAll(".", "\\.")}/gone and not readable locally: `,
          ),
          `${expected}\n`,
        );
        // What is missing is one of the image's layers (the image is gone from the repository).
        assert.ok(img.layers.some((l) => line.includes(`cannot push ${l.digest}:`)), line);
        assert.deepEqual(await snapshotTree(rootDirect), before);
      },
    );
  } finally {
    if (!proxyStopped) await proxy.stop();
    await reg.stop();
    await Deno.remove(work, { recursive: true });
  }
});

/** `cp -a src dst` (a byte-identical copy of a root). */
async function copyTree(src: string, dst: string): Promise<void> {
  const out = await new Deno.Command("cp", { args: ["-a", src, dst], stderr: "piped" }).output();
  if (out.code !== 0) throw new Error(`cp failed: ${dec.decode(out.stderr)}`);
}

Deno.test("CLI secrets: CDN redirect tokens in --debug, passwords in references, helpers that exit at once", async (t) => {
  const CDN_SECRET = "CdnS1gn4ture-9b7e";
  const fake = await startReferrersRegistry({
    referrersApi: false,
    redirectBlobs: true,
    redirectQuery: `verify=1700000000-${CDN_SECRET}&expires=1700000000`,
  });
  const work = await Deno.makeTempDir({ prefix: "soci-e2e-secrets-" });
  try {
    await skopeoCopySample(`${fake.host}/app:latest`, ["--dest-tls-verify=false"]);

    await t.step(
      "--debug create follows blob redirects; the verify= token is redacted",
      async () => {
        const r = await runSoci([
          "--debug",
          "--root",
          join(work, "root-debug"),
          "create",
          "--plain-http",
          "--min-layer-size",
          "0",
          `docker://${fake.host}/app:latest`,
        ]);
        assert.deepEqual([r.code, untraced(r.stderr)], [0, [
          `image stored as ${fake.host}/app:latest (use this name with push, index list --ref)`,
        ]], r.stdout);
        // The redirects really carried the token to the blob host...
        assert.ok(fake.blobHostRequests.length >= 2);
        assert.ok(
          fake.blobHostRequests.every((q) => q.path.includes(`verify=1700000000-${CDN_SECRET}`)),
        );
        // ...and the trace shows where they went without it.
        const cdn = traceOf(r).filter((l) => /^http req #\d+ GET http:\/\/[^/]+\/store\//.test(l));
        assert.equal(cdn.length, fake.blobHostRequests.length, r.stdout);
        for (const l of cdn) {
          assert.match(
            l,
            /^http req #\d+ GET http:\/\/127\.0\.0\.1:\d+\/store\/sha256:[0-9a-f]{64}\?verify=REDACTED&expires=REDACTED$/,
          );
        }
        assert.ok(
          !r.stdout.includes(CDN_SECRET) && !r.stderr.includes(CDN_SECRET),
          "CDN token leaked",
        );
      },
    );

    await t.step("a password in the image reference is refused and never printed", async () => {
      const secret = "Ref-pw-31c8e0d2";
      const root = join(work, "root-refs");
      const runs = [
        ["create", "--plain-http", `docker://alice:${secret}@${fake.host}/app:latest`],
        ["push", "--plain-http", `alice:${secret}@${fake.host}/app:latest`],
        ["push", "--plain-http", `docker://alice:${secret}@${fake.host}/app`],
      ];
      for (const args of runs) {
        for (const debug of [[], ["--debug"]]) {
          const r = await runSoci([...debug, "--root", root, ...args]);
          assert.equal(r.code, 1, r.stdout + r.stderr);
          assert.equal(r.stdout, "");
          const message = "credentials in image references are not supported; use --user";
          if (debug.length === 0) assert.equal(r.stderr, `soci: ${message}\n`);
          else assert.ok(r.stderr.includes(message), r.stderr); // a stack trace

          assert.ok(!r.stderr.includes(secret), `password leaked: ${r.stderr}`);
        }
      }
      // Nothing was asked of the registry with or without the credentials.
      assert.ok(fake.requests.every((q) => q.authorization === null));
    });

    await t.step(
      "a credential helper that exits without reading stdin: one clear line",
      async () => {
        const bin = join(work, "bin-quit");
        await Deno.mkdir(bin);
        await Deno.writeTextFile(join(bin, "docker-credential-quit"), "#!/bin/sh\nexit 1\n");
        await Deno.chmod(join(bin, "docker-credential-quit"), 0o755);
        const dir = await writeDockerConfig(join(work, "dc-quit"), {
          credHelpers: { [fake.host]: "quit" },
        });
        const r = await runSoci(
          [
            "--root",
            join(work, "root-quit"),
            "create",
            "--plain-http",
            `docker://${fake.host}/app:latest`,
          ],
          { env: { DOCKER_CONFIG: dir, PATH: `${bin}:${Deno.env.get("PATH")}` } },
        );
        assertOneLineFailure(
          r,
          new RegExp(
            `^soci: credential helper docker-credential-quit failed for ${
              fake.host.replaceAll(".", "\\.")
            } \\(exit 1\\)$`,
          ),
        );
      },
    );
  } finally {
    await fake.stop();
    await Deno.remove(work, { recursive: true });
  }
});
