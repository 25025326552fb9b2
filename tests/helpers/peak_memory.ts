/**
 * Runs a command under `/usr/bin/time -f %M` (Debian package `time`) and
 * reports its peak RSS, for the tests that bound memory. A run that takes
 * longer than its time bound is killed and reported as a hang.
 *
 * @module
 */
import { REPO } from "./ztoc_e2e_tools.ts";

/** Exit code, output and peak RSS of a measured run. */
export interface MeasuredRun {
  code: number;
  stdout: Uint8Array;
  stderr: string;
  /** Peak resident set size in MiB. */
  peakMiB: number;
}

/**
 * Runs `deno run -A <args>` from the repository root under `/usr/bin/time`,
 * killed after `timeoutMs` (then throws: a hang). `stdout: "null"` drops
 * the output (for commands that print hundreds of MiB).
 */
export async function measureDeno(
  args: string[],
  opts: { timeoutMs?: number; stdout?: "piped" | "null" } = {},
): Promise<MeasuredRun> {
  const child = new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", Deno.execPath(), "run", "-A", ...args],
    cwd: REPO,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: opts.stdout ?? "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, opts.timeoutMs ?? 120_000);
  const out = await child.output();
  clearTimeout(timer);
  const stderr = new TextDecoder().decode(out.stderr);
  if (killed) {
    throw new Error(`deno run ${args.join(" ")}: killed after ${opts.timeoutMs ?? 120_000} ms`);
  }
  const lines = stderr.trimEnd().split("\n");
  const kib = Number(lines.pop());
  if (!(kib > 0)) throw new Error(`no peak RSS from /usr/bin/time: ${stderr.slice(-500)}`);
  return {
    code: out.code,
    stdout: opts.stdout === "null" ? new Uint8Array(0) : out.stdout,
    stderr: lines.join("\n"),
    peakMiB: kib / 1024,
  };
}
