// `soci push` end to end through the CLI (`deno run -A cli.ts …` subprocesses
// with `--root <tmp>`): against the real Debian docker-registry 2.8 (no
// referrers API: the sha256-<hex> fallback tag) and against the in-memory
// OCI 1.1 registry (referrers API, OCI-Subject). The image is copied in with
// skopeo; expected index and fallback JSON are written by hand (F§7.8,
// F§11.2); what the registry holds is read back with fetch and skopeo; the
// requests the CLI made are recorded by a pass-through proxy. Messages are
// upstream's (C§5.1, C§5.3, C§5.4, C§11.3 items 24 and 26).
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry } from "./helpers/registry.ts";
import { startFaultProxy } from "./helpers/fault_proxy.ts";
import { startReferrersRegistry } from "./helpers/referrers_registry.ts";
import {
  type Blob,
  type CliResult,
  EMPTY_CONFIG_DIGEST,
  expectedFallbackIndex,
  expectedSociIndex,
  type ExpectedZtoc,
  fallbackTagOf,
  linesOf,
  OCI_INDEX,
  OCI_MANIFEST,
  rawGet,
  type RawRegistry,
  runSoci,
  type SampleImage,
  sampleImage,
  sha256,
  skopeoCopySample,
  skopeoRaw,
  SOCI_V1,
} from "./helpers/registry_e2e_cli.ts";

const dec = new TextDecoder();
const CHECKING = "checking if a soci index already exists in remote repository...";
const MULTIPLE = "multiple soci indices found in remote repository";
const found = (d: string) => `soci index found in remote repository with digest: ${d}`;

/** An index built by `create`, checked against hand-written bytes. */
interface Built {
  digest: string;
  size: number;
  bytes: Uint8Array;
  ztocs: ExpectedZtoc[];
}

/**
 * `create --plain-http --min-layer-size 0 [--span-size n] docker://<name>`:
 * checks the output lines, that each zTOC blob in the root hashes to its
 * digest, and that the stored index is exactly the F§7.8 document built
 * from the image's layers and those zTOCs.
 */
async function createIndex(
  root: string,
  img: SampleImage,
  name: string,
  spanSize: number,
  reused = false,
): Promise<Built> {
  const args = ["--root", root, "create", "--plain-http", "--min-layer-size", "0"];
  if (spanSize !== 4194304) args.push("--span-size", String(spanSize));
  const r = await runSoci([...args, `docker://${name}`]);
  assert.equal(r.stderr, `image stored as ${name} (use this name with push, index list --ref)\n`);
  assert.equal(r.code, 0);
  const lines = linesOf(r.stdout);
  assert.equal(lines.length, img.layers.length + 1, r.stdout);
  const ztocOf = new Map<string, string>();
  for (const line of lines.slice(0, -1)) {
    const m = /^layer (sha256:[0-9a-f]{64}) -> ztoc (sha256:[0-9a-f]{64})( \(already exists\))?$/
      .exec(line);
    assert.ok(m, line);
    assert.equal(m[3] !== undefined, reused, line);
    ztocOf.set(m[1], m[2]);
  }
  const ztocs: ExpectedZtoc[] = [];
  for (const layer of img.layers) {
    const digest = ztocOf.get(layer.digest);
    assert.ok(digest, `no zTOC line for ${layer.digest}`);
    const bytes = await Deno.readFile(blobPath(root, digest));
    assert.equal(sha256(bytes), digest);
    ztocs.push({ digest, size: bytes.length, layer, spanSize });
  }
  const expected = expectedSociIndex(img.manifest, ztocs);
  const digest = sha256(expected);
  assert.equal(lines[lines.length - 1], `soci index ${digest} for linux/amd64 (2 ztocs)`);
  const bytes = await Deno.readFile(blobPath(root, digest));
  assert.equal(dec.decode(bytes), expected);
  return { digest, size: bytes.length, bytes, ztocs };
}

function blobPath(root: string, digest: string): string {
  return join(root, "content", "blobs", "sha256", digest.slice(7));
}

/**
 * The lines of a push that uploads `pushed` (config and zTOCs) and the
 * index and skips `skipped`: fixed head, the per-node lines in any order
 * (uploads run concurrently) with each `pushing` before its
 * `successfully pushed`, and the index last.
 */
function assertPushLines(
  r: CliResult,
  head: string[],
  index: string,
  skipped: string[],
  pushed: string[],
): void {
  assert.equal(r.stderr, "");
  assert.equal(r.code, 0);
  const lines = linesOf(r.stdout);
  assert.deepEqual(lines.slice(0, head.length), head, r.stdout);
  assert.equal(lines[head.length], `pushing soci index with digest: ${index}`);
  assert.deepEqual(lines.slice(-2), [
    `pushing artifact with digest: ${index}`,
    `successfully pushed artifact with digest: ${index}`,
  ]);
  const middle = lines.slice(head.length + 1, -2);
  const expected = [
    ...skipped.map((d) => `skipped artifact with digest: ${d}`),
    ...pushed.flatMap((d) => [
      `pushing artifact with digest: ${d}`,
      `successfully pushed artifact with digest: ${d}`,
    ]),
  ];
  assert.deepEqual([...middle].sort(), expected.sort(), r.stdout);
  for (const d of pushed) {
    assert.ok(
      middle.indexOf(`pushing artifact with digest: ${d}`) <
        middle.indexOf(`successfully pushed artifact with digest: ${d}`),
    );
  }
}

/** The lines of a push of an index the registry already has. */
function alreadyThereLines(head: string[], index: string, repo: string): string[] {
  return [
    ...head,
    `pushing soci index with digest: ${index}`,
    `skipped artifact with digest: ${index}`,
    `soci index ${index} is already in ${repo}: nothing to push`,
  ];
}

/** Checks that the registry serves every blob of the index with its digest and size. */
async function assertBlobsServed(reg: RawRegistry, repo: string, built: Built, root: string) {
  const doc = JSON.parse(dec.decode(built.bytes));
  const descs: Blob[] = [doc.config, ...doc.layers];
  assert.deepEqual(descs.map((d) => d.digest), [
    EMPTY_CONFIG_DIGEST,
    ...built.ztocs.map((z) => z.digest),
  ]);
  for (const d of descs) {
    const r = await rawGet(reg, `/v2/${repo}/blobs/${d.digest}`);
    assert.equal(r.status, 200, d.digest);
    assert.equal(sha256(r.bytes), d.digest);
    assert.equal(r.bytes.length, d.size);
    assert.deepEqual(r.bytes, await Deno.readFile(blobPath(root, d.digest)));
  }
}

/** Requests that write (anything but GET and HEAD) among `requests`. */
function writes(requests: { method: string; path: string }[]): string[] {
  return requests.filter((q) => q.method !== "GET" && q.method !== "HEAD").map((q) =>
    `${q.method} ${q.path}`
  );
}

Deno.test("push CLI → docker-registry 2.8: fallback tag, blobs, --existing-index, -q, newest index", async (t) => {
  const img = await sampleImage();
  const reg = await startRegistry();
  // A pass-through proxy (no faults): the CLI talks to it, it records every request.
  const proxy = await startFaultProxy({ upstream: reg.url });
  const root = await Deno.makeTempDir({ prefix: "soci-e2e-push-" });
  const raw: RawRegistry = { url: reg.url };
  const name = `${proxy.host}/sample:latest`;
  const repo = `${proxy.host}/sample`;
  const M = img.manifest.digest;
  const tag = fallbackTagOf(M);
  const push = (...args: string[]) =>
    runSoci(["--root", root, "push", "--plain-http", ...args, name]);
  const fallback = async () => {
    const r = await rawGet(raw, `/v2/sample/manifests/${tag}`, OCI_INDEX);
    assert.equal(r.status, 200);
    return dec.decode(r.bytes);
  };
  const manifestStatus = async (d: string) =>
    (await rawGet(raw, `/v2/sample/manifests/${d}`, OCI_MANIFEST)).status;
  try {
    await skopeoCopySample(`${reg.host}/sample:latest`, ["--dest-tls-verify=false"]);
    assert.equal(sha256(await skopeoRaw(`${reg.host}/sample:latest`, ["--tls-verify=false"])), M);

    let A!: Built, B!: Built, C!: Built;
    await t.step("create docker:// stores the hand-written index", async () => {
      A = await createIndex(root, img, name, 4194304);
    });

    await t.step("first push: blobs uploaded, subject skipped, fallback tag, skopeo", async () => {
      const mark = proxy.requests.length;
      const r = await push();
      assertPushLines(r, [CHECKING], A.digest, [M], [
        EMPTY_CONFIG_DIGEST,
        ...A.ztocs.map((z) => z.digest),
      ]);
      assert.equal(await fallback(), expectedFallbackIndex([A]));
      assert.deepEqual(
        await skopeoRaw(`${reg.host}/sample@${A.digest}`, ["--tls-verify=false"]),
        A.bytes,
      );
      await assertBlobsServed(raw, "sample", A, root);
      // Exactly three blob uploads (config, two zTOCs), then the index, then the tag.
      const w = writes(proxy.requests.slice(mark));
      const uploaded = w.filter((x) => x.startsWith("PUT /v2/sample/blobs/uploads/")).map((x) =>
        decodeURIComponent(/[?&]digest=([^&]+)/.exec(x)![1])
      );
      assert.deepEqual(
        uploaded.sort(),
        [EMPTY_CONFIG_DIGEST, ...A.ztocs.map((z) => z.digest)].sort(),
      );
      assert.equal(w.filter((x) => x.startsWith("POST /v2/sample/blobs/uploads/")).length, 3);
      assert.deepEqual(w.filter((x) => x.startsWith("PUT /v2/sample/manifests/")), [
        `PUT /v2/sample/manifests/${A.digest}`,
        `PUT /v2/sample/manifests/${tag}`,
      ]);
    });

    await t.step("second push uploads nothing and says so", async () => {
      const mark = proxy.requests.length;
      const r = await push();
      assert.equal(r.code, 0);
      assert.equal(r.stderr, "");
      assert.deepEqual(
        linesOf(r.stdout),
        alreadyThereLines(
          [CHECKING, `[WARN] ${found(A.digest)}: pushing index anyway`],
          A.digest,
          repo,
        ),
      );
      assert.deepEqual(writes(proxy.requests.slice(mark)), []);
      assert.equal(await fallback(), expectedFallbackIndex([A]));
    });

    await t.step("--existing-index skip: upstream's line, nothing pushed", async () => {
      const mark = proxy.requests.length;
      const r = await push("--existing-index", "skip");
      assert.equal(r.code, 0);
      assert.equal(r.stderr, "");
      assert.equal(
        r.stdout,
        `${CHECKING}\n${found(A.digest)}: skipping pushing artifacts for image manifest: ${M}\n`,
      );
      const after = proxy.requests.slice(mark);
      assert.deepEqual(writes(after), []);
      assert.ok(after.every((q) => !q.path.includes(A.digest) && !q.path.includes("/blobs/")));
    });

    await t.step("-q: only the [WARN] line and the digest; skip -q prints nothing", async () => {
      const r = await push("-q");
      assert.equal(r.code, 0);
      assert.equal(r.stderr, "");
      assert.equal(r.stdout, `[WARN] ${found(A.digest)}: pushing index anyway\n${A.digest}\n`);
      const s = await push("-q", "--existing-index", "skip");
      assert.equal(s.code, 0);
      assert.deepEqual([s.stdout, s.stderr], ["", ""]);
    });

    await t.step("--existing-index allow: no check, no warning", async () => {
      const mark = proxy.requests.length;
      const r = await push("--existing-index", "allow");
      assert.equal(r.code, 0);
      assert.equal(r.stderr, "");
      assert.deepEqual(linesOf(r.stdout), alreadyThereLines([], A.digest, repo));
      // No referrers listing before the push: the first request checks the index itself.
      assert.equal(proxy.requests[mark]?.path, `/v2/sample/manifests/${A.digest}`);
      // The referrers API is probed (404), then the fallback tag is read once.
      const after = proxy.requests.slice(mark);
      assert.deepEqual(
        after.filter((q) => q.path.startsWith("/v2/sample/referrers/")).map((q) => q.method),
        ["GET"],
      );
      assert.deepEqual(
        after.filter((q) => q.path === `/v2/sample/manifests/${tag}`).map((q) => q.method),
        ["GET"],
      );
    });

    await t.step("HOST/REPO and docker://HOST/REPO name the image stored as :latest", async () => {
      for (const n of [repo, `docker://${repo}`, `docker://${name}`]) {
        const r = await runSoci([
          "--root",
          root,
          "push",
          "--plain-http",
          "--existing-index",
          "allow",
          "-q",
          n,
        ]);
        assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${A.digest}\n`, ""], n);
      }
    });

    await t.step("--max-concurrent-uploads above Go's int max: upstream's warning", async () => {
      const skipped = `${CHECKING}\n${found(A.digest)}: skipping pushing artifacts for image ` +
        `manifest: ${M}\n`;
      const overflow = (n: string) =>
        `warning: overflow for setting --max-concurrent-uploads=${n}; defaulting to 3`;
      for (const n of ["9223372036854775808", "18446744073709551615"]) {
        const r = await push("--max-concurrent-uploads", n, "--existing-index", "skip");
        // Printf without a newline, as upstream does.
        assert.deepEqual([r.code, r.stdout, r.stderr], [0, overflow(n) + skipped, ""]);
        const q = await push("-q", "--max-concurrent-uploads", n, "--existing-index", "skip");
        assert.deepEqual([q.code, q.stdout, q.stderr], [0, "", ""]);
      }
      // 2^63-1 itself is accepted; 0 means the default.
      for (const n of ["9223372036854775807", "2147483648", "0"]) {
        const r = await push("--max-concurrent-uploads", n, "--existing-index", "skip");
        assert.deepEqual([r.code, r.stdout, r.stderr], [0, skipped, ""], n);
      }
    });

    await t.step("help: push reads the store and talks to the registry only", async () => {
      const perms =
        "--allow-read=<root> --allow-env=SOCI_ROOT,XDG_DATA_HOME,HOME --allow-net=<registry>";
      const h = await runSoci(["push", "--help"]);
      assert.equal(h.code, 0);
      const lines = linesOf(h.stdout);
      assert.equal(lines[lines.indexOf("PERMISSIONS:") + 1]?.trim(), perms, h.stdout);
    });

    await t.step("bad --existing-index value: upstream's message", async () => {
      const r = await push("--existing-index", "sometimes");
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(
        r.stderr,
        "soci: unexpected value for flag existing-index: sometimes, expected types [warn skip allow]\n",
      );
    });

    await t.step(
      "item 24: allow -q pushes the newest index; the referrer count grows",
      async () => {
        B = await createIndex(root, img, name, 65536);
        assert.notEqual(B.digest, A.digest);
        const r = await push("--existing-index", "allow", "-q");
        assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${B.digest}\n`, ""]);
        assert.equal(await fallback(), expectedFallbackIndex([A, B]));
        // F§11.2 step 4: the superseded fallback index is deleted.
        assert.equal(await manifestStatus(sha256(expectedFallbackIndex([A]))), 404);
        await assertBlobsServed(raw, "sample", B, root);
      },
    );

    await t.step(
      "item 26: two remote indexes → warn says multiple, skip keeps the count",
      async () => {
        const w = await push();
        assert.equal(w.code, 0);
        assert.deepEqual(
          linesOf(w.stdout),
          alreadyThereLines([CHECKING, `[WARN] ${MULTIPLE}: pushing index anyway`], B.digest, repo),
        );
        C = await createIndex(root, img, name, 131072);
        const s = await push("--existing-index", "skip");
        assert.deepEqual([s.code, s.stderr], [0, ""]);
        assert.equal(
          s.stdout,
          `${CHECKING}\n${MULTIPLE}: skipping pushing artifacts for image manifest: ${M}\n`,
        );
        assert.equal(await fallback(), expectedFallbackIndex([A, B]));
        assert.equal(await manifestStatus(C.digest), 404);
      },
    );

    await t.step("item 26: warn pushes anyway and the count grows", async () => {
      const r = await push();
      assertPushLines(
        r,
        [CHECKING, `[WARN] ${MULTIPLE}: pushing index anyway`],
        C.digest,
        [M, EMPTY_CONFIG_DIGEST],
        C.ztocs.map((z) => z.digest),
      );
      assert.equal(await fallback(), expectedFallbackIndex([A, B, C]));
      await assertBlobsServed(raw, "sample", C, root);
    });

    await t.step("item 24: re-creating an older index makes it the newest", async () => {
      const again = await createIndex(root, img, name, 4194304, true);
      assert.equal(again.digest, A.digest);
      const r = await push("--existing-index", "allow", "-q");
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${A.digest}\n`, ""]);
      const b = await createIndex(root, img, name, 65536, true);
      assert.equal(b.digest, B.digest);
      const r2 = await push("--existing-index", "allow", "-q");
      assert.deepEqual([r2.code, r2.stdout, r2.stderr], [0, `${B.digest}\n`, ""]);
      assert.equal(await fallback(), expectedFallbackIndex([A, B, C]));
    });
  } finally {
    await proxy.stop();
    await reg.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("push CLI → OCI 1.1 registry: subject sent, OCI-Subject, no fallback tag, API listing", async (t) => {
  const img = await sampleImage();
  const fake = await startReferrersRegistry();
  const root = await Deno.makeTempDir({ prefix: "soci-e2e-push-api-" });
  const raw: RawRegistry = { url: fake.url };
  const name = `${fake.host}/sample:latest`;
  const M = img.manifest.digest;
  const referrersPath = `/v2/sample/referrers/${M}?artifactType=${encodeURIComponent(SOCI_V1)}`;
  const push = (...args: string[]) =>
    runSoci(["--root", root, "push", "--plain-http", ...args, name]);
  try {
    await skopeoCopySample(name, ["--dest-tls-verify=false"]);
    assert.ok(fake.hasManifest("sample", M));
    const A = await createIndex(root, img, name, 4194304);

    await t.step("push: index PUT with its subject, registry answers OCI-Subject", async () => {
      const mark = fake.requests.length;
      const r = await push();
      assertPushLines(r, [CHECKING], A.digest, [M], [
        EMPTY_CONFIG_DIGEST,
        ...A.ztocs.map((z) => z.digest),
      ]);
      const seen = fake.requests.slice(mark);
      assert.equal(seen[0]?.path, referrersPath);
      assert.deepEqual(
        seen.filter((q) => q.method === "PUT" && q.path.startsWith("/v2/sample/manifests/"))
          .map((q) => q.path),
        [`/v2/sample/manifests/${A.digest}`],
      );
      // The referrers API is used: the fallback tag is neither read nor written.
      assert.ok(seen.every((q) => !q.path.includes(`/manifests/${fallbackTagOf(M)}`)));
      assert.deepEqual(fake.tags("sample"), ["latest"]);
      const stored = await rawGet(raw, `/v2/sample/manifests/${A.digest}`, OCI_MANIFEST);
      assert.deepEqual(stored.bytes, A.bytes);
      assert.equal(JSON.parse(dec.decode(stored.bytes)).subject.digest, M);
      const listed = await rawGet(raw, referrersPath, OCI_INDEX);
      assert.equal(
        dec.decode(listed.bytes),
        `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[{"mediaType":"${OCI_MANIFEST}",` +
          `"digest":"${A.digest}","size":${A.size},"annotations":{"com.amazon.soci.build-tool-identifier":` +
          `"AWS SOCI CLI v0.2"},"artifactType":"${SOCI_V1}"}]}`,
      );
      await assertBlobsServed(raw, "sample", A, root);
    });

    await t.step("second push: warn finds the index through the referrers API", async () => {
      const mark = fake.requests.length;
      const r = await push();
      assert.deepEqual([r.code, r.stderr], [0, ""]);
      assert.deepEqual(
        linesOf(r.stdout),
        alreadyThereLines(
          [CHECKING, `[WARN] ${found(A.digest)}: pushing index anyway`],
          A.digest,
          `${fake.host}/sample`,
        ),
      );
      const seen = fake.requests.slice(mark);
      assert.equal(seen[0]?.path, referrersPath);
      assert.ok(seen.every((q) => !q.path.includes(`/manifests/${fallbackTagOf(M)}`)));
      assert.deepEqual(writes(seen), []);
      assert.deepEqual(fake.tags("sample"), ["latest"]);
    });
  } finally {
    await fake.stop();
    await Deno.remove(root, { recursive: true });
  }
});
