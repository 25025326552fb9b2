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
 * The images: the shared two-layer benchmark images of `bench_data.ts`, real
 * content (`ensureRealImage`: slices of the machine's own `/usr` files) and
 * generated (`ensureImage`), each measured in its own run.
 *
 * ```sh
 * deno run -A tasks/bench_convert.ts [--rounds 3] [--size-mib 300] [--data real|generated|both] [--json]
 * ```
 *
 * @module
 */
import { startCountingProxy } from "../tests/helpers/counting_proxy.ts";
import { startRegistry } from "../tests/helpers/registry.ts";
import {
  dataKinds,
  ensureImage,
  ensureRealImage,
  type ImageInfo,
  parseArgs,
} from "./bench_data.ts";
import { type Run, timed } from "./bench.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CLI = `${ROOT}/cli.ts`;
const MIB = 1048576;

/** The goals of issue 7. */
export const GOALS = { ratio: 1.1, bytesRead: 1.02 } as const;

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

/** The figures of one benchmark run (also the `--json` output). */
export interface ConvertBenchResult {
  rounds: number;
  data: "real" | "generated";
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
  options: {
    rounds?: number;
    size?: number;
    data?: "real" | "generated";
    log?: (s: string) => void;
  } = {},
): Promise<ConvertBenchResult> {
  const log = options.log ?? (() => {});
  const rounds = options.rounds ?? 3;
  const data = options.data ?? "real";
  const image: ImageInfo = data === "real"
    ? await ensureRealImage({ size: options.size, log })
    : await ensureImage({ size: options.size, log });
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
      data,
      image: {
        layers: image.layers.map(({ digest, size, uncompressedSize }) => ({
          digest,
          size,
          tarSize: uncompressedSize,
        })),
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
  const { values } = parseArgs(Deno.args, {
    rounds: "string",
    "size-mib": "string",
    data: "string",
    json: "bool",
  });
  const size = values["size-mib"] ? Math.round(Number(values["size-mib"]) * MIB) : undefined;
  const kinds = dataKinds(values);
  const results: ConvertBenchResult[] = [];
  for (const data of kinds) {
    results.push(
      await benchConvert({
        rounds: values.rounds ? Number(values.rounds) : undefined,
        size,
        data,
        log: (s) => console.error(s),
      }),
    );
  }
  if (values.json) console.log(JSON.stringify(results, null, 2));
  for (const r of values.json ? [] : results) {
    const f = (x: number) => `${x.toFixed(2)} s`;
    console.log(`== ${r.data} content`);
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
