/**
 * Imported first by `cli.ts`, so that it runs before the rest of the CLI
 * is evaluated: when the command line names a command that scans layers
 * (`ztoc build`, `create`, `convert`), its scan workers start here. A
 * worker takes about 75 ms to become ready (35 ms of which hold this
 * thread); started here, that overlaps with the ~30 ms the CLI then
 * needs to evaluate its modules and read the command line, and with the
 * command's own start. (Deno has loaded every module the CLI can reach,
 * dynamic imports included, before any of them runs, so nothing can start
 * sooner than this.) The command claims the workers (`prestartScanWorker`).
 * Nothing is started when `cli.ts` is not the main module (a library
 * import), or for `--help`.
 *
 * @module
 */
import { startScanWorkersEarly } from "../ztoc/scan_channel.ts";
import { globalFlags } from "./global_flags.ts";

/** Global flags that take a value (unless given with `=`, in the next argument). */
const VALUED = new Set(
  globalFlags.filter((f) => f.type !== "bool").flatMap((f) => [f.name, ...(f.aliases ?? [])]),
);

/**
 * How many scan workers the command line `args` will want: 1 for
 * `ztoc build`, up to 2 for `create` and `convert`, else 0. Reads only
 * the first two words that are not flags; a wrong guess costs a worker
 * started for nothing, never a wrong result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanWorkersWanted } from "./early_start.ts";
 * assert.equal(scanWorkersWanted(["--root", "x", "ztoc", "build", "l.tar.gz"], 2), 1);
 * assert.equal(scanWorkersWanted(["create", "oci:img"], 2), 2);
 * assert.equal(scanWorkersWanted(["create", "--help"], 2), 0);
 * assert.equal(scanWorkersWanted(["index", "list"], 2), 0);
 * ```
 */
export function scanWorkersWanted(args: readonly string[], cores: number): number {
  const words: string[] = [];
  for (let i = 0; i < args.length && words.length < 2; i++) {
    const a = args[i];
    if (a === "--") break;
    if (a.startsWith("-")) {
      const name = a.replace(/^--?/, "");
      if (!name.includes("=") && VALUED.has(name)) i++;
      continue;
    }
    words.push(a);
  }
  if (args.some((a) => a === "-h" || a === "--help" || a === "-help")) return 0;
  if (words[0] === "ztoc" && words[1] === "build") return 1;
  if (words[0] === "create" || words[0] === "convert") return Math.max(1, Math.min(2, cores));
  return 0;
}

if (Deno.mainModule === new URL("../../cli.ts", import.meta.url).href) {
  startScanWorkersEarly(scanWorkersWanted(Deno.args, navigator.hardwareConcurrency ?? 1));
}
