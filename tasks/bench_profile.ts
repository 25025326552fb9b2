/**
 * Where the time of `ztoc build` goes, for both kinds of benchmark data (a
 * generated layer and a layer of this machine's own files): times, in this
 * process, each part of the one-pass scan (read, sha256, inflate, inflate +
 * tar, `scanLayer`, `ScanPool(1).scan` with the CPU time of its main and
 * worker threads, zTOC building and encoding) and the whole `ztoc build`
 * command, with `gzip -dc` (and `igzip -dc` when installed) of the same
 * file as references; then the peak RSS of each part run alone in a fresh
 * process (`/usr/bin/time -f %M`).
 *
 * ```sh
 * deno run -A tasks/bench_profile.ts [--data generated|real|both] [--rounds 3] [--size-mib 320]
 *   [--real-size-mib 300] [--seed 1] [--layer FILE]
 * ```
 *
 * @module
 */
import { checkpointInflater } from "../lib/gzip/native_inflater.ts";
import { readFileChunks } from "../lib/image/file_layer.ts";
import { DEFAULT_SPAN_SIZE } from "../lib/oci/media_types.ts";
import { Sha256 } from "../lib/oci/digest.ts";
import { TarReader } from "../lib/tar/reader.ts";
import { buildZtoc } from "../lib/ztoc/builder.ts";
import { encodeZtoc } from "../lib/ztoc/codec.ts";
import { LayerDecoder } from "../lib/ztoc/layer_decoder.ts";
import { LayerHasher, type LayerScan, scanLayer } from "../lib/ztoc/scan.ts";
import { ScanPool } from "../lib/ztoc/scan_pool.ts";
import { median, timed } from "./bench.ts";
import {
  dataKinds,
  DEFAULT_DIR,
  ensureLayer,
  ensureRealLayer,
  parseArgs,
  REAL_LAYER_SIZE,
  sizeArg,
} from "./bench_data.ts";

const SPAN = DEFAULT_SPAN_SIZE;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const MIB = 1048576;

async function readAll(path: string): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const c of readFileChunks(path)) chunks.push(c);
  return chunks;
}

function inflateOnly(chunks: Uint8Array[], engine: "native" | "wasm"): number {
  let out = 0;
  const inf = checkpointInflater(SPAN, {
    data: (b) => {
      out += b.length;
    },
  }, { engine });
  for (const c of chunks) inf.push(c);
  inf.end();
  return out;
}

function inflateTar(chunks: Uint8Array[]): number {
  let n = 0;
  const tar = new TarReader(() => n++);
  const inf = checkpointInflater(SPAN, {
    data: (b) => {
      if (!tar.done) tar.push(b);
    },
  });
  for (const c of chunks) inf.push(c);
  inf.end();
  tar.end();
  return n;
}

function sha(chunks: Uint8Array[]): string {
  const h = new Sha256();
  for (const c of chunks) h.update(c);
  return h.digest();
}

/** Decodes once to learn the span starts of each chunk (input of the LayerHasher stage). */
function spanStarts(chunks: Uint8Array[]) {
  const d = new LayerDecoder("gzip", SPAN);
  const starts = chunks.map((c) => d.push(c));
  d.end();
  return starts;
}

function hashSpans(chunks: Uint8Array[], starts: ReturnType<typeof spanStarts>): number {
  const h = new LayerHasher("gzip", SPAN);
  for (let i = 0; i < chunks.length; i++) h.push(chunks[i], starts[i]);
  return h.end().spanDigests.length;
}

/** CPU seconds (user + system) of each thread of this process, by thread id. */
function threadCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of Deno.readDirSync("/proc/self/task")) {
    try {
      const stat = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(Number(t.name), (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // thread ended
    }
  }
  return out;
}

/** CPU seconds of the main thread and of the busiest other thread (the worker) in the last pool scan. */
const poolCpu = { main: [] as number[], worker: [] as number[] };

async function poolScan(path: string, record = false): Promise<LayerScan> {
  const pool = new ScanPool(1);
  const before = threadCpu();
  try {
    const scan = await pool.scan(readFileChunks(path, 0, Infinity, { reuse: true }), {
      compression: "detect",
      spanSize: SPAN,
    });
    if (record) {
      const after = threadCpu();
      let worker = 0;
      for (const [tid, cpu] of after) {
        const d = cpu - (before.get(tid) ?? 0);
        if (tid !== Deno.pid && d > worker) worker = d;
      }
      poolCpu.main.push((after.get(Deno.pid) ?? 0) - (before.get(Deno.pid) ?? 0));
      poolCpu.worker.push(worker);
    }
    return scan;
  } finally {
    pool.close();
  }
}

async function nativeInflate(path: string): Promise<number> {
  const f = await Deno.open(path);
  let n = 0;
  const reader = f.readable.pipeThrough(new DecompressionStream("gzip")).getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    n += r.value.length;
  }
  return n;
}

/** One part of the pass, run alone in a child process for its peak RSS. */
async function child(part: string, path: string): Promise<void> {
  const opts = { compression: "detect" as const, spanSize: SPAN };
  switch (part) {
    case "idle":
      return;
    case "read":
      for await (const _ of readFileChunks(path)) {
        // read only
      }
      return;
    case "inflate": {
      let out = 0;
      const inf = checkpointInflater(SPAN, {
        data: (b) => {
          out += b.length;
        },
      });
      for await (const c of readFileChunks(path)) inf.push(c);
      inf.end();
      return;
    }
    case "scan":
      await scanLayer(readFileChunks(path), opts);
      return;
    case "pool":
      await poolScan(path);
      return;
    case "pool+encode": {
      const scan = await poolScan(path);
      encodeZtoc(buildZtoc(scan));
      return;
    }
    default:
      throw new Error(`unknown part ${part}`);
  }
}

interface Stage {
  name: string;
  run: () => unknown | Promise<unknown>;
}

async function main(): Promise<void> {
  const { values } = parseArgs(Deno.args, {
    rounds: "string",
    "size-mib": "string",
    "real-size-mib": "string",
    data: "string",
    seed: "string",
    dir: "string",
    layer: "string",
    child: "string",
  });
  if (typeof values.child === "string") {
    await child(values.child, values.layer as string);
    return;
  }
  const rounds = Number(values.rounds ?? 3);
  const dir = (values.dir as string | undefined) ?? DEFAULT_DIR;
  const log = (s: string) => console.error(s);
  if (typeof values.layer === "string") {
    await profile(values.layer, rounds, "given");
    return;
  }
  const kinds = dataKinds(values, "both", ["generated", "real"]);
  if (kinds.includes("generated")) {
    const info = await ensureLayer({
      seed: Number(values.seed ?? 1),
      size: sizeArg(values),
      dir,
      log,
    });
    await profile(info.path, rounds, "generated");
  }
  if (kinds.includes("real")) {
    const size = values["real-size-mib"] === undefined
      ? REAL_LAYER_SIZE
      : Math.round(Number(values["real-size-mib"]) * MIB);
    const info = await ensureRealLayer({ size, dir, log });
    await profile(info.path, rounds, "real");
  }
}

function hasCommand(cmd: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

async function profile(layer: string, rounds: number, kind: string): Promise<void> {
  poolCpu.main.length = 0;
  poolCpu.worker.length = 0;
  const size = (await Deno.stat(layer)).size;
  const chunks = await readAll(layer); // also warms the page cache
  const starts = spanStarts(chunks);
  const tarSize = inflateOnly(chunks, "native");
  let scan: LayerScan | undefined;
  console.log(
    `\n== ${kind} data ==\nlayer ${layer}: ${(size / MIB).toFixed(1)} MiB gzip, ${
      (tarSize / MIB).toFixed(1)
    } MiB ` +
      `tar, ${chunks.length} chunks, ${starts.flat().length} spans; ${rounds} rounds, ` +
      `load average ${Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")}`,
  );

  const stages: Stage[] = [
    {
      name: "gzip -dc > /dev/null (reference, subprocess)",
      run: async () => {
        const r = await timed("gzip", ["-dc", layer]);
        if (r.code !== 0) throw new Error("gzip -dc failed");
      },
    },
    ...(hasCommand("igzip")
      ? [{
        name: "igzip -dc > /dev/null (ISA-L, subprocess)",
        run: async () => {
          const r = await timed("igzip", ["-dc", layer]);
          if (r.code !== 0) throw new Error("igzip -dc failed");
        },
      }]
      : []),
    {
      name: "soci ztoc build (whole command, subprocess)",
      run: async () => {
        const out = await Deno.makeTempFile();
        try {
          const r = await timed(Deno.execPath(), [
            "run",
            "-A",
            CLI,
            "ztoc",
            "build",
            "-o",
            out,
            layer,
          ]);
          if (r.code !== 0) throw new Error(`ztoc build failed: ${r.stderr}`);
        } finally {
          await Deno.remove(out);
        }
      },
    },
    { name: "read file, 1 MiB chunks (readFileChunks)", run: () => readAll(layer) },
    { name: "sha256 of the layer (in memory)", run: () => sha(chunks) },
    { name: "LayerHasher: layer + span digests (in memory)", run: () => hashSpans(chunks, starts) },
    {
      name: "inflate alone (WASM zlib, no-op sink)",
      run: () => inflateOnly(chunks, "wasm"),
    },
    {
      name: "inflate alone (native zlib + probes, no-op sink)",
      run: () => inflateOnly(chunks, "native"),
    },
    { name: "inflate + TarReader (in memory)", run: () => inflateTar(chunks) },
    {
      name: "scanLayer (in memory, one thread)",
      run: () => scanLayer(chunks, { compression: "detect", spanSize: SPAN }),
    },
    {
      name: "scanLayer (from file, one thread)",
      run: async () => {
        scan = await scanLayer(readFileChunks(layer), { compression: "detect", spanSize: SPAN });
      },
    },
    { name: "ScanPool(1).scan (from file, worker)", run: () => poolScan(layer, true) },
    { name: "buildZtoc (after the scan)", run: () => buildZtoc(scan!) },
    { name: "buildZtoc + encodeZtoc (after the scan)", run: () => encodeZtoc(buildZtoc(scan!)) },
    { name: "DecompressionStream gzip (native, from file)", run: () => nativeInflate(layer) },
  ];

  const times: number[][] = stages.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < stages.length; i++) {
      const t0 = performance.now();
      await stages[i].run();
      times[i].push((performance.now() - t0) / 1000);
    }
    console.error(`round ${round + 1}/${rounds} done`);
  }
  const ref = median(times[0]);
  console.log("");
  console.log(
    `${"stage".padEnd(48)} ${"median".padStart(8)}  ${"min–max".padEnd(11)}  ` +
      `${"MB/s in".padStart(7)}  ${"/gzip".padStart(5)}`,
  );
  for (let i = 0; i < stages.length; i++) {
    const m = median(times[i]);
    console.log(
      `${stages[i].name.padEnd(48)} ${m.toFixed(3).padStart(6)} s  ` +
        `${Math.min(...times[i]).toFixed(2)}–${Math.max(...times[i]).toFixed(2)} s  ` +
        `${(size / 1e6 / m).toFixed(0).padStart(7)}  ${(m / ref).toFixed(2).padStart(5)}`,
    );
  }

  console.log(
    `ScanPool(1).scan CPU time: main thread ${median(poolCpu.main).toFixed(2)} s, ` +
      `worker (inflate) ${median(poolCpu.worker).toFixed(2)} s (medians; /proc/self/task)`,
  );

  // Peak RSS of each part alone, in a fresh process.
  console.log("");
  console.log("peak RSS of each part alone (fresh `deno run` process, /usr/bin/time -f %M):");
  const self = new URL(import.meta.url).pathname;
  for (const part of ["idle", "read", "inflate", "scan", "pool", "pool+encode"]) {
    const r = await timed(Deno.execPath(), [
      "run",
      "-A",
      self,
      "--child",
      part,
      "--layer",
      layer,
    ]);
    if (r.code !== 0) throw new Error(`child ${part} failed: ${r.stderr.trim()}`);
    console.log(
      `  ${part.padEnd(12)} ${(r.rssKiB / 1024).toFixed(0).padStart(5)} MiB   ` +
        `${r.wall.toFixed(2)} s wall, ${(r.user + r.sys).toFixed(2)} s cpu`,
    );
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`bench_profile: ${(e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
