/**
 * Test TLS material made with openssl: a throw-away CA and a leaf
 * certificate for `127.0.0.1`/`localhost` signed by it (Deno refuses a
 * self-signed certificate used as its own CA, so a real chain is needed).
 *
 * @module
 */
import { join } from "node:path";

/** Paths and PEM text of the test CA and the server certificate. */
export interface TestCertificates {
  /** PEM text of the CA certificate (pass to `caCerts` / `DENO_CERT`). */
  caPem: string;
  caCertPath: string;
  leafCertPath: string;
  leafKeyPath: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (out.code !== 0) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * Makes a CA and a leaf certificate (SAN `IP:127.0.0.1`, `DNS:localhost`)
 * in `dir`, valid for 2 days.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeTestCertificates } from "./registry_tls.ts";
 * const dir = await Deno.makeTempDir();
 * const certs = await makeTestCertificates(dir);
 * assert.ok(certs.caPem.includes("BEGIN CERTIFICATE"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=soci-deno test CA",
  ], dir);
  await openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "leaf.key",
    "-out",
    "leaf.csr",
    "-subj",
    "/CN=localhost",
  ], dir);
  await Deno.writeTextFile(
    join(dir, "leaf.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n" +
      "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "leaf.crt",
    "-days",
    "2",
    "-extfile",
    "leaf.ext",
  ], dir);
  return {
    caPem: await Deno.readTextFile(join(dir, "ca.crt")),
    caCertPath: join(dir, "ca.crt"),
    leafCertPath: join(dir, "leaf.crt"),
    leafKeyPath: join(dir, "leaf.key"),
  };
}
