/**
 * Benchmarks of the CLI against `gzip -dc` of the same bytes, measured in
 * the same run (design.md §6): `deno task bench [ztoc|create|all|registry]`.
 * Every figure is given for both kinds of data (`--data both`, the default):
 * `generated` layers (`bench_data.ts`, seeded) and `real` layers made of this
 * machine's own files under `/usr/lib` and `/usr/share` (`bench_real_data.ts`,
 * about 300 MiB of tar each). `igzip -dc` (ISA-L) and `pigz -dc` are timed in
 * the same rounds as extra references when installed. A closing table holds
 * every ratio, time and peak RSS.
 *
 * * `ztoc` (default): `soci ztoc build` of a generated 320 MiB layer vs
 *   `gzip -dc layer > /dev/null`, interleaved, N rounds; medians, spread,
 *   the ratio and the peak RSS of the `ztoc build` process.
 * * `create`: `soci create --root <tmp> --min-layer-size 0 oci:<layout>:bench`
 *   (an image of two generated layers, a fresh root each round) vs `gzip -dc`
 *   of both layers one after the other.
 * * `registry`: `create docker://…` of the same two-layer image served by
 *   Debian's docker-registry on loopback, against `create oci:…` (goal
 *   ≤ 1.15×), with the bytes each writes to disk (no layer bytes).
 *
 * Times are wall-clock times of the whole process (Deno start-up included;
 * it is measured separately as `soci --version`). The ratio that meets a
 * goal or not is that of the fastest runs (the fastest command run over
 * the fastest reference run: on a shared host, noise only ever adds time);
 * the ratio of the medians is printed beside it. Peak RSS is the
 * `ru_maxrss` of the process as reported by `/usr/bin/time -f %M`. Layer
 * files are read once before timing so that the page cache is warm.
 *
 * ```sh
 * deno task bench                       # ztoc, 3 rounds, both kinds of data
 * deno task bench all --rounds 5        # ztoc and create
 * deno task bench create --data real --rounds 5
 * deno task bench ztoc --size-mib 64 --json
 * ```
 *
 * @module
 */
import {
  type DataKind,
  dataKinds,
  DEFAULT_DIR,
  ensureImage,
  ensureLayer,
  ensureRealImage,
  ensureRealLayer,
  type LayerInfo,
  parseArgs,
  REAL_LAYER_SIZE,
  sizeArg,
} from "./bench_data.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CLI = `${ROOT}/cli.ts`;
const MIB = 1048576;

/** Goals printed next to the figures. */
export const GOALS = {
  ztoc: { ratio: 0.6, rssMiB: 130 },
  create: { ratio: 0.45, rssMiB: 220 },
} as const;

export type { DataKind } from "./bench_data.ts";

/** Other decompressors timed in the same rounds when installed (extra references). */
const EXTRA_REFS = [
  { cmd: "igzip", label: "igzip -dc (ISA-L)" },
  { cmd: "pigz", label: "pigz -dc" },
] as const;

function installed(cmd: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** One timed process run. */
export interface Run {
  /** Wall-clock seconds, spawn to exit. */
  wall: number;
  /** User and system CPU seconds (`/usr/bin/time`, 10 ms resolution). */
  user: number;
  sys: number;
  /** Peak resident set size in KiB (`/usr/bin/time -f %M`: the process's ru_maxrss). */
  rssKiB: number;
  /** Bytes the process wrote to file systems (`/usr/bin/time -f %O`, 512-byte blocks). */
  writtenBytes: number;
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd args…` under `/usr/bin/time -f "%e %U %S %M"` (written to a
 * temp file, so the command's own stderr is kept apart) and times it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timed } from "./bench.ts";
 * const r = await timed("true", []);
 * assert.ok(r.code === 0 && r.rssKiB > 0);
 * ```
 */
export async function timed(
  cmd: string,
  args: string[],
  options: { cwd?: string; stdout?: boolean } = {},
): Promise<Run> {
  const tf = await Deno.makeTempFile({ prefix: "soci-bench-time-" });
  try {
    const t0 = performance.now();
    const child = new Deno.Command("/usr/bin/time", {
      args: ["-f", "%e %U %S %M %O", "-o", tf, cmd, ...args],
      cwd: options.cwd ?? ROOT,
      stdin: "null",
      stdout: options.stdout ? "piped" : "null",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).spawn();
    const out = await child.output();
    const wall = (performance.now() - t0) / 1000;
    // With a non-zero exit, time writes "Command exited with non-zero status N" first.
    const line = (await Deno.readTextFile(tf)).trim().split("\n").pop() ?? "";
    const [, user, sys, rss, outBlocks] = line.split(" ").map(Number);
    const dec = new TextDecoder();
    return {
      wall,
      user: user || 0,
      sys: sys || 0,
      rssKiB: rss || 0,
      writtenBytes: (outBlocks || 0) * 512,
      code: out.code,
      stdout: options.stdout ? dec.decode(out.stdout) : "",
      stderr: dec.decode(out.stderr),
    };
  } finally {
    await Deno.remove(tf).catch(() => {});
  }
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Reads a file once so that its pages are in the page cache. */
async function warm(path: string): Promise<void> {
  const f = await Deno.open(path);
  try {
    const buf = new Uint8Array(4 * MIB);
    while ((await f.read(buf)) !== null) {
      // reading is the point
    }
  } finally {
    f.close();
  }
}

function loadavg(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

function fail(what: string, r: Run): never {
  throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim().split("\n").pop()}`);
}

const deno = Deno.execPath();

/** Figures of one measured command over the rounds. */
interface Series {
  label: string;
  runs: Run[];
}

function fmtS(x: number): string {
  return `${x.toFixed(2)} s`;
}

function summary(s: Series): string {
  const walls = s.runs.map((r) => r.wall);
  const cpu = s.runs.map((r) => r.user + r.sys);
  const rss = Math.max(...s.runs.map((r) => r.rssKiB)) / 1024;
  return `${s.label.padEnd(34)} ${fmtS(median(walls)).padStart(8)}   ` +
    `${Math.min(...walls).toFixed(2)}–${Math.max(...walls).toFixed(2)} s   ` +
    `cpu ${fmtS(median(cpu))}   peak RSS ${rss.toFixed(0)} MiB`;
}

function verdict(ok: boolean): string {
  return ok ? "OK" : "MISSED";
}

/** Result of a benchmark, as printed (and as `--json` output). */
export interface BenchResult {
  bench: string;
  data: DataKind;
  rounds: number;
  input: Record<string, unknown>;
  reference: { label: string; wall: number[]; median: number };
  measured: { label: string; wall: number[]; median: number; peakRssMiB: number };
  startup: { median: number };
  /** Other decompressors of the same bytes, in the same rounds. */
  extra: Array<{ label: string; wall: number[]; median: number; ratioToGzip: number }>;
  /**
   * `ofMins` (the fastest command run over the fastest reference run: the
   * least disturbed figures of a shared, noisy host) decides `ok`;
   * `ofMedians` is given beside it.
   */
  ratio: { ofMins: number; ofMedians: number; perRound: number[]; goal: number; ok: boolean };
  rss: { peakMiB: number; goalMiB: number; ok: boolean; how: string };
  loadavg: { before: string; after: string };
}

function report(
  bench: string,
  data: DataKind,
  input: Record<string, unknown>,
  ref: Series,
  refPerRound: number[],
  cmd: Series,
  startup: Run[],
  goal: { ratio: number; rssMiB: number },
  before: string,
  json: boolean,
  extra: Series[] = [],
): BenchResult {
  const cmdWalls = cmd.runs.map((r) => r.wall);
  const perRound = cmdWalls.map((w, i) => w / refPerRound[i]);
  const ofMedians = median(cmdWalls) / median(refPerRound);
  const ofMins = Math.min(...cmdWalls) / Math.min(...refPerRound);
  const peak = Math.max(...cmd.runs.map((r) => r.rssKiB)) / 1024;
  const result: BenchResult = {
    bench,
    data,
    rounds: cmdWalls.length,
    input,
    reference: { label: ref.label, wall: refPerRound, median: median(refPerRound) },
    measured: { label: cmd.label, wall: cmdWalls, median: median(cmdWalls), peakRssMiB: peak },
    startup: { median: median(startup.map((r) => r.wall)) },
    extra: extra.map((e) => {
      const wall = e.runs.map((r) => r.wall);
      return {
        label: e.label,
        wall,
        median: median(wall),
        ratioToGzip: median(wall) / median(refPerRound),
      };
    }),
    ratio: { ofMins, ofMedians, perRound, goal: goal.ratio, ok: ofMins <= goal.ratio },
    rss: {
      peakMiB: peak,
      goalMiB: goal.rssMiB,
      ok: peak <= goal.rssMiB,
      how: "/usr/bin/time -f %M (ru_maxrss of the process), max over rounds",
    },
    loadavg: { before, after: loadavg() },
  };
  if (json) return result;
  console.log("");
  console.log(`${"".padEnd(34)} ${"median".padStart(8)}   min–max`);
  console.log(summary(ref));
  for (const e of extra) console.log(summary(e));
  console.log(summary(cmd));
  console.log(summary({ label: "deno start-up (soci --version)", runs: startup }));
  console.log("");
  for (const e of result.extra) {
    console.log(`ratio ${e.label}/gzip: ${e.ratioToGzip.toFixed(3)} (reference)`);
  }
  console.log(
    `[${data}] ratio ${bench}/gzip: ${ofMins.toFixed(3)} (of the fastest runs; of medians ` +
      `${ofMedians.toFixed(3)}; per round ${perRound.map((x) => x.toFixed(3)).join(" ")})   ` +
      `goal ≤ ${goal.ratio}   ${verdict(result.ratio.ok)}`,
  );
  console.log(
    `[${data}] peak RSS of soci ${bench}: ${peak.toFixed(1)} MiB ` +
      `(${result.rss.how})   goal ≤ ${goal.rssMiB} MiB   ${verdict(result.rss.ok)}`,
  );
  console.log(`load average: before ${before}, after ${result.loadavg.after} (2 cores, shared)`);
  return result;
}

async function startupRuns(rounds: number): Promise<Run[]> {
  const runs: Run[] = [];
  for (let i = 0; i < rounds; i++) {
    const r = await timed(deno, ["run", "-A", CLI, "--version"], { stdout: true });
    if (r.code !== 0) fail("soci --version", r);
    runs.push(r);
  }
  return runs;
}

function describe(l: LayerInfo): string {
  return `${l.path}\n  ${(l.size / MIB).toFixed(1)} MiB gzip, ${
    (l.uncompressedSize / MIB).toFixed(1)
  } MiB tar (ratio ${(l.uncompressedSize / l.size).toFixed(2)}), ${l.stats.files} files, ` +
    `${l.stats.dirs} dirs, ${l.stats.symlinks} symlinks, ` +
    (l.kind === "real" ? `${l.source}` : `seed ${l.seed}`) + `, ${l.digest}`;
}

/** Times each installed extra reference on `paths` (one after the other) into `into`. */
async function extraRound(paths: string[], into: Map<string, Run[]>): Promise<void> {
  for (const x of EXTRA_REFS) {
    const runs = into.get(x.label);
    if (runs === undefined) continue;
    let sum: Run | undefined;
    for (const p of paths) {
      const r = await timed(x.cmd, ["-dc", p]);
      if (r.code !== 0) fail(`${x.cmd} -dc`, r);
      sum = sum === undefined ? r : { ...sum, wall: sum.wall + r.wall, user: sum.user + r.user };
    }
    runs.push(sum!);
  }
}

function extraRefs(): Map<string, Run[]> {
  return new Map(EXTRA_REFS.filter((x) => installed(x.cmd)).map((x) => [x.label, []]));
}

interface Options {
  data: DataKind;
  rounds: number;
  size: number;
  /** Uncompressed size of a real-content layer. */
  realSize: number;
  seed: number;
  dir: string;
  json: boolean;
}

/** `ztoc`: `soci ztoc build` vs `gzip -dc` of one layer. */
async function benchZtoc(o: Options): Promise<BenchResult> {
  const log = (s: string) => console.error(s);
  const layer = o.data === "real"
    ? await ensureRealLayer({ size: o.realSize, dir: o.dir, log })
    : await ensureLayer({ seed: o.seed, size: o.size, dir: o.dir, log });
  const small = await ensureLayer({ seed: 99, size: 256 * 1024, dir: o.dir });
  if (!o.json) console.log(`\n== ztoc, ${o.data} data ==\nlayer: ${describe(layer)}`);
  await warm(layer.path);
  const tmp = await Deno.makeTempDir({ prefix: "soci-bench-" });
  try {
    const out = `${tmp}/out.ztoc`;
    const build = (path: string) =>
      timed(deno, ["run", "-A", CLI, "ztoc", "build", "-o", out, path], { stdout: true });
    // Warm-up (module cache, WASM compile): a small layer, not timed.
    const w = await build(small.path);
    if (w.code !== 0) fail("soci ztoc build (warm-up)", w);
    const before = loadavg();
    const gz: Run[] = [];
    const zt: Run[] = [];
    const extra = extraRefs();
    const digests = new Set<string>();
    for (let i = 0; i < o.rounds; i++) {
      const steps = [
        () => extraRound([layer.path], extra),
        async () => {
          const r = await timed("gzip", ["-dc", layer.path]);
          if (r.code !== 0) fail("gzip -dc", r);
          gz.push(r);
        },
        async () => {
          const r = await build(layer.path);
          if (r.code !== 0) fail("soci ztoc build", r);
          digests.add(/ztoc (sha256:[0-9a-f]{64})/.exec(r.stdout)?.[1] ?? r.stdout);
          zt.push(r);
        },
      ];
      if (i % 2 === 1) steps.reverse();
      for (const s of steps) await s();
      if (!o.json) {
        console.error(
          `round ${i + 1}/${o.rounds}: gzip -dc ${fmtS(gz[i].wall)}, ztoc build ${
            fmtS(zt[i].wall)
          } (${(zt[i].rssKiB / 1024).toFixed(0)} MiB)`,
        );
      }
    }
    if (digests.size !== 1) throw new Error(`ztoc build gave different outputs: ${[...digests]}`);
    if (!o.json) console.log(`ztoc: ${[...digests][0]}`);
    const startup = await startupRuns(o.rounds);
    return report(
      "ztoc",
      o.data,
      { layer: layer.path, size: layer.size, uncompressedSize: layer.uncompressedSize },
      { label: "gzip -dc layer > /dev/null", runs: gz },
      gz.map((r) => r.wall),
      { label: "soci ztoc build -o tmp layer", runs: zt },
      startup,
      GOALS.ztoc,
      before,
      o.json,
      [...extra].map(([label, runs]) => ({ label, runs })),
    );
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** `create`: `soci create` of a two-layer image vs `gzip -dc` of both layers. */
async function benchCreate(o: Options): Promise<BenchResult | undefined> {
  const log = (s: string) => console.error(s);
  const create = async (ref: string): Promise<Run> => {
    const root = await Deno.makeTempDir({ prefix: "soci-bench-root-" });
    try {
      return await timed(
        deno,
        ["run", "-A", CLI, "create", "--root", root, "--min-layer-size", "0", ref],
        { stdout: true },
      );
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  };
  // Availability and warm-up on a small image first.
  const small = await ensureImage({ size: 256 * 1024, dir: o.dir, seeds: [98, 99] });
  const w = await create(`oci:${small.dir}:${small.tag}`);
  if (w.code !== 0) {
    if (/unknown command "create"/.test(w.stderr)) {
      console.log("create: n/a: create not available");
      return undefined;
    }
    fail("soci create (warm-up)", w);
  }
  const image = o.data === "real"
    ? await ensureRealImage({ size: o.realSize, dir: o.dir, log })
    : await ensureImage({ size: o.size, dir: o.dir, seeds: [o.seed, o.seed + 1], log });
  const ref = `oci:${image.dir}:${image.tag}`;
  if (!o.json) {
    console.log(`\n== create, ${o.data} data ==\nimage: ${ref} (manifest ${image.manifest})`);
    for (const l of image.layers) console.log(`layer: ${describe(l)}`);
  }
  for (const l of image.layers) await warm(l.path);
  const before = loadavg();
  const gz: Run[] = [];
  const gzRound: number[] = [];
  const cr: Run[] = [];
  const extra = extraRefs();
  for (let i = 0; i < o.rounds; i++) {
    const steps = [
      () => extraRound(image.layers.map((l) => l.path), extra),
      async () => {
        let sum = 0;
        for (const l of image.layers) {
          const r = await timed("gzip", ["-dc", l.path]);
          if (r.code !== 0) fail("gzip -dc", r);
          sum += r.wall;
          gz.push(r);
        }
        gzRound.push(sum);
      },
      async () => {
        const r = await create(ref);
        if (r.code !== 0) fail("soci create", r);
        cr.push(r);
      },
    ];
    if (i % 2 === 1) steps.reverse();
    for (const s of steps) await s();
    if (!o.json) {
      console.error(
        `round ${i + 1}/${o.rounds}: gzip -dc ×${image.layers.length} ${fmtS(gzRound[i])}, ` +
          `create ${fmtS(cr[i].wall)} (${(cr[i].rssKiB / 1024).toFixed(0)} MiB)`,
      );
    }
  }
  const startup = await startupRuns(o.rounds);
  // The reference row shows the per-round sums; CPU and RSS are per gzip process.
  const refRuns = gzRound.map((wall, i) => {
    const pair = gz.slice(i * image.layers.length, (i + 1) * image.layers.length);
    return {
      ...pair[0],
      wall,
      user: pair.reduce((n, r) => n + r.user, 0),
      sys: pair.reduce((n, r) => n + r.sys, 0),
      rssKiB: Math.max(...pair.map((r) => r.rssKiB)),
    };
  });
  return report(
    "create",
    o.data,
    { image: ref, layers: image.layers.map((l) => ({ path: l.path, size: l.size })) },
    { label: `gzip -dc of ${image.layers.length} layers, in turn`, runs: refRuns },
    gzRound,
    { label: "soci create --root tmp (2 layers)", runs: cr },
    startup,
    GOALS.create,
    before,
    o.json,
    [...extra].map(([label, runs]) => ({ label, runs })),
  );
}

/** Starts Debian's docker-registry on a free loopback port; returns its address and a stop. */
async function startRegistry(): Promise<{ host: string; stop: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "soci-bench-registry-" });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const host = `127.0.0.1:${port}`;
  await Deno.writeTextFile(
    `${dir}/config.yml`,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n` +
      `http:\n  addr: ${host}\n`,
  );
  const child = new Deno.Command("/usr/bin/docker-registry", {
    args: ["serve", `${dir}/config.yml`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0;; i++) {
    try {
      const r = await fetch(`http://${host}/v2/`);
      await r.body?.cancel();
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (i > 500) throw new Error("docker-registry did not start");
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    host,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** `create docker://…` against `create oci:…` of the same image (issue 4's goal: ≤ 1.15×). */
async function benchRegistry(o: Options): Promise<void> {
  const log = (s: string) => console.error(s);
  const image = o.data === "real"
    ? await ensureRealImage({ size: o.realSize, dir: o.dir, log })
    : await ensureImage({ size: o.size, dir: o.dir, seeds: [o.seed, o.seed + 1], log });
  const registry = await startRegistry();
  try {
    const remote = `${registry.host}/bench/app:bench`;
    const copy = await timed("skopeo", [
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      "--preserve-digests",
      `oci:${image.dir}:${image.tag}`,
      `docker://${remote}`,
    ]);
    if (copy.code !== 0) fail("skopeo copy", copy);
    for (const l of image.layers) await warm(l.path);
    const create = async (ref: string, extra: string[]): Promise<Run> => {
      const root = await Deno.makeTempDir({ prefix: "soci-bench-root-" });
      try {
        const r = await timed(deno, [
          "run",
          "-A",
          CLI,
          "create",
          "--root",
          root,
          "--min-layer-size",
          "0",
          "-q",
          ...extra,
          ref,
        ], { stdout: true });
        if (r.code !== 0) fail(`soci create ${ref}`, r);
        return r;
      } finally {
        await Deno.remove(root, { recursive: true }).catch(() => {});
      }
    };
    const local = `oci:${image.dir}:${image.tag}`;
    await create(local, []); // warm-up of both paths
    await create(`docker://${remote}`, ["--plain-http"]);
    const before = loadavg();
    const fromLayout: Run[] = [];
    const fromRegistry: Run[] = [];
    for (let i = 0; i < o.rounds; i++) {
      const steps = [
        async () => fromLayout.push(await create(local, [])),
        async () => fromRegistry.push(await create(`docker://${remote}`, ["--plain-http"])),
      ];
      if (i % 2 === 1) steps.reverse();
      for (const s of steps) await s();
      if (!o.json) {
        log(
          `round ${i + 1}/${o.rounds}: create oci: ${fmtS(fromLayout[i].wall)}, ` +
            `create docker:// ${fmtS(fromRegistry[i].wall)}`,
        );
      }
    }
    const same = new Set([...fromLayout, ...fromRegistry].map((r) => r.stdout.trim())).size === 1;
    const ratio = median(fromRegistry.map((r) => r.wall)) / median(fromLayout.map((r) => r.wall));
    const layerBytes = image.layers.reduce((n, l) => n + l.size, 0);
    const written = Math.max(...fromRegistry.map((r) => r.writtenBytes));
    const result = {
      bench: "registry",
      image: { layout: local, registry: `docker://${remote}`, layerBytes },
      createOci: {
        wall: fromLayout.map((r) => r.wall),
        peakRssMiB: Math.max(...fromLayout.map((r) => r.rssKiB)) / 1024,
      },
      createDocker: {
        wall: fromRegistry.map((r) => r.wall),
        peakRssMiB: Math.max(...fromRegistry.map((r) => r.rssKiB)) / 1024,
        maxWrittenBytes: written,
      },
      sameIndexDigest: same,
      ratio: { ofMedians: ratio, goal: 1.15, ok: ratio <= 1.15 },
      noLayerBytesOnDisk: written < layerBytes / 10,
      loadavg: { before, after: loadavg() },
    };
    if (o.json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    console.log("");
    console.log(summary({ label: "soci create oci:… (2 layers)", runs: fromLayout }));
    console.log(summary({ label: "soci create docker://… (2 layers)", runs: fromRegistry }));
    console.log("");
    console.log(
      `ratio docker/oci: ${ratio.toFixed(3)} (of medians)   goal ≤ 1.15   ${
        verdict(result.ratio.ok)
      }`,
    );
    console.log(`same index digest from both sources: ${same ? "yes" : "NO"}`);
    console.log(
      `written to disk by create docker://: ${(written / 1048576).toFixed(1)} MiB at most ` +
        `(layers: ${(layerBytes / 1048576).toFixed(1)} MiB; /usr/bin/time -f %O)   ` +
        verdict(result.noLayerBytesOnDisk),
    );
    console.log(`load average: before ${before}, after ${result.loadavg.after} (2 cores, shared)`);
  } finally {
    await registry.stop();
  }
}

/** One line per result: the figures README's benchmark table holds. */
function table(results: BenchResult[]): void {
  console.log("");
  console.log(
    "| command | data | × gzip -dc, fastest runs (of medians) | seconds, median (gzip -dc) " +
      "| peak RSS | references |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const r of results) {
    const refs = r.extra.map((e) => `${e.label} ${e.ratioToGzip.toFixed(2)}`).join(", ");
    console.log(
      `| ${r.bench} | ${r.data} | ${r.ratio.ofMins.toFixed(2)} (${r.ratio.ofMedians.toFixed(2)}; ` +
        `goal ≤ ${r.ratio.goal}) | ` +
        `${r.measured.median.toFixed(2)} (${r.reference.median.toFixed(2)}) | ` +
        `${r.rss.peakMiB.toFixed(0)} MiB (goal ≤ ${r.rss.goalMiB}) | ${refs} |`,
    );
  }
}

if (import.meta.main) {
  const usage = "usage: deno task bench [ztoc|create|all|registry] [--data generated|real|both] " +
    "[--rounds N] [--size-mib N] [--real-size-mib N] [--seed N] [--dir DIR] [--json]";
  try {
    const { positional, values } = parseArgs(Deno.args, {
      rounds: "string",
      "size-mib": "string",
      "real-size-mib": "string",
      data: "string",
      seed: "string",
      dir: "string",
      json: "bool",
      help: "bool",
    });
    if (values.help) {
      console.log(usage);
      Deno.exit(0);
    }
    const kinds = dataKinds(values, "both", ["generated", "real"]);
    const base = {
      rounds: Number(values.rounds ?? 3),
      size: sizeArg(values),
      realSize: values["real-size-mib"] === undefined
        ? REAL_LAYER_SIZE
        : Math.round(Number(values["real-size-mib"]) * MIB),
      seed: Number(values.seed ?? 1),
      dir: (values.dir as string | undefined) ?? DEFAULT_DIR,
      json: values.json === true,
    };
    if (!(base.rounds >= 1) || !Number.isInteger(base.rounds)) throw new Error("bad --rounds");
    if (!(base.realSize > 0)) throw new Error("bad --real-size-mib");
    const what = positional[0] ?? "ztoc";
    const results: BenchResult[] = [];
    for (const kind of kinds) {
      const o: Options = { ...base, data: kind };
      if (what === "ztoc" || what === "all") results.push(await benchZtoc(o));
      if (what === "create" || what === "all") {
        const r = await benchCreate(o);
        if (r) results.push(r);
      }
      if (what === "registry") await benchRegistry(o);
      if (!["ztoc", "create", "all", "registry"].includes(what)) throw new Error(usage);
    }
    if (base.json) console.log(JSON.stringify(results, null, 2));
    else if (results.length > 0) table(results);
  } catch (e) {
    console.error(`bench: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
