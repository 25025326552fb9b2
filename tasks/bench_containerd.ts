/**
 * Benchmark of reading an image from containerd (library level, until the
 * CLI has `containerd:` references): the SOCI pipeline
 * `layers → spans → ztoc → index` over a `ContainerdSource` against the
 * same pipeline over the `oci:` layout the image came from, each run in a
 * fresh Deno process, interleaved, N rounds, same machine and run. The
 * issue's goal for `create` from containerd is ≤ 1.15 × `create oci:`.
 *
 * Three variants: `oci:` (the reference), `containerd` (layers streamed
 * with gRPC `Content.Read`) and `containerd --direct` (layers read from the
 * content store's files, `directRead: true`). Besides wall time it prints
 * the CPU time of each process (`/usr/bin/time`) and of containerd while it
 * serves, which says more than wall time on a loaded machine.
 *
 * The image is the two-layer generated image of `bench_data.ts`, imported
 * into a containerd started for the benchmark (`ctr images import`).
 *
 * ```sh
 * deno run -A tasks/bench_containerd.ts [--rounds N] [--size-mib N]
 * ```
 *
 * @module
 */
import { DEFAULT_DIR, ensureImage, parseArgs, sizeArg } from "./bench_data.ts";
import { ctrImport, ociArchive, startContainerd } from "../tests/helpers/containerd.ts";
import { ContainerdSource } from "../lib/image/containerd_source.ts";
import { OciLayoutSource } from "../lib/image/oci_layout.ts";
import type { ImageSource } from "../lib/image/source.ts";
import { index, layers, pipe, spans, ztoc } from "../lib/pipeline.ts";

const SELF = new URL(import.meta.url).pathname;

/** Child mode: build the index of one reference and print its digest. */
async function child(reference: string, socket: string, direct: boolean): Promise<void> {
  const src: ImageSource = reference.startsWith("oci:")
    ? OciLayoutSource.fromReference(reference)
    : new ContainerdSource(reference, { address: socket, directRead: direct });
  try {
    const soci = await pipe(src, layers({ minLayerSize: 0 }), spans(), ztoc(), index());
    console.log(soci.descriptor.digest);
  } finally {
    await src.close?.();
  }
}

/** One child run: wall seconds, CPU seconds of the child and of containerd, the index digest. */
interface Run {
  wall: number;
  cpu: number;
  daemonCpu: number;
  digest: string;
}

/** CPU seconds a process has used so far (/proc/PID/stat utime + stime). */
async function processCpu(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function timed(
  reference: string,
  socket: string,
  daemon: number,
  direct = false,
): Promise<Run> {
  const before = await processCpu(daemon);
  const t0 = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "%U %S",
      Deno.execPath(),
      "run",
      "-A",
      SELF,
      "--child",
      reference,
      socket,
      direct ? "direct" : "grpc",
    ],
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = (performance.now() - t0) / 1000;
  const daemonCpu = await processCpu(daemon) - before;
  const err = new TextDecoder().decode(out.stderr).trim();
  if (out.code !== 0) throw new Error(`${reference}: ${err.slice(-1000)}`);
  const [user, sys] = err.split("\n").at(-1)!.split(" ").map(Number);
  return { wall, cpu: user + sys, daemonCpu, digest: new TextDecoder().decode(out.stdout).trim() };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const min = (xs: number[]) => Math.min(...xs);

async function main(): Promise<void> {
  const { values } = parseArgs(Deno.args, {
    rounds: "string",
    "size-mib": "string",
    dir: "string",
  });
  const rounds = Number(values.rounds ?? 5);
  const log = (s: string) => console.error(s);
  const image = await ensureImage({
    size: sizeArg(values),
    dir: (values.dir as string | undefined) ?? DEFAULT_DIR,
    log,
  });
  const c = await startContainerd();
  const work = await Deno.makeTempDir({ prefix: "soci-bench-ctrd-" });
  try {
    await ociArchive(image.dir, image.tag, `${work}/image.tar`);
    await ctrImport(c, `${work}/image.tar`, { baseName: "docker.io/library/bench" });
    await Deno.remove(`${work}/image.tar`);
    const variants: Array<{ name: string; run: () => Promise<Run>; runs: Run[] }> = [
      { name: "oci: layout", run: () => timed(`oci:${image.dir}:${image.tag}`, c.socket, c.pid) },
      { name: "containerd gRPC", run: () => timed("containerd:bench:bench", c.socket, c.pid) },
      {
        name: "containerd direct",
        run: () => timed("containerd:bench:bench", c.socket, c.pid, true),
      },
    ].map((v) => ({ ...v, runs: [] }));
    for (const v of variants) await v.run(); // warm-up (page cache, Deno caches)
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) v.runs.push(await v.run());
      log(
        `round ${i + 1}/${rounds}: ` +
          variants.map((v) =>
            `${v.name} ${v.runs[i].wall.toFixed(2)} s (cpu ${v.runs[i].cpu.toFixed(2)} s` +
            (v.runs[i].daemonCpu > 0.05
              ? ` + containerd ${v.runs[i].daemonCpu.toFixed(2)} s)`
              : ")")
          ).join(", "),
      );
    }
    const bytes = image.layers.reduce((n, l) => n + l.size, 0);
    console.log(`image: 2 gzip layers, ${(bytes / 1048576).toFixed(1)} MiB compressed`);
    const ref = variants[0].runs;
    for (const v of variants) {
      const wall = v.runs.map((r) => r.wall);
      const cpu = v.runs.map((r) => r.cpu);
      const daemon = v.runs.map((r) => r.daemonCpu);
      console.log(
        `${v.name.padEnd(18)} wall median ${median(wall).toFixed(2)} s, min ${
          min(wall).toFixed(2)
        } s; cpu median ${median(cpu).toFixed(2)} s (+ containerd ${
          median(daemon).toFixed(2)
        } s); ratio to oci: wall median ${
          (median(wall) / median(ref.map((r) => r.wall))).toFixed(3)
        }, wall min ${(min(wall) / min(ref.map((r) => r.wall))).toFixed(3)}, cpu median ${
          (median(cpu) / median(ref.map((r) => r.cpu))).toFixed(3)
        }`,
      );
    }
    const digests = new Set(variants.flatMap((v) => v.runs.map((r) => r.digest)));
    console.log(`goal: wall ratio <= 1.15; same index digest everywhere: ${digests.size === 1}`);
    const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
    console.log(`load average: ${load} (${navigator.hardwareConcurrency} cores)`);
  } finally {
    await c.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    await child(Deno.args[1], Deno.args[2], Deno.args[3] === "direct");
  } else await main();
}
