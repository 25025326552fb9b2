/**
 * Benchmark of `soci convert docker://…/a docker://…/b` (issue 7) on Debian's
 * docker-registry on loopback, against `soci create docker://…/a` of the same
 * image in the same run (a fresh root for every run, so nothing is reused),
 * interleaved, N rounds; the figure is the ratio of the minima (goal ≤ 1.1×).
 * A counting proxy in front of the registry measures the layer bytes each
 * convert reads (goal ≤ 1.02 × the compressed layer sizes) and what it
 * uploads (same registry: nothing, the layers are mounted); `/usr/bin/time`
 * gives the bytes each process wrote to disk (no layer bytes).
 *
 * The image: two gzip layers of real content (see {@link realContentImage}).
 *
 * ```sh
 * deno run -A tasks/bench_convert.ts [--rounds 3] [--size-mib 300] [--json]
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { startCountingProxy } from "../tests/helpers/counting_proxy.ts";
import { startRegistry } from "../tests/helpers/registry.ts";
import { DEFAULT_DIR, parseArgs } from "./bench_data.ts";
import { type Run, timed } from "./bench.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CLI = `${ROOT}/cli.ts`;
const MIB = 1048576;
const MTIME = 1_700_000_000;

/** The goals of issue 7. */
export const GOALS = { ratio: 1.1, bytesRead: 1.02 } as const;

/** A layer of the benchmark image. */
export interface RealLayer {
  /** The `.tar.gz` file. */
  path: string;
  digest: string;
  size: number;
  /** Size of the tar. */
  tarSize: number;
}

/** The benchmark image: an OCI layout tagged `bench`. */
export interface RealImage {
  dir: string;
  tag: string;
  layers: RealLayer[];
}

async function run(cmd: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.slice(0, 4).join(" ")}… failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * The first files (regular files and symlinks, in byte order of their
 * paths) under `dir` whose sizes add up to `limit` bytes.
 */
async function pickFiles(dir: string, limit: number): Promise<{ list: string[]; bytes: number }> {
  const found = await run("find", [
    dir,
    "-xdev",
    "(",
    "-type",
    "f",
    "-o",
    "-type",
    "l",
    ")",
    "-printf",
    "%s %p\\n",
  ]);
  const entries = found.split("\n").filter((l) => l).map((l) => {
    const i = l.indexOf(" ");
    return { size: Number(l.slice(0, i)), path: l.slice(i + 1) };
  }).filter((e) => !e.path.includes("\n")).sort((
    a,
    b,
  ) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const list: string[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (bytes >= limit) break;
    list.push(e.path.replace(/^\//, ""));
    bytes += e.size;
  }
  return { list, bytes };
}

/**
 * One real-content layer: a sorted GNU tar (owner 0, fixed mtime) of the
 * first `size` bytes of files under `root`, through `gzip -6 -n`; cached in
 * the bench dir under a name that fingerprints the file list.
 */
async function realLayer(root: string, size: number, dir: string): Promise<RealLayer> {
  const { list } = await pickFiles(root, size);
  const fp = createHash("sha256").update(list.join("\n")).digest("hex").slice(0, 12);
  const base = `${dir}/convert-real-${root.replaceAll("/", "_")}-${size}-${fp}`;
  const gz = `${base}.tar.gz`;
  const meta = `${base}.json`;
  try {
    return JSON.parse(await Deno.readTextFile(meta));
  } catch {
    // not cached yet
  }
  await Deno.mkdir(dir, { recursive: true });
  const listFile = `${base}.list`;
  await Deno.writeTextFile(listFile, list.join("\n") + "\n");
  await run("bash", [
    "-c",
    `set -o pipefail; tar --no-recursion --sort=name --owner=0 --group=0 --numeric-owner ` +
    `--mtime=@${MTIME} --format=gnu -C / -cf - -T '${listFile}' ` +
    `| gzip -6 -n > '${gz}.tmp' && mv '${gz}.tmp' '${gz}'`,
  ]);
  const digest = "sha256:" + (await run("sha256sum", [gz])).split(" ")[0];
  const layer: RealLayer = {
    path: gz,
    digest,
    size: (await Deno.stat(gz)).size,
    tarSize: Number((await run("bash", ["-c", `gzip -dc '${gz}' | wc -c`])).trim()),
  };
  await Deno.writeTextFile(meta, JSON.stringify(layer));
  return layer;
}

/**
 * The benchmark image, made here until the shared real-content image of
 * `bench_data.ts` (branch `speed`, `ensureRealImage`) is on main — swap
 * this function for that one then: two gzip layers of about `size` bytes of
 * tar each, the first of files under `/usr/share`, the second under
 * `/usr/lib` (sorted, owner 0, fixed mtime, `gzip -6 -n`), in an OCI layout
 * tagged `bench` whose config names the host platform.
 */
export async function realContentImage(size = 300 * MIB, dir = DEFAULT_DIR): Promise<RealImage> {
  const layers = [await realLayer("/usr/share", size, dir), await realLayer("/usr/lib", size, dir)];
  const layout = `${dir}/convert-image-${layers.map((l) => l.digest.slice(7, 19)).join("-")}`;
  const tag = "bench";
  try {
    await Deno.stat(`${layout}/index.json`);
    return { dir: layout, tag, layers };
  } catch {
    // build it
  }
  const tmp = `${layout}.tmp`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${tmp}/blobs/sha256`, { recursive: true });
  const put = async (bytes: Uint8Array) => {
    const hex = createHash("sha256").update(bytes).digest("hex");
    await Deno.writeFile(`${tmp}/blobs/sha256/${hex}`, bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  for (const l of layers) await Deno.link(l.path, `${tmp}/blobs/sha256/${l.digest.slice(7)}`);
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
  const diffIds = [];
  for (const l of layers) {
    diffIds.push(
      "sha256:" + (await run("bash", ["-c", `gzip -dc '${l.path}' | sha256sum`])).split(" ")[0],
    );
  }
  const config = await put(
    enc({ architecture: arch, os: "linux", rootfs: { type: "layers", diff_ids: diffIds } }),
  );
  const manifest = await put(enc({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: l.digest,
      size: l.size,
    })),
  }));
  await Deno.writeTextFile(`${tmp}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  await Deno.writeFile(
    `${tmp}/index.json`,
    enc({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": tag },
      }],
    }),
  );
  await Deno.rename(tmp, layout);
  return { dir: layout, tag, layers };
}

/** The figures of one benchmark run (also the `--json` output). */
export interface ConvertBenchResult {
  rounds: number;
  image: { layers: { digest: string; size: number; tarSize: number }[] };
  create: { wall: number[]; min: number; writtenBytes: number[]; peakRssMiB: number };
  convert: { wall: number[]; min: number; writtenBytes: number[]; peakRssMiB: number };
  ratio: { ofMinima: number; goal: number; ok: boolean };
  bytesRead: { perRound: number[]; layers: number; ratio: number; goal: number; ok: boolean };
  /** Bytes sent to upload sessions per round (zTOCs, indexes, manifests: layers are mounted). */
  uploadedBytes: number[];
  /** Layers uploaded per round (0: all mounted) and mounted. */
  layersUploaded: number[];
  layersMounted: number[];
  loadavg: { before: string; after: string };
}

function loadavg(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

/** Runs the benchmark (see the module documentation). */
export async function benchConvert(
  options: { rounds?: number; size?: number; log?: (s: string) => void } = {},
): Promise<ConvertBenchResult> {
  const log = options.log ?? (() => {});
  const rounds = options.rounds ?? 3;
  const image = await realContentImage(options.size);
  log(
    `image ${image.dir}: ${
      image.layers.map((l) => `${(l.size / MIB).toFixed(1)} MiB`).join(" + ")
    } gzip`,
  );
  const registry = await startRegistry();
  const proxy = startCountingProxy(registry.url);
  const scratch = await Deno.makeTempDir({ prefix: "soci-bench-convert-" });
  const before = loadavg();
  try {
    await run("skopeo", [
      "copy",
      "--quiet",
      "--preserve-digests",
      "--dest-tls-verify=false",
      `oci:${image.dir}:${image.tag}`,
      `docker://${registry.host}/bench/a:1`,
    ]);
    const src = `docker://${proxy.host}/bench/a:1`;
    const layerBytes = image.layers.reduce((n, l) => n + l.size, 0);
    const layerSet = new Set(image.layers.map((l) => l.digest));
    const create: Run[] = [];
    const convert: Run[] = [];
    const read: number[] = [];
    const uploaded: number[] = [];
    const layersUploaded: number[] = [];
    const layersMounted: number[] = [];
    const once = async (args: string[], round: number, what: string): Promise<Run> => {
      const root = `${scratch}/root-${what}-${round}`;
      const r = await timed(Deno.execPath(), ["run", "-A", CLI, "--root", root, ...args]);
      if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr.trim().split("\n").pop()}`);
      await Deno.remove(root, { recursive: true });
      return r;
    };
    for (let i = 0; i < rounds; i++) {
      const c = () => once(["create", "--plain-http", "--min-layer-size", "0", src], i, "create");
      const v = async () => {
        proxy.reset();
        const r = await once(
          [
            "convert",
            "--plain-http",
            "--min-layer-size",
            "0",
            src,
            `docker://${proxy.host}/bench/b${i}:1`,
          ],
          i,
          "convert",
        );
        let n = 0;
        for (const [d, bytes] of proxy.blobBytesRead()) if (layerSet.has(d)) n += bytes;
        read.push(n);
        layersUploaded.push(proxy.uploaded().filter((d) => layerSet.has(d)).length);
        layersMounted.push(proxy.mounted().filter((d) => layerSet.has(d)).length);
        uploaded.push(
          proxy.requests.filter((q) => q.path.includes("/blobs/uploads/")).reduce(
            (s, q) => s + q.sent,
            0,
          ),
        );
        return r;
      };
      // Interleaved, the order alternating between rounds.
      if (i % 2 === 0) {
        create.push(await c());
        convert.push(await v());
      } else {
        convert.push(await v());
        create.push(await c());
      }
      log(
        `round ${i + 1}: create ${create[i].wall.toFixed(2)} s, convert ${
          convert[i].wall.toFixed(2)
        } s, ` +
          `layer bytes read ${(read[i] / layerBytes).toFixed(4)}×`,
      );
    }
    const minCreate = Math.min(...create.map((r) => r.wall));
    const minConvert = Math.min(...convert.map((r) => r.wall));
    const ratio = minConvert / minCreate;
    const readRatio = Math.max(...read) / layerBytes;
    return {
      rounds,
      image: {
        layers: image.layers.map(({ digest, size, tarSize }) => ({ digest, size, tarSize })),
      },
      create: {
        wall: create.map((r) => r.wall),
        min: minCreate,
        writtenBytes: create.map((r) => r.writtenBytes),
        peakRssMiB: Math.max(...create.map((r) => r.rssKiB)) / 1024,
      },
      convert: {
        wall: convert.map((r) => r.wall),
        min: minConvert,
        writtenBytes: convert.map((r) => r.writtenBytes),
        peakRssMiB: Math.max(...convert.map((r) => r.rssKiB)) / 1024,
      },
      ratio: { ofMinima: ratio, goal: GOALS.ratio, ok: ratio <= GOALS.ratio },
      bytesRead: {
        perRound: read,
        layers: layerBytes,
        ratio: readRatio,
        goal: GOALS.bytesRead,
        ok: readRatio <= GOALS.bytesRead,
      },
      uploadedBytes: uploaded,
      layersUploaded,
      layersMounted,
      loadavg: { before, after: loadavg() },
    };
  } finally {
    await proxy.stop();
    await registry.stop();
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const { values } = parseArgs(Deno.args, { rounds: "string", "size-mib": "string", json: "bool" });
  const size = values["size-mib"] ? Math.round(Number(values["size-mib"]) * MIB) : undefined;
  const r = await benchConvert({
    rounds: values.rounds ? Number(values.rounds) : undefined,
    size,
    log: (s) => console.error(s),
  });
  if (values.json) {
    console.log(JSON.stringify(r, null, 2));
  } else {
    const f = (x: number) => `${x.toFixed(2)} s`;
    console.log(
      `create docker://  min ${f(r.create.min)}  (${r.create.wall.map(f).join(", ")}), ` +
        `peak RSS ${r.create.peakRssMiB.toFixed(0)} MiB`,
    );
    console.log(
      `convert d:// → d://  min ${f(r.convert.min)}  (${
        r.convert.wall.map(f).join(", ")
      }), peak RSS ${r.convert.peakRssMiB.toFixed(0)} MiB`,
    );
    console.log(
      `ratio (min/min)     ${r.ratio.ofMinima.toFixed(3)}×  goal ≤ ${r.ratio.goal}×  ${
        r.ratio.ok ? "OK" : "MISSED"
      }`,
    );
    console.log(
      `layer bytes read    ${r.bytesRead.ratio.toFixed(4)}× of ${
        (r.bytesRead.layers / MIB).toFixed(1)
      } MiB  goal ≤ ${r.bytesRead.goal}×  ${r.bytesRead.ok ? "OK" : "MISSED"}`,
    );
    console.log(
      `uploaded per round: ${r.uploadedBytes.join(", ")} bytes (zTOCs, indexes, manifests); ` +
        `layers uploaded ${r.layersUploaded.join(", ")}, mounted ${r.layersMounted.join(", ")}`,
    );
    console.log(
      `written to disk: convert ${
        r.convert.writtenBytes.map((b) => `${(b / MIB).toFixed(1)} MiB`).join(", ")
      }; create ${r.create.writtenBytes.map((b) => `${(b / MIB).toFixed(1)} MiB`).join(", ")}`,
    );
    console.log(`loadavg ${r.loadavg.before} → ${r.loadavg.after}`);
  }
}
