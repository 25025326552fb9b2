/**
 * Helpers for the end-to-end tests of `create docker://…` and `push`
 * through the CLI: running `deno run -A cli.ts …` as a subprocess, facts
 * about the checked-in sample image read straight from its OCI layout,
 * hand-written expected JSON (SOCI index, referrers fallback index), Docker
 * config files and credential-helper scripts, and raw registry reads with
 * `fetch` (independent of `lib/`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { sha256 } from "./bytes.ts";
export { sha256 } from "./bytes.ts";

/** The repository root (ends with `/`). */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/** The checked-in two-layer sample image (OCI layout, tag `latest`). */
export const SAMPLE_LAYOUT: string = join(REPO_ROOT, "fixtures", "sample-image");

/** SOCI v1 artifact type (F§1.1). */
export const SOCI_V1 = "application/vnd.amazon.soci.index.v1+json";
/** OCI image manifest media type. */
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** OCI image index media type. */
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/** Digest of the `{}` config blob of every SOCI index (F§7.2). */
export const EMPTY_CONFIG_DIGEST =
  "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/** A descriptor as the tests need it. */
export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
}

/** What the sample image is, read from `fixtures/sample-image` without `lib/`. */
export interface SampleImage {
  manifest: Blob;
  config: Blob;
  layers: Blob[];
}

/**
 * Reads the sample image's manifest descriptor, config and layers from
 * its layout, checking each file against its digest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleImage } from "./registry_e2e_cli.ts";
 * const img = await sampleImage();
 * assert.ok(img.layers.length === 2);
 * ```
 */
export async function sampleImage(): Promise<SampleImage> {
  const read = async (digest: string) => {
    const bytes = await Deno.readFile(join(SAMPLE_LAYOUT, "blobs", "sha256", digest.slice(7)));
    if (sha256(bytes) !== digest) throw new Error(`fixture blob ${digest} is corrupt`);
    return bytes;
  };
  const index = JSON.parse(await Deno.readTextFile(join(SAMPLE_LAYOUT, "index.json")));
  const m = index.manifests[0];
  const manifest = JSON.parse(new TextDecoder().decode(await read(m.digest)));
  const plain = (d: Blob): Blob => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });
  return {
    manifest: plain(m),
    config: plain(manifest.config),
    layers: manifest.layers.map(plain),
  };
}

/** What a CLI run printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link runSoci}. */
export interface RunSociOptions {
  /**
   * Extra environment. `DOCKER_CONFIG` defaults to a folder that does not
   * exist (no credentials from the machine's `~/.docker`).
   */
  env?: Record<string, string>;
}

/**
 * Runs `deno run -A cli.ts <args>` and collects its exit code and output.
 *
 * @example
 * ```ts ignore
 * import { runSoci } from "./registry_e2e_cli.ts";
 * const r = await runSoci(["--version"]);
 * console.assert(r.code === 0);
 * ```
 */
export async function runSoci(args: string[], opts: RunSociOptions = {}): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      join(REPO_ROOT, "deno.json"),
      join(REPO_ROOT, "cli.ts"),
      ...args,
    ],
    env: {
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      DOCKER_CONFIG: "/nonexistent/soci-e2e-docker-config",
      ...opts.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The lines of a text (a final newline does not make an empty last line). */
export function linesOf(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Asserts a CLI failure: exit 1 and one stderr line `soci: …` that matches `pattern`. */
export function oneLineFailure(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = linesOf(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^soci: /);
  assert.match(lines[0], pattern);
}

/** Whether something (a file, a directory, a link) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** One zTOC of an index, as the tests expect it in `layers`. */
export interface ExpectedZtoc {
  digest: string;
  size: number;
  layer: Blob;
  spanSize: number;
}

/**
 * The exact bytes of a v1 SOCI index (F§7.1, F§7.2, F§7.8), written by hand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectedSociIndex } from "./registry_e2e_cli.ts";
 * const m = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:m", size: 9 };
 * assert.ok(expectedSociIndex(m, []).startsWith('{"schemaVersion":2,'));
 * ```
 */
export function expectedSociIndex(manifest: Blob, ztocs: ExpectedZtoc[]): string {
  const layers = ztocs.map((z) =>
    `{"mediaType":"application/octet-stream","digest":"${z.digest}","size":${z.size},` +
    `"annotations":{"com.amazon.soci.image-layer-digest":"${z.layer.digest}",` +
    `"com.amazon.soci.image-layer-mediaType":"${z.layer.mediaType}",` +
    `"com.amazon.soci.span-size":"${z.spanSize}"}}`
  );
  return `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}",` +
    `"config":{"mediaType":"${SOCI_V1}","digest":"${EMPTY_CONFIG_DIGEST}","size":2},` +
    `"layers":[${layers.join(",")}],` +
    `"subject":{"mediaType":"${manifest.mediaType}","digest":"${manifest.digest}",` +
    `"size":${manifest.size}},` +
    `"annotations":{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"}}`;
}

/**
 * The exact bytes of the referrers fallback index listing these SOCI
 * indexes in order (F§11.2 step 3), written by hand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expectedFallbackIndex } from "./registry_e2e_cli.ts";
 * assert.ok(expectedFallbackIndex([]).endsWith('"manifests":[]}'));
 * ```
 */
export function expectedFallbackIndex(indexes: { digest: string; size: number }[]): string {
  const entries = indexes.map((i) =>
    `{"mediaType":"${OCI_MANIFEST}","digest":"${i.digest}","size":${i.size},` +
    `"annotations":{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"},` +
    `"artifactType":"${SOCI_V1}"}`
  );
  return `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[${entries.join(",")}]}`;
}

/** The tag of the referrers fallback index of a subject (`sha256-<hex>`). */
export function fallbackTagOf(subjectDigest: string): string {
  return subjectDigest.replace(":", "-");
}

/** How to reach a registry with raw `fetch`. */
export interface RawRegistry {
  /** `http(s)://host:port`. */
  url: string;
  /** `user:password` for Basic auth. */
  basic?: string;
  /** A client trusting the test CA. */
  client?: Deno.HttpClient;
}

/**
 * A raw `GET` of a registry path: status, body bytes and content type.
 *
 * @example
 * ```ts ignore
 * import { rawGet } from "./registry_e2e_cli.ts";
 * const r = await rawGet({ url: "http://127.0.0.1:5000" }, "/v2/");
 * console.assert(r.status === 200);
 * ```
 */
export async function rawGet(
  reg: RawRegistry,
  path: string,
  accept?: string,
): Promise<{ status: number; bytes: Uint8Array; contentType: string }> {
  const headers: Record<string, string> = {};
  if (accept) headers.accept = accept;
  if (reg.basic) headers.authorization = "Basic " + btoa(reg.basic);
  const res = await fetch(reg.url + path, {
    headers,
    ...(reg.client ? { client: reg.client } : {}),
  } as RequestInit);
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, bytes, contentType: res.headers.get("content-type") ?? "" };
}

/**
 * Writes `<dir>/config.json` (Docker CLI config) and returns `dir`.
 *
 * @example
 * ```ts ignore
 * import { writeDockerConfig } from "./registry_e2e_cli.ts";
 * await writeDockerConfig("/tmp/dc", { credsStore: "test" });
 * ```
 */
export async function writeDockerConfig(dir: string, config: unknown): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(config));
  return dir;
}

/**
 * Writes an executable `docker-credential-<name>` shell script in `binDir`
 * implementing `get` the way real helpers do: the server URL comes on
 * stdin (appended to `logPath`); for `server` it prints
 * `{"ServerURL","Username","Secret"}`, else `credentials not found in
 * native keychain` with exit 1.
 *
 * @example
 * ```ts ignore
 * import { writeCredentialHelper } from "./registry_e2e_cli.ts";
 * await writeCredentialHelper("/tmp/bin", "test", "127.0.0.1:5000", "u", "p", "/tmp/log");
 * ```
 */
export async function writeCredentialHelper(
  binDir: string,
  name: string,
  server: string,
  username: string,
  secret: string,
  logPath: string,
): Promise<string> {
  await Deno.mkdir(binDir, { recursive: true });
  const path = join(binDir, `docker-credential-${name}`);
  const answer = JSON.stringify({ ServerURL: server, Username: username, Secret: secret });
  const q = (s: string) => `'${s.replaceAll("'", `'"'"'`)}'`;
  await Deno.writeTextFile(
    path,
    [
      "#!/bin/sh",
      '[ "$1" = get ] || { echo "unsupported action $1"; exit 1; }',
      "read -r server",
      `printf '%s %s\\n' "$1" "$server" >> ${q(logPath)}`,
      `if [ "$server" = ${q(server)} ]; then`,
      `  printf '%s\\n' ${q(answer)}`,
      "  exit 0",
      "fi",
      "echo 'credentials not found in native keychain'",
      "exit 1",
      "",
    ].join("\n"),
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** Every regular file under `dir` (recursive), as absolute paths. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...(await filesUnder(p)));
    else if (e.isFile) out.push(p);
  }
  return out;
}

/** A free loopback TCP port that nothing listens on (bound, then closed). */
export function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** `skopeo copy --preserve-digests` of the sample image into a registry, with extra flags. */
export async function skopeoCopySample(dest: string, extra: string[]): Promise<void> {
  const out = await new Deno.Command("skopeo", {
    args: [
      "copy",
      "--quiet",
      "--preserve-digests",
      ...extra,
      `oci:${SAMPLE_LAYOUT}:latest`,
      `docker://${dest}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`skopeo copy to ${dest} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** `skopeo inspect --raw` with extra flags: the exact manifest bytes the registry serves. */
export async function skopeoRaw(ref: string, extra: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("skopeo", {
    args: ["inspect", "--raw", ...extra, `docker://${ref}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`skopeo inspect ${ref} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}
