/**
 * Benchmark of `create` from containerd against `create oci:` of the same
 * image, in the same run: the CLI (`deno run -A cli.ts create …`, a fresh
 * root and `--force` each time, so every zTOC is built) in fresh processes,
 * interleaved, N rounds. The issue's goal: `create` from containerd ≤ 1.15 ×
 * `create oci:` (wall time).
 *
 * Variants:
 * - `oci:` (the reference): `create oci:DIR:bench` into the soci store;
 * - `containerd → soci`: `create containerd:bench:bench` into the soci
 *   store (layers streamed with gRPC `Content.Read`);
 * - `containerd → containerd (API)`: `--content-store containerd create
 *   --direct-read=false bench:bench` (read from containerd through its API,
 *   artifacts written into it, as upstream's `soci create` works);
 * - `containerd → containerd (files)`: the same with the default direct
 *   reads of the layers' blob files in containerd's content store.
 *
 * Besides wall time it prints the CPU time of each process
 * (`/usr/bin/time`) and of containerd while it serves, which says more than
 * wall time on a loaded machine. The images are the two-layer images of
 * `bench_data.ts`, real content (the machine's `/usr` files) and generated,
 * each imported into a containerd started for its run (`ctr images import`).
 *
 * ```sh
 * deno run -A tasks/bench_containerd.ts [--rounds N] [--size-mib N] [--data real|generated|both]
 * ```
 *
 * @module
 */
import {
  dataKinds,
  DEFAULT_DIR,
  ensureImage,
  ensureRealImage,
  parseArgs,
  realSizeArg,
  sizeArg,
} from "./bench_data.ts";
import { ctrImport, ociArchive, startContainerd } from "../tests/helpers/containerd.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** One run: wall seconds, CPU seconds of the process and of containerd, the index digest. */
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

/** Runs `deno ARGS` under /usr/bin/time; the last stdout line is the index digest. */
async function timed(args: string[], daemon: number): Promise<Run> {
  const before = await processCpu(daemon);
  const t0 = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%U %S", Deno.execPath(), ...args],
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = (performance.now() - t0) / 1000;
  const daemonCpu = await processCpu(daemon) - before;
  const err = new TextDecoder().decode(out.stderr).trim();
  if (out.code !== 0) throw new Error(`${args.join(" ")}: ${err.slice(-1000)}`);
  const [user, sys] = err.split("\n").at(-1)!.split(" ").map(Number);
  const digest = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
  return { wall, cpu: user + sys, daemonCpu, digest };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const min = (xs: number[]) => Math.min(...xs);

async function main(): Promise<void> {
  const { values } = parseArgs(Deno.args, {
    rounds: "string",
    "size-mib": "string",
    dir: "string",
    data: "string",
  });
  for (const data of dataKinds(values)) {
    await bench(data, values);
  }
}

async function bench(
  data: "real" | "generated",
  values: Record<string, string | boolean>,
): Promise<void> {
  const rounds = Number(values.rounds ?? 5);
  const log = (s: string) => console.error(s);
  const dir = (values.dir as string | undefined) ?? DEFAULT_DIR;
  const image = data === "real"
    ? await ensureRealImage({ size: realSizeArg(values), dir, log })
    : await ensureImage({ size: sizeArg(values), dir, log });
  const c = await startContainerd();
  const work = await Deno.makeTempDir({ prefix: "soci-bench-ctrd-" });
  let n = 0;
  const freshRoot = () => `${work}/root-${++n}`;
  try {
    await ociArchive(image.dir, image.tag, `${work}/image.tar`);
    await ctrImport(c, `${work}/image.tar`, { baseName: "docker.io/library/bench" });
    await Deno.remove(`${work}/image.tar`);
    /** `create` of `image` in a fresh root, `global` flags before the command, `extra` after. */
    const cli = (global: string[], image: string, extra: string[] = []) => async () => {
      const root = freshRoot();
      const args = ["run", "-A", CLI, "--root", root, "--address", c.socket, ...global, "create"];
      try {
        return await timed([...args, "-q", "--force", ...extra, image], c.pid);
      } finally {
        await Deno.remove(root, { recursive: true }).catch(() => {});
      }
    };
    const inContainerd = ["--content-store", "containerd"];
    const variants: Array<{ name: string; run: () => Promise<Run>; runs: Run[] }> = [
      { name: "oci:", run: cli([], `oci:${image.dir}:${image.tag}`) },
      { name: "containerd → soci", run: cli([], "containerd:bench:bench") },
      {
        name: "containerd → containerd (API)",
        run: cli(inContainerd, "bench:bench", ["--direct-read=false"]),
      },
      { name: "containerd → containerd (files)", run: cli(inContainerd, "bench:bench") },
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
    const bytes = image.layers.reduce((sum, l) => sum + l.size, 0);
    console.log(
      `== ${data} content: 2 gzip layers, ${(bytes / 1048576).toFixed(1)} MiB compressed`,
    );
    const ref = variants[0].runs;
    for (const v of variants) {
      const wall = v.runs.map((r) => r.wall);
      const cpu = v.runs.map((r) => r.cpu);
      const daemon = v.runs.map((r) => r.daemonCpu);
      console.log(
        `${v.name.padEnd(31)} wall median ${median(wall).toFixed(2)} s, min ${
          min(wall).toFixed(2)
        } s; cpu median ${median(cpu).toFixed(2)} s (+ containerd ${
          median(daemon).toFixed(2)
        } s); ratio to oci: wall min ${
          (min(wall) / min(ref.map((r) => r.wall))).toFixed(3)
        }, wall median ${(median(wall) / median(ref.map((r) => r.wall))).toFixed(3)}, cpu median ${
          (median(cpu) / median(ref.map((r) => r.cpu))).toFixed(3)
        }`,
      );
    }
    const digests = new Set(variants.flatMap((v) => v.runs.map((r) => r.digest)));
    console.log(
      `goal: wall ratio (min of ${rounds} rounds) <= 1.15; same index digest everywhere: ${
        digests.size === 1
      }`,
    );
    const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
    console.log(`load average: ${load} (${navigator.hardwareConcurrency} cores)`);
  } finally {
    await c.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
