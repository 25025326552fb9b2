// The CLI's TLS flags against Debian's docker-registry 2.8 serving HTTPS with a test CA:
// `--tlscacert` makes the registry trusted; without it the failure says what to do; files
// that are not PEM certificates or keys are refused before anything is fetched.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  oneLineFailure,
  runSoci,
  sampleImage,
  skopeoCopySample,
} from "./helpers/registry_e2e_cli.ts";
import { startRegistry } from "./helpers/registry.ts";

Deno.test("CLI --tlscacert: trusted with the CA, a clear failure without it, non-PEM files refused", async (t) => {
  const reg = await startRegistry({ tls: true });
  const work = await Deno.makeTempDir({ prefix: "soci-test-tls-cli-" });
  try {
    const certDir = join(work, "certs");
    await Deno.mkdir(certDir);
    await Deno.copyFile(reg.certs!.caCertPath, join(certDir, "ca.crt"));
    await skopeoCopySample(`${reg.host}/sample:1`, ["--dest-cert-dir", certDir]);
    const img = await sampleImage();
    const ref = `docker://${reg.host}/sample:1`;
    const root = join(work, "root");
    const ls = (extra: string[]) => runSoci(["--root", root, "ls", ...extra, ref]);

    await t.step("--tlscacert CA: the image's files are listed", async () => {
      const r = await ls(["--tlscacert", reg.certs!.caCertPath, "--json"]);
      // (no index for this image: every layer is read in full, which is what is asked of TLS)
      assert.match(
        r.stderr,
        /^warning: no SOCI index found \(.*\): reading every layer in full\n$/,
      );
      assert.equal(r.code, 0);
      const files: { layerDigest: string }[] = JSON.parse(r.stdout);
      // Every file comes from one of the image's layers.
      const layers = new Set(img.layers.map((l) => l.digest));
      assert.ok(files.length > 0);
      for (const f of files) assert.ok(layers.has(f.layerDigest), JSON.stringify(f));
    });

    await t.step("no --tlscacert: one line that says how to trust the CA", async () => {
      const r = await ls([]);
      oneLineFailure(
        r,
        new RegExp(
          `^soci: cannot reach registry ${reg.host}: invalid peer certificate: UnknownIssuer ` +
            "\\(trust the registry's CA with --tlscacert <ca\\.pem>, DENO_CERT=<ca\\.pem> or the caCerts option\\)$",
        ),
      );
    });

    for (
      const [flag, content, what] of [
        ["--tlscacert", "not a certificate\n", "a certificate"],
        // A key is not a CA certificate.
        [
          "--tlscacert",
          "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
          "a certificate",
        ],
        [
          "--tlskey",
          "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
          "an unencrypted private key",
        ],
      ] as const
    ) {
      await t.step(`${flag} of a file without ${what}: refused, nothing fetched`, async () => {
        const path = join(work, "bad.pem");
        await Deno.writeTextFile(path, content);
        const extra = flag === "--tlskey"
          ? ["--tlscert", reg.certs!.caCertPath, "--tlskey", path]
          : [flag, path];
        const r = await ls(extra);
        assert.equal(r.stdout, "");
        assert.equal(r.stderr, `soci: ${flag} ${path}: not a PEM file with ${what}\n`);
        assert.equal(r.code, 1);
      });
    }
  } finally {
    await reg.stop();
    await Deno.remove(work, { recursive: true });
  }
});
