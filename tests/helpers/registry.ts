/**
 * Starts the real Debian `docker-registry` (CNCF distribution 2.8) for a
 * test: free loopback port, its own temp config and storage (deletes
 * enabled), optional htpasswd (bcrypt) and TLS (test CA + leaf). Stopped by
 * PID. Also small wrappers around `skopeo` for the tests.
 *
 * @module
 */
import { join } from "node:path";
import { makeTestCertificates, type TestCertificates } from "./registry_tls.ts";

/** Options of {@link startRegistry}. */
export interface RegistryOptions {
  /** Require these credentials (htpasswd, bcrypt). */
  auth?: { username: string; password: string };
  /** Serve HTTPS with a fresh test CA. */
  tls?: boolean;
  /** `storage.delete.enabled` (default true). */
  deleteEnabled?: boolean;
}

/** A running test registry. */
export interface TestRegistry {
  /** `127.0.0.1:<port>`. */
  host: string;
  port: number;
  /** `http(s)://127.0.0.1:<port>`. */
  url: string;
  /** Temp folder with config, storage, certificates and log. */
  dir: string;
  /** The test certificates when `tls` was asked for. */
  certs?: TestCertificates;
  /** PID of the registry process. */
  pid: number;
  /** The registry's log so far. */
  log(): Promise<string>;
  /** Stops the registry (SIGTERM, waits for exit) and removes its folder. */
  stop(): Promise<void>;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function htpasswdLine(username: string, password: string): Promise<string> {
  const out = await new Deno.Command("htpasswd", {
    args: ["-Bbn", username, password],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error("htpasswd failed: " + new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim() + "\n";
}

function configYaml(dir: string, port: number, opts: RegistryOptions, certs?: TestCertificates) {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${join(dir, "data")}`,
    "  delete:",
    `    enabled: ${opts.deleteEnabled ?? true}`,
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "  secret: soci-deno-test-secret",
    "  headers:",
    "    X-Content-Type-Options: [nosniff]",
  ];
  if (certs) {
    lines.push("  tls:", `    certificate: ${certs.leafCertPath}`, `    key: ${certs.leafKeyPath}`);
  }
  if (opts.auth) {
    lines.push(
      "auth:",
      "  htpasswd:",
      "    realm: soci-test",
      `    path: ${join(dir, "htpasswd")}`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * Starts a registry and waits until `GET /v2/` answers (200, or 401 with
 * auth).
 *
 * @example
 * ```ts ignore
 * import { startRegistry } from "./registry.ts";
 * const reg = await startRegistry();
 * try {
 *   const res = await fetch(`${reg.url}/v2/`);
 *   console.assert(res.status === 200);
 *   await res.body?.cancel();
 * } finally {
 *   await reg.stop();
 * }
 * ```
 */
export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "soci-test-registry-" });
  try {
    const certs = opts.tls ? await makeTestCertificates(dir) : undefined;
    if (opts.auth) {
      await Deno.writeTextFile(
        join(dir, "htpasswd"),
        await htpasswdLine(opts.auth.username, opts.auth.password),
      );
    }
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        return await launch(dir, opts, certs);
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError;
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

async function launch(
  dir: string,
  opts: RegistryOptions,
  certs: TestCertificates | undefined,
): Promise<TestRegistry> {
  const port = freePort();
  const configPath = join(dir, "config.yml");
  await Deno.writeTextFile(configPath, configYaml(dir, port, opts, certs));
  const logPath = join(dir, "registry.log");
  const logFile = await Deno.open(logPath, { create: true, append: true });
  const child = new Deno.Command("/usr/bin/docker-registry", {
    args: ["serve", configPath],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const enc = new TextEncoder();
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) await logFile.write(chunk);
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]).catch(() => {});
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const scheme = certs ? "https" : "http";
  const url = `${scheme}://127.0.0.1:${port}`;
  const client = certs ? Deno.createHttpClient({ caCerts: [certs.caPem] }) : undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      try {
        Deno.kill(child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await status;
    await drained;
    logFile.close();
    client?.close();
  };
  const started = Date.now();
  for (;;) {
    if (exited) {
      await stop();
      const log = await Deno.readTextFile(logPath).catch(() => "");
      throw new Error(`docker-registry exited at start: ${log.slice(-500)}`);
    }
    try {
      const res = await fetch(`${url}/v2/`, client ? { client } : {});
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > 10_000) {
      await stop();
      throw new Error("docker-registry did not become ready within 10 s");
    }
    await new Promise((r) => setTimeout(r, 15));
  }
  await logFile.write(enc.encode(`# ready on ${url}\n`));
  return {
    host: `127.0.0.1:${port}`,
    port,
    url,
    dir,
    certs,
    pid: child.pid,
    log: () => Deno.readTextFile(logPath),
    stop: async () => {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs a command, returns stdout bytes; throws with stderr on failure. */
export async function run(
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", env }).output();
  if (out.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return out.stdout;
}

/**
 * `skopeo copy --preserve-digests` of an OCI layout image into a plain-HTTP
 * registry; with `all`, every platform of an image index (`--all`).
 */
export async function skopeoCopyToRegistry(
  layoutDir: string,
  tag: string,
  dest: string,
  options: { all?: boolean } = {},
): Promise<void> {
  await run("skopeo", [
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    "--preserve-digests",
    ...(options.all ? ["--all"] : []),
    `oci:${layoutDir}:${tag}`,
    `docker://${dest}`,
  ]);
}

/** `skopeo inspect --raw` of a plain-HTTP registry reference: the exact manifest bytes. */
export async function skopeoInspectRaw(ref: string): Promise<Uint8Array> {
  return await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
}
