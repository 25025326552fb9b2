/**
 * Starts the real Debian `containerd` (1.6) for a test: its own root, state,
 * sockets and config under a temp folder, CRI disabled, ready when `ctr
 * version` answers; stopped by PID (SIGTERM, wait) and its folder removed.
 * Also wrappers around `ctr` (run against that socket, import archives,
 * pull from the test registry) and `skopeo` (OCI layout → OCI archive).
 *
 * @module
 */
import { join } from "node:path";

/** Options of {@link startContainerd}. */
export interface ContainerdOptions {
  /** `[grpc] max_recv_message_size` (bytes), to check that clients keep messages small. */
  maxRecvMessageSize?: number;
}

/** A running test containerd. */
export interface TestContainerd {
  /** Temp folder with config, root, state, sockets and log. */
  dir: string;
  /** containerd's root (content store under `io.containerd.content.v1.content`). */
  root: string;
  /** The gRPC socket. */
  socket: string;
  /** containerd's ttrpc socket (for shims: it speaks no gRPC). */
  ttrpcSocket: string;
  /** PID of the containerd process. */
  pid: number;
  /** Runs `ctr -a SOCKET [-n NAMESPACE] ARGS…`; returns stdout, throws with stderr on failure. */
  ctr(args: string[], namespace?: string): Promise<string>;
  /** Runs `ctr` and returns its raw stdout bytes. */
  ctrBytes(args: string[], namespace?: string): Promise<Uint8Array>;
  /** containerd's log so far. */
  log(): Promise<string>;
  /** Stops containerd (SIGTERM, waits for exit) and removes its folder. */
  stop(): Promise<void>;
}

const DEC = new TextDecoder();

async function runBytes(cmd: string, args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${DEC.decode(out.stderr)}`);
  }
  return out.stdout;
}

function configToml(dir: string, opts: ContainerdOptions): string {
  const lines = [
    "version = 2",
    `root = "${join(dir, "root")}"`,
    `state = "${join(dir, "state")}"`,
    `disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
    "",
    "[grpc]",
    `  address = "${join(dir, "containerd.sock")}"`,
  ];
  if (opts.maxRecvMessageSize) lines.push(`  max_recv_message_size = ${opts.maxRecvMessageSize}`);
  lines.push(
    "",
    "[ttrpc]",
    `  address = "${join(dir, "containerd.sock.ttrpc")}"`,
    "",
    "[debug]",
    `  address = "${join(dir, "debug.sock")}"`,
    `  level = "info"`,
    "",
    `[plugins."io.containerd.internal.v1.opt"]`,
    `  path = "${join(dir, "opt")}"`,
  );
  return lines.join("\n") + "\n";
}

/**
 * Starts containerd and waits until `ctr version` answers.
 *
 * @example
 * ```ts ignore
 * import { startContainerd } from "./containerd.ts";
 * const c = await startContainerd();
 * try {
 *   console.assert((await c.ctr(["version"])).includes("Server:"));
 * } finally {
 *   await c.stop();
 * }
 * ```
 */
export async function startContainerd(opts: ContainerdOptions = {}): Promise<TestContainerd> {
  const dir = await Deno.makeTempDir({ prefix: "soci-ctrd-" });
  const socket = join(dir, "containerd.sock");
  const configPath = join(dir, "config.toml");
  await Deno.writeTextFile(configPath, configToml(dir, opts));
  const logPath = join(dir, "containerd.log");
  const logFile = await Deno.open(logPath, { create: true, append: true });
  const child = new Deno.Command("/usr/bin/containerd", {
    args: ["--config", configPath],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) await logFile.write(chunk);
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]).catch(() => {});
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
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
  };
  const ctrBytes = (args: string[], namespace?: string) =>
    runBytes("ctr", ["-a", socket, ...(namespace ? ["-n", namespace] : []), ...args]);
  const started = Date.now();
  for (;;) {
    if (exited) {
      await stop();
      const log = await Deno.readTextFile(logPath).catch(() => "");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`containerd exited at start: ${log.slice(-800)}`);
    }
    try {
      await ctrBytes(["version"]);
      break;
    } catch {
      // not ready yet
    }
    if (Date.now() - started > 20_000) {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error("containerd did not become ready within 20 s");
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    dir,
    root: join(dir, "root"),
    socket,
    ttrpcSocket: join(dir, "containerd.sock.ttrpc"),
    pid: child.pid,
    ctr: async (args, namespace) => DEC.decode(await ctrBytes(args, namespace)),
    ctrBytes,
    log: () => Deno.readTextFile(logPath),
    stop: async () => {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** `skopeo copy --all oci:LAYOUT:TAG oci-archive:OUT:TAG` (an archive for `ctr images import`). */
export async function ociArchive(layout: string, tag: string, out: string): Promise<void> {
  await runBytes("skopeo", [
    "copy",
    "--quiet",
    "--all",
    "--preserve-digests",
    `oci:${layout}:${tag}`,
    `oci-archive:${out}:${tag}`,
  ]);
}

/** Options of {@link ctrImport}. */
export interface ImportOptions {
  /** `--base-name`: the archive's tags become `<base>:<tag>`. */
  baseName?: string;
  /** The namespace to import into. */
  namespace?: string;
}

/** `ctr images import --all-platforms --no-unpack [--base-name B] ARCHIVE`. */
export async function ctrImport(
  c: TestContainerd,
  archive: string,
  opts: ImportOptions = {},
): Promise<void> {
  const args = ["images", "import", "--all-platforms", "--no-unpack"];
  if (opts.baseName) args.push("--base-name", opts.baseName);
  args.push(archive);
  await c.ctr(args, opts.namespace);
}

/** `ctr images pull --plain-http --all-platforms REF` from a plain-HTTP test registry. */
export async function ctrPull(c: TestContainerd, ref: string, namespace?: string): Promise<void> {
  await c.ctr(["images", "pull", "--plain-http", "--all-platforms", ref], namespace);
}

/** The digests `ctr content ls -q` lists (what containerd really holds). */
export async function ctrContentDigests(c: TestContainerd, namespace?: string): Promise<string[]> {
  return (await c.ctr(["content", "ls", "-q"], namespace)).split("\n").filter((l) => l !== "");
}

/** The lease ids `ctr leases ls -q` lists. */
export async function ctrLeaseIds(c: TestContainerd, namespace?: string): Promise<string[]> {
  return (await c.ctr(["leases", "ls", "-q"], namespace)).split("\n").filter((l) => l !== "");
}

/** The refs of unfinished writes (`ctr content active`, header dropped). */
export async function ctrActiveIngests(c: TestContainerd, namespace?: string): Promise<string[]> {
  const lines = (await c.ctr(["content", "active"], namespace)).split("\n").slice(1);
  return lines.map((l) => l.split("\t")[0]).filter((r) => r !== "");
}

/** The entries of containerd's ingest folder on disk (unfinished writes). */
export async function ingestDirEntries(c: TestContainerd): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(`${c.root}/io.containerd.content.v1.content/ingest`)) {
      out.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/** Labels as `ctr` prints them: `k=v,k=v`, or `-` for none. */
function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text === "-" || text === "") return out;
  for (const kv of text.split(",")) {
    const i = kv.indexOf("=");
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** Every blob of `ctr content ls` with its labels. */
export async function ctrContentLabels(
  c: TestContainerd,
  namespace?: string,
): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (const line of (await c.ctr(["content", "ls"], namespace)).split("\n").slice(1)) {
    if (line.trim() === "") continue;
    const cols = line.split("\t").filter((s) => s !== "");
    out.set(cols[0], parseLabels(cols[cols.length - 1]));
  }
  return out;
}

/** Every image record of `ctr images ls` with its labels (the last column). */
export async function ctrImageLabels(
  c: TestContainerd,
  namespace?: string,
): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  for (const line of (await c.ctr(["images", "ls"], namespace)).split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 2) continue;
    out.set(cols[0], parseLabels(cols[cols.length - 1]));
  }
  return out;
}

/** Every lease of `ctr leases ls` with its labels. */
export async function ctrLeases(
  c: TestContainerd,
  namespace?: string,
): Promise<Array<{ id: string; labels: Record<string, string> }>> {
  const out = [];
  for (const line of (await c.ctr(["leases", "ls"], namespace)).split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 2) continue;
    out.push({ id: cols[0], labels: parseLabels(cols.length > 2 ? cols[cols.length - 1] : "-") });
  }
  return out;
}

/**
 * Runs containerd's garbage collection now: a throw-away lease deleted with
 * `ctr leases rm --sync` (containerd collects before answering).
 */
export async function ctrGc(c: TestContainerd, namespace?: string): Promise<void> {
  const id = `gc-${crypto.randomUUID()}`;
  await c.ctr(["leases", "create", "--id", id], namespace);
  await c.ctr(["leases", "rm", "--sync", id], namespace);
}

/** A unix socket listener that accepts connections and never answers (see {@link silentSocket}). */
export interface SilentSocket extends AsyncDisposable {
  /** The socket path. */
  path: string;
  /** How many connections it accepted so far. */
  accepted(): number;
  /** Closes the listener and every connection it accepted. */
  close(): Promise<void>;
}

/**
 * Listens on the unix socket `path` (in this process), accepts every
 * connection, reads nothing and writes nothing: what a client sees from a
 * socket that is not containerd's gRPC socket and never answers. With
 * `hangUp`, each connection is closed as soon as it is accepted instead.
 */
export function silentSocket(path: string, options: { hangUp?: boolean } = {}): SilentSocket {
  const listener = Deno.listen({ transport: "unix", path });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        if (options.hangUp) conn.close();
      }
    } catch {
      // the listener was closed
    }
  })();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    listener.close();
    await accepting;
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // closed by the peer
      }
    }
    await Deno.remove(path).catch(() => {});
  };
  return { path, accepted: () => conns.length, close, [Symbol.asyncDispose]: close };
}

/**
 * The output of `child`, which is killed (SIGKILL) if it has not ended
 * after `limitMs`; with whether it had to be killed.
 */
export async function outputWithin(
  child: Deno.ChildProcess,
  limitMs: number,
): Promise<{ out: Deno.CommandOutput; killed: boolean }> {
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, limitMs);
  try {
    return { out: await child.output(), killed };
  } finally {
    clearTimeout(timer);
  }
}
