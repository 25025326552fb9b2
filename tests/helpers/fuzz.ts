/**
 * The fuzz harness. A fuzz target is a module exporting `targets`, a record
 * of {@link FuzzTarget}s; {@link runFuzz} runs one in a subprocess
 * (`fuzz_runner.ts`) with a V8 heap cap, under `/usr/bin/time -f %M`, and
 * kills it when it exceeds its time bound, so that a hang, a crash or
 * unbounded memory fails the test as surely as a wrong result.
 *
 * A case passes when the code under test returns a correct result (the
 * target checks it: round trip, agreement with an independent
 * implementation, bytes equal to the real layer's) or throws one of our
 * typed errors (`SociError`). Anything else — a RangeError, a TypeError, an
 * assertion of the target — stops the run and is reported with the seed and
 * case number, which reproduce it:
 *
 *   deno run -A tests/helpers/fuzz_runner.ts <module> <target> <seed> <cases> [first-case]
 *
 * @module
 */
import { exec } from "./ztoc_e2e_tools.ts";
import type { Rnd } from "./mutate.ts";

/** How one case ended. */
export type FuzzOutcome = "ok" | "error" | "skip";

/** One parser under fuzzing. */
export interface FuzzTarget<C = unknown> {
  /** Builds the corpus and whatever the cases share (once per run). */
  setup(): Promise<C> | C;
  /**
   * Runs one case: mutate an input with `rnd`, run the parser, check a
   * success is correct (throw an AssertionError if not). Returns `ok` for a
   * checked success, `error` for a SociError, `skip` for a case not counted.
   */
  run(ctx: C, rnd: Rnd, index: number): Promise<FuzzOutcome> | FuzzOutcome;
}

/** What a finished run reports. */
export interface FuzzSummary {
  target: string;
  seed: number;
  cases: number;
  ok: number;
  errors: number;
  skipped: number;
  /** Typed errors thrown out of cases, by class name. */
  kinds: Record<string, number>;
  /** Checks made, counted by the target (its context's `counters`), if it counts them. */
  counters?: Record<string, number>;
}

/** Result of {@link runFuzz}. */
export interface FuzzRun {
  summary: FuzzSummary;
  /** Peak RSS of the subprocess in KiB (`/usr/bin/time -f %M`). */
  peakKiB: number;
}

const RUNNER = new URL("./fuzz_runner.ts", import.meta.url).pathname;

/**
 * Runs `target` of `module` for `cases` cases from `seed` in a subprocess
 * limited to `heapMiB` of V8 heap, killed after `timeoutMs`. Throws with the
 * runner's report when it fails, hangs or crashes.
 */
export async function runFuzz(opts: {
  module: string;
  target: string;
  seed: number;
  cases: number;
  timeoutMs: number;
  heapMiB: number;
}): Promise<FuzzRun> {
  const args = [
    "-f",
    "%M",
    "deno",
    "run",
    "-A",
    `--v8-flags=--max-old-space-size=${opts.heapMiB}`,
    RUNNER,
    opts.module,
    opts.target,
    String(opts.seed),
    String(opts.cases),
  ];
  const child = new Deno.Command("/usr/bin/time", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, opts.timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const tail = stderr.trimEnd().split("\n");
  const peakKiB = Number(tail[tail.length - 1]);
  const where = `fuzz ${opts.target} seed ${opts.seed}`;
  if (timedOut) {
    throw new Error(
      `${where}: no result within ${opts.timeoutMs} ms (hang?); last progress:\n` +
        tail.slice(-5).join("\n"),
    );
  }
  if (out.code !== 0) {
    throw new Error(`${where}: runner exited ${out.code}:\n${stdout}\n${stderr.slice(-4000)}`);
  }
  return { summary: JSON.parse(stdout) as FuzzSummary, peakKiB };
}

/** `exec` re-exported for targets that call tools at setup. */
export { exec };
