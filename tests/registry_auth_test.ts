// Authentication and TLS: the real docker-registry with htpasswd (bcrypt)
// over TLS (test CA), credentials from --user, a docker config file and
// docker-credential helpers; the Bearer token flow and cross-origin blob
// redirects against the in-memory registry. Secrets must never show up in
// errors or debug lines.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { RegistryError } from "../lib/errors.ts";
import { RegistrySource } from "../lib/image/registry_source.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { parseUserFlag, resolveCredentials } from "../lib/registry/credentials.ts";
import { run, startRegistry } from "./helpers/registry.ts";
import { makeOciLayout, pseudoRandomBytes } from "./helpers/registry_oci_layout.ts";
import { startReferrersRegistry } from "./helpers/referrers_registry.ts";
import { rejects } from "./helpers/rejects.ts";

const sha256 = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
const enc = new TextEncoder();
const dec = new TextDecoder();
const USER = "testuser";
const PASS = "S3cret-pa55word";

function assertNoSecret(text: string, secret: string) {
  assert.ok(!text.includes(secret), `secret leaked: ${text}`);
  assert.ok(!text.includes(btoa(`${USER}:${secret}`)), `basic credentials leaked: ${text}`);
}

/** A docker-credential helper script that logs its input and knows one server. */
async function writeHelper(binDir: string, name: string, server: string, secret: string) {
  const path = join(binDir, `docker-credential-${name}`);
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
printf '%s' "$server" >> "${binDir}/${name}.log"
if [ "$server" = "${server}" ]; then
  printf '{"ServerURL":"%s","Username":"${USER}","Secret":"${secret}"}\\n' "$server"
else
  echo "credentials not found in native keychain"
  exit 1
fi
`,
  );
  await Deno.chmod(path, 0o755);
}

async function withPath<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const old = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", `${dir}:${old}`);
  try {
    return await fn();
  } finally {
    Deno.env.set("PATH", old);
  }
}

Deno.test("parseUserFlag splits like upstream", () => {
  assert.deepEqual(parseUserFlag("u:p:q"), { username: "u", password: "p:q" });
  assert.deepEqual(parseUserFlag("u"), { username: "u", password: "" });
  assert.deepEqual(parseUserFlag(":p"), { username: ":p", password: "" });
  assert.deepEqual(parseUserFlag("u:"), { username: "u", password: "" });
});

Deno.test("htpasswd + TLS registry: credentials from every source, clear refusals, no leaks", async (t) => {
  const reg = await startRegistry({ tls: true, auth: { username: USER, password: PASS } });
  const work = await Deno.makeTempDir({ prefix: "soci-test-auth-" });
  try {
    const img = await makeOciLayout(join(work, "layout"), "v1", [
      { "etc/motd": enc.encode("secure\n") },
      { "bin/blob": pseudoRandomBytes(150_000, 3) },
    ]);
    const certDir = join(work, "certs");
    await Deno.mkdir(certDir);
    await Deno.copyFile(reg.certs!.caCertPath, join(certDir, "ca.crt"));
    await run("skopeo", [
      "copy",
      "--quiet",
      "--preserve-digests",
      "--dest-creds",
      `${USER}:${PASS}`,
      "--dest-cert-dir",
      certDir,
      `oci:${img.dir}:v1`,
      `docker://${reg.host}/secure:v1`,
    ]);
    const ref = `docker://${reg.host}/secure:v1`;
    const caCerts = [reg.certs!.caPem];

    await t.step("no credentials: a clear 401", async () => {
      const src = new RegistrySource(ref, { caCerts });
      const e = await rejects(src.resolve());
      await src.close();
      assert.ok(e instanceof RegistryError, String(e));
      assert.equal(
        e.message,
        `${reg.host}: get manifest secure:v1: 401 Unauthorized: UNAUTHORIZED: authentication required` +
          " (no credentials: use --user or log in with the docker config)",
      );
    });

    await t.step(
      "no credentials, the docker config out of Deno's reach: the 401 says so",
      async () => {
        const repo = new URL("..", import.meta.url).pathname;
        await Deno.writeTextFile(join(work, "ca.pem"), reg.certs!.caPem);
        const script = `
        import { RegistrySource } from ${JSON.stringify(`${repo}lib/image/registry_source.ts`)};
        const caCerts = [await Deno.readTextFile(${JSON.stringify(join(work, "ca.pem"))})];
        const src = new RegistrySource(${JSON.stringify(ref)}, { caCerts });
        try { await src.resolve(); console.log("resolved?"); }
        catch (e) { console.log(e.message); } finally { await src.close(); }`;
        const base = `${reg.host}: get manifest secure:v1: 401 Unauthorized: UNAUTHORIZED: ` +
          "authentication required (no credentials: use --user or log in with the docker config; ";
        const dockerDir = join(work, "docker");
        for (
          const [perms, why] of [
            [
              [],
              "the docker config was not looked for (Deno may not read HOME or DOCKER_CONFIG: --allow-env)",
            ],
            [
              ["--allow-env=HOME,DOCKER_CONFIG"],
              `the docker config ${
                join(dockerDir, "config.json")
              } was not read (Deno may not read it: --allow-read)`,
            ],
          ]
        ) {
          const out = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "--no-prompt",
              "--quiet",
              `--allow-net=${reg.host}`,
              `--allow-read=${repo},${work}/ca.pem`,
              ...perms,
              "-",
            ],
            env: { DOCKER_CONFIG: dockerDir, NO_COLOR: "1" },
            stdin: "piped",
            stdout: "piped",
            stderr: "piped",
          }).spawn();
          const w = out.stdin.getWriter();
          await w.write(enc.encode(script));
          await w.close();
          const r = await out.output();
          assert.equal(dec.decode(r.stdout), `${base}${why})\n`, dec.decode(r.stderr));
        }
      },
    );

    await t.step("wrong password: refused, the password is in no error or debug line", async () => {
      const debug: string[] = [];
      const wrong = "wr0ng-Passw0rd";
      const src = await RegistrySource.open(ref, {
        caCerts,
        user: `${USER}:${wrong}`,
        debug: (l) => debug.push(l),
      });
      const e = await rejects(src.resolve());
      await src.close();
      assert.ok(e instanceof RegistryError, String(e));
      assert.ok(e.message.endsWith("(the credentials were refused)"), e.message);
      assert.ok(!e.message.includes("\n"));
      assertNoSecret(e.message + String(e.stack) + debug.join("\n"), wrong);
      assert.ok(debug.some((l) => /^http res #\d+ 401 Unauthorized$/.test(l)), debug.join("\n"));
    });

    await t.step("--user USER:PASS", async () => {
      const debug: string[] = [];
      const src = await RegistrySource.open(ref, {
        caCerts,
        user: `${USER}:${PASS}`,
        debug: (l) => debug.push(l),
      });
      const desc = await src.resolve();
      assert.equal(desc.digest, img.manifest.digest);
      for (const layer of img.layers) {
        const got = new Uint8Array(await new Response(await src.openBlob(layer)).arrayBuffer());
        assert.equal(sha256(got), layer.digest);
      }
      // Writes over the same credentials: upload and a cross-repository mount.
      const blob = pseudoRandomBytes(70_000, 9);
      await src.client.blobs.upload("secure", { digest: sha256(blob), size: blob.length }, blob);
      assert.equal(await src.client.blobs.mount("secure2", sha256(blob), "secure"), true);
      assert.equal(await src.client.blobs.head("secure2", sha256(blob)), blob.length);
      await src.close();
      assertNoSecret(debug.join("\n"), PASS);
    });

    await t.step(
      "--user: first requests sent at once all get through (one learns Basic for all)",
      async () => {
        for (let round = 0; round < 5; round++) {
          const src = await RegistrySource.open(ref, { caCerts, user: `${USER}:${PASS}` });
          try {
            // All four leave before any 401 is back: each is answered 401 and retried.
            const got = await Promise.all([
              src.client.manifests.get("secure", "v1"),
              ...img.layers.map((l) => src.client.blobs.get("secure", l)),
              src.client.blobs.head("secure", img.layers[0].digest),
            ]);
            assert.equal(got[0].digest, img.manifest.digest);
            for (const [i, l] of img.layers.entries()) {
              assert.equal(sha256(got[i + 1] as Uint8Array), l.digest);
            }
            assert.equal(got.at(-1), img.layers[0].size);
          } finally {
            await src.close();
          }
        }
      },
    );

    await t.step("docker config auths (base64 auth), also keyed by URL", async () => {
      for (const key of [reg.host, `https://${reg.host}/v1/`]) {
        const configDir = join(work, `docker-${key.length}`);
        await Deno.mkdir(configDir);
        await Deno.writeTextFile(
          join(configDir, "config.json"),
          JSON.stringify({
            auths: {
              "other:5000": { auth: btoa("x:y") },
              [key]: { auth: btoa(`${USER}:${PASS}`) },
            },
          }),
        );
        assert.deepEqual(await resolveCredentials(reg.host, { configDir }), {
          username: USER,
          password: PASS,
        });
        const src = await RegistrySource.open(ref, { caCerts, configDir });
        assert.equal((await src.resolve()).digest, img.manifest.digest);
        await src.close();
      }
    });

    await t.step("credsStore and credHelpers run docker-credential-<name> from PATH", async () => {
      const bin = join(work, "bin");
      await Deno.mkdir(bin);
      await writeHelper(bin, "socistore", reg.host, PASS);
      await writeHelper(bin, "socihelper", reg.host, PASS);
      await writeHelper(bin, "otherhelper", "elsewhere:1", PASS);
      const cases: [string, Record<string, unknown>, boolean][] = [
        ["store", { credsStore: "socistore", auths: { [reg.host]: {} } }, true],
        [
          "helper",
          { credsStore: "not-installed", credHelpers: { [reg.host]: "socihelper" } },
          true,
        ],
        ["store-missing-falls-back", {
          credsStore: "not-installed",
          auths: { [reg.host]: { auth: btoa(`${USER}:${PASS}`) } },
        }, true],
        ["helper-knows-nothing", { credHelpers: { [reg.host]: "otherhelper" } }, false],
      ];
      await withPath(bin, async () => {
        for (const [name, config, ok] of cases) {
          const configDir = join(work, `cfg-${name}`);
          await Deno.mkdir(configDir);
          await Deno.writeTextFile(join(configDir, "config.json"), JSON.stringify(config));
          const src = await RegistrySource.open(ref, { caCerts, configDir });
          if (ok) {
            assert.equal((await src.resolve()).digest, img.manifest.digest, name);
          } else {
            const e = await rejects(src.resolve());
            assert.ok(e.message.includes("401 Unauthorized"), `${name}: ${e.message}`);
          }
          await src.close();
        }
      });
      assert.equal(await Deno.readTextFile(join(bin, "socistore.log")), reg.host);
      assert.equal(await Deno.readTextFile(join(bin, "socihelper.log")), reg.host);
      assert.equal(await Deno.readTextFile(join(bin, "otherhelper.log")), reg.host);
    });

    await t.step(
      "TLS: untrusted CA is a clear error; DENO_CERT works in a subprocess",
      async () => {
        const src = new RegistrySource(ref, {
          credentials: parseUserFlag(`${USER}:${PASS}`),
          maxRetries: 0,
        });
        const e = await rejects(src.resolve());
        await src.close();
        assert.match(
          e.message,
          new RegExp(
            `^cannot reach registry ${reg.host}: .*invalid peer certificate.*\\(trust the registry's CA with --tlscacert <ca.pem>, DENO_CERT=<ca.pem> or the caCerts option\\)$`,
          ),
        );
        const probe = new URL("./helpers/registry_cli_probe.ts", import.meta.url).pathname;
        const args = ["run", "-A", probe, ref, JSON.stringify({ user: `${USER}:${PASS}` })];
        const withCert = await new Deno.Command(Deno.execPath(), {
          args,
          env: { DENO_CERT: reg.certs!.caCertPath },
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(withCert.code, 0, dec.decode(withCert.stderr));
        assert.equal(dec.decode(withCert.stdout).trim(), img.manifest.digest);
        const without = await new Deno.Command(Deno.execPath(), {
          args,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(without.code, 1);
        assert.match(
          dec.decode(without.stderr),
          /^cannot reach registry .*invalid peer certificate/,
        );
      },
    );

    await t.step("--plain-http against a TLS registry says so", async () => {
      const src = new RegistrySource(ref, {
        plainHttp: true,
        credentials: parseUserFlag(`${USER}:${PASS}`),
      });
      const e = await rejects(src.resolve());
      await src.close();
      assert.ok(e.message.endsWith("(the registry speaks HTTPS: drop --plain-http)"), e.message);
    });
  } finally {
    await reg.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("Bearer token flow, scopes, refresh tokens and cross-origin redirects", async () => {
  const fake = await startReferrersRegistry({
    auth: { username: USER, password: PASS, scheme: "bearer" },
    redirectBlobs: true,
  });
  try {
    // Anonymous: the token endpoint refuses.
    const anon = new RegistryClient(fake.host, { plainHttp: true });
    const e1 = await rejects(anon.manifests.get("a", "v1"));
    anon.close();
    assert.equal(
      e1.message,
      `${fake.host}: authentication failed: token endpoint ${fake.host} answered 401` +
        " (credentials are needed: --user or docker config)",
    );

    const debug: string[] = [];
    const client = new RegistryClient(fake.host, {
      plainHttp: true,
      credentials: { username: USER, password: PASS },
      debug: (l) => debug.push(l),
    });
    const blob = pseudoRandomBytes(120_000, 21);
    const d = sha256(blob);
    await client.blobs.upload("a", { digest: d, size: blob.length }, blob);
    const got = new Uint8Array(
      await new Response(await client.blobs.open("a", d, { size: blob.length })).arrayBuffer(),
    );
    assert.equal(sha256(got), d);
    assert.deepEqual(await client.blobs.getRange("a", d, 100, 200), blob.subarray(100, 200));
    assert.equal(await client.blobs.mount("b", d, "a"), true);
    client.close();

    // The blob host (another origin) never saw the registry's Authorization.
    assert.ok(fake.blobHostRequests.length >= 2);
    assert.ok(fake.blobHostRequests.every((r) => r.authorization === null));
    // The mount asked for a token covering both repositories.
    assert.ok(
      fake.tokenRequests.some((r) => {
        const scopes = new URL(r.path, "http://x").searchParams.getAll("scope");
        return scopes.includes("repository:a:pull") && scopes.includes("repository:b:pull,push");
      }),
      JSON.stringify(fake.tokenRequests),
    );
    // Only the anonymous client's first request went without credentials.
    assert.equal(fake.tokenRequests[0].authorization, null);
    assert.ok(
      fake.tokenRequests.slice(1).every((r) =>
        r.authorization === "Basic " + btoa(`${USER}:${PASS}`)
      ),
    );
    // Debug lines: no password, no token, no signed-URL secret.
    const log = debug.join("\n");
    assertNoSecret(log, PASS);
    assert.ok(!log.includes("tok-"), log);
    assert.ok(!log.includes("very-secret-sig"), log);
    assert.ok(log.includes("X-Amz-Signature=REDACTED"), log);

    // An identity token (OAuth2 refresh token) from a docker config works too.
    const configDir = await Deno.makeTempDir({ prefix: "soci-test-auth-" });
    await Deno.writeTextFile(
      join(configDir, "config.json"),
      JSON.stringify({ auths: { [fake.host]: { identitytoken: PASS } } }),
    );
    const creds = await resolveCredentials(fake.host, { configDir });
    await Deno.remove(configDir, { recursive: true });
    assert.deepEqual(creds, { identityToken: PASS });
    const viaRefresh = new RegistryClient(fake.host, { plainHttp: true, credentials: creds });
    assert.equal(await viaRefresh.blobs.head("a", d), blob.length);
    viaRefresh.close();
    assert.ok(fake.tokenRequests.some((r) => r.method === "POST"));

    // Wrong password: the token endpoint refuses; the error says so without the secret.
    const wrong = new RegistryClient(fake.host, {
      plainHttp: true,
      credentials: { username: USER, password: "nope-Secret" },
    });
    const e2 = await rejects(wrong.blobs.head("a", d));
    wrong.close();
    assert.ok(e2.message.endsWith("answered 401 (the credentials were refused)"), e2.message);
    assertNoSecret(e2.message, "nope-Secret");
  } finally {
    await fake.stop();
  }
});

Deno.test("docker config that is not JSON: where, never what", async () => {
  const configDir = await Deno.makeTempDir({ prefix: "soci-test-auth-" });
  try {
    const path = join(configDir, "config.json");
    // A password left unquoted: JSON.parse's own message would quote it.
    // The first bad character is the "S" of line 3, column 25 (counted by hand:
    // 4 spaces, `"h:1"` 5-9, `:` 10, ` ` 11, `{` 12, `"password"` 13-22, `:` 23, ` ` 24).
    await Deno.writeTextFile(
      path,
      '{\n  "auths": {\n    "h:1": {"password": S3cretLeak-77},\n    "x": {}\n  }\n}\n',
    );
    const e = await rejects(resolveCredentials("h:1", { configDir }));
    assert.equal(e.message, `docker config ${path} is not valid JSON (line 3, column 25)`);
    assert.ok(!String(e.stack).includes("S3cretLeak"), String(e.stack));
    // Cut short inside a string: just past the end of its 44 characters (10 + 8 + 9 + 17).
    await Deno.writeTextFile(path, '{"auths": {"h:1": {"auth": "dTpTM2NyZXRMZWFr');
    const e2 = await rejects(resolveCredentials("h:1", { configDir }));
    assert.equal(e2.message, `docker config ${path} is not valid JSON (line 1, column 45)`);
    assert.ok(!e2.message.includes("dTpTM2NyZXRMZWFr"));
  } finally {
    await Deno.remove(configDir, { recursive: true });
  }
});

Deno.test("credential helper that exits without reading its input: a RegistryError naming it", async () => {
  const bin = await Deno.makeTempDir({ prefix: "soci-test-helper-" });
  try {
    await Deno.writeTextFile(join(bin, "docker-credential-quit"), "#!/bin/sh\nexit 1\n");
    await Deno.writeTextFile(
      join(bin, "docker-credential-leaky"),
      `#!/bin/sh\nprintf '{"Username":"${USER}","Secret":"${PASS}"}\\n'\nexit 3\n`,
    );
    for (const f of ["quit", "leaky"]) await Deno.chmod(join(bin, `docker-credential-${f}`), 0o755);
    await Deno.writeTextFile(
      join(bin, "config.json"),
      JSON.stringify({ credHelpers: { "h:1": "quit", "h:2": "leaky" } }),
    );
    await withPath(bin, async () => {
      // The helper often exits before its stdin is written (a broken pipe):
      // asked many times, every answer must be the same clear error.
      for (let i = 0; i < 40; i++) {
        const e = await rejects(resolveCredentials("h:1", { configDir: bin }));
        assert.ok(e instanceof RegistryError, String(e));
        assert.equal(e.message, "credential helper docker-credential-quit failed for h:1 (exit 1)");
      }
      // A failing helper's output is left out when it may hold the secret.
      const e = await rejects(resolveCredentials("h:2", { configDir: bin }));
      assert.equal(e.message, "credential helper docker-credential-leaky failed for h:2 (exit 3)");
    });
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});
