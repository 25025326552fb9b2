/**
 * The CLI's fixed cost: wall time (min of `--rounds`, interleaved) of
 * `soci --version`, `--help`, `ztoc build --help`, `index list` on an empty
 * root and `ztoc build` of the sample image's largest layer (0.5 MiB), each
 * a fresh `deno run -A cli.ts …` process, against `deno run` of a
 * hello-world file timed in the same rounds (the floor no CLI can beat).
 * With `--base DIR` (a checkout of another revision, e.g. made with `git
 * archive REV | tar -x -C DIR` and a `node_modules` link), that revision's
 * CLI is timed in the same rounds too, for a before/after comparison.
 *
 * ```sh
 * deno run -A tasks/bench_startup.ts [--rounds 10] [--base DIR]
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "./bench_data.ts";

const HERE = new URL("..", import.meta.url).pathname;
const { values } = parseArgs(Deno.args, { rounds: "string", base: "string" });
const rounds = Number(values.rounds ?? 10);
const trees = [HERE, ...(typeof values.base === "string" ? [values.base] : [])];

const tmp = await Deno.makeTempDir({ prefix: "soci-bench-startup-" });
try {
  const hello = join(tmp, "hello.ts");
  await Deno.writeTextFile(hello, 'console.log("hello");\n');
  // The sample image's largest blob: its gzip layer.
  const blobs = join(HERE, "fixtures/sample-image/blobs/sha256");
  let layer = "";
  let size = -1;
  for await (const e of Deno.readDir(blobs)) {
    const s = (await Deno.stat(join(blobs, e.name))).size;
    if (s > size) [layer, size] = [join(blobs, e.name), s];
  }
  const out = join(tmp, "layer.ztoc");
  const root = join(tmp, "root");
  const cases: Array<[string, string[]]> = [
    ["--version", ["--version"]],
    ["--help", ["--help"]],
    ["ztoc build --help", ["ztoc", "build", "--help"]],
    ["index list (empty root)", ["index", "list", "--root", root]],
    [`ztoc build (${(size / 1048576).toFixed(1)} MiB layer)`, ["ztoc", "build", "-o", out, layer]],
  ];
  const run = async (args: string[]): Promise<number> => {
    const t0 = performance.now();
    const o = await new Deno.Command(Deno.execPath(), {
      args,
      stdout: "null",
      stderr: "piped",
      env: { DENO_NO_UPDATE_CHECK: "1" },
    }).output();
    const ms = performance.now() - t0;
    if (!o.success) throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(o.stderr)}`);
    return ms;
  };
  const best = new Map<string, number>();
  const note = (key: string, ms: number) => best.set(key, Math.min(best.get(key) ?? Infinity, ms));
  for (let r = 0; r < rounds; r++) {
    note("hello", await run(["run", hello]));
    for (const [name, args] of cases) {
      for (const tree of trees) {
        note(`${name}|${tree}`, await run(["run", "-A", join(tree, "cli.ts"), ...args]));
      }
    }
  }
  const floor = best.get("hello")!;
  console.log(`deno run hello.ts: ${floor.toFixed(0)} ms (min of ${rounds})`);
  const cols = trees.length > 1 ? ["this tree", "--base tree"] : ["this tree"];
  console.log(
    `| command | ${cols.join(" | ")} | ${cols.map((c) => `× hello (${c})`).join(" | ")} |`,
  );
  console.log(`|---|${cols.map(() => "---|---|").join("")}`);
  for (const [name] of cases) {
    const ms = trees.map((t) => best.get(`${name}|${t}`)!);
    const ratios = ms.map((m) => (m / floor).toFixed(2)).join(" | ");
    console.log(
      `| soci ${name} | ${ms.map((m) => `${m.toFixed(0)} ms`).join(" | ")} | ${ratios} |`,
    );
  }
} finally {
  await Deno.remove(tmp, { recursive: true });
}
