/**
 * `verify` of the benchmark image against `ztoc build` of its layers (as
 * `bench_read.ts` times them, rounds alternating), by CPU time as well as
 * by wall time: on a machine shared with other work the wall-time ratio
 * moves by ±0.1 from run to run, the CPU each side spends much less. CPU is
 * read per thread from `/proc/self/task/<tid>/stat` every 20 ms (workers
 * end with their layer: their last reading counts) and summed by kind:
 * the main thread, the workers, V8's platform threads (GC, compilers) and
 * tokio's (file reads); also the memory each kind touched for the first
 * time (minor faults, MiB), which costs much on some VMs.
 *
 * ```sh
 * deno run -A tasks/bench_verify_cpu.ts --data real --rounds 5
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { dataKinds, parseArgs, realSizeArg, sizeArg } from "./bench_data.ts";
import { alternating, benchImage } from "./bench_read.ts";
import { createIndexes } from "../lib/use_cases/create.ts";
import { verifyImage } from "../lib/use_cases/verify.ts";
import { openImage } from "../lib/image/open.ts";
import { fileLayer } from "../lib/image/file_layer.ts";
import { spans, ztoc } from "../lib/pipeline.ts";
import { LocalStore } from "../lib/store/local_store.ts";
import { DEFAULT_SPAN_SIZE } from "../lib/oci/media_types.ts";

/** CPU milliseconds and minor faults of one thread. */
interface ThreadStat {
  kind: string;
  cpu: number;
  faults: number;
}

const KINDS = ["main", "workers", "v8", "tokio", "other"] as const;

function kindOf(tid: string, name: string): string {
  if (tid === String(Deno.pid)) return "main";
  if (name.startsWith("worker")) return "workers";
  if (name.startsWith("V8 ")) return "v8";
  if (name.startsWith("tokio")) return "tokio";
  return "other";
}

/** Every thread of this process now. */
function threads(): Map<string, ThreadStat> {
  const out = new Map<string, ThreadStat>();
  for (const t of Deno.readDirSync("/proc/self/task")) {
    try {
      const s = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`);
      const name = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      out.set(t.name, {
        kind: kindOf(t.name, name),
        cpu: (Number(f[11]) + Number(f[12])) * 10,
        faults: Number(f[7]),
      });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Runs `fn`; returns the CPU ms and fresh MiB of each kind of thread meanwhile. */
async function measured(fn: () => Promise<void>): Promise<Record<string, [number, number]>> {
  const before = threads();
  const last = new Map(before);
  const sample = () => {
    for (const [tid, s] of threads()) last.set(tid, s);
  };
  const timer = setInterval(sample, 20);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  sample();
  const out: Record<string, [number, number]> = {};
  for (const k of KINDS) out[k] = [0, 0];
  for (const [tid, s] of last) {
    const b = before.get(tid);
    out[s.kind][0] += s.cpu - (b?.cpu ?? 0);
    out[s.kind][1] += (s.faults - (b?.faults ?? 0)) * 4096 / 1048576;
  }
  return out;
}

async function benchCpu(data: "real" | "generated", size: number, n: number): Promise<void> {
  const image = await benchImage(data, size, (s) => console.error(s));
  const root = await Deno.makeTempDir({ prefix: "soci-bench-verify-cpu-" });
  const store = LocalStore.open(join(root, "root"));
  try {
    const ref = `oci:${image.dir}:${image.tag}`;
    const src = await openImage(ref);
    await createIndexes(src, store, { minLayerSize: 0, spanSize: DEFAULT_SPAN_SIZE });
    await src.close?.();
    const cpu: Record<"build" | "verify", Array<Record<string, [number, number]>>> = {
      build: [],
      verify: [],
    };
    const [build, verify] = await alternating(n, async () => {
      cpu.build.push(
        await measured(async () => {
          const inputs = [];
          for (const l of image.layers) inputs.push({ layer: await fileLayer(l.path) });
          for await (const r of ztoc(spans(inputs, { spanSize: DEFAULT_SPAN_SIZE }))) {
            if (r.error) throw r.error;
          }
        }),
      );
    }, async () => {
      cpu.verify.push(
        await measured(async () => {
          const report = await verifyImage(ref, { store });
          if (!report.ok) throw new Error("verify failed: " + JSON.stringify(report.layers));
        }),
      );
    });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const totals: Record<string, number> = {};
    console.log(`== ${data} content (${image.layers.length} layer(s)), ${n} rounds each`);
    for (const side of ["build", "verify"] as const) {
      const parts = KINDS.map((k) => {
        const ms = mean(cpu[side].map((r) => r[k][0]));
        const mib = mean(cpu[side].map((r) => r[k][1]));
        return [k, ms, mib] as const;
      });
      totals[side] = parts.reduce((a, [, ms]) => a + ms, 0);
      const wall = Math.min(...(side === "build" ? build : verify)) * 1000;
      console.log(
        `${side.padEnd(6)} wall min ${wall.toFixed(0)} ms, CPU ${totals[side].toFixed(0)} ms: ` +
          parts.map(([k, ms, mib]) => `${k} ${ms.toFixed(0)} (${mib.toFixed(0)} MiB)`).join(", "),
      );
    }
    console.log(
      `verify / build: wall ${(Math.min(...verify) / Math.min(...build)).toFixed(2)}, CPU ${
        (totals.verify / totals.build).toFixed(2)
      }`,
    );
  } finally {
    store.close();
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs(Deno.args, {
    "size-mib": "string",
    rounds: "string",
    data: "string",
  });
  const n = Number(values.rounds ?? 5);
  for (const data of dataKinds(values)) {
    await benchCpu(data, data === "real" ? realSizeArg(values) : sizeArg(values), n);
  }
}
