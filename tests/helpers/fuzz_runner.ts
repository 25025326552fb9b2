/**
 * Runs one fuzz target (see `fuzz.ts`) and prints a JSON summary on
 * stdout; exits 1 with the failing case's seed, index and error on the first
 * case that ends in anything but a checked result or a SociError.
 *
 *   deno run -A tests/helpers/fuzz_runner.ts <module> <target> <seed> <cases> [first-case]
 *
 * Case `i` uses its own PRNG seeded from (seed, i), so a failing case can be
 * rerun alone by passing it as `first-case` with `cases` 1.
 *
 * @module
 */
import { SociError } from "../../lib/errors.ts";
import type { FuzzSummary, FuzzTarget } from "./fuzz.ts";
import { prng } from "./ztoc_e2e_tools.ts";

const [moduleArg, name, seedArg, casesArg, firstArg] = Deno.args;
const url = moduleArg.includes("://")
  ? moduleArg
  : new URL(moduleArg, `file://${Deno.cwd()}/`).href;
const mod = await import(url) as { targets: Record<string, FuzzTarget> };
const target = mod.targets[name];
if (!target) throw new Error(`no fuzz target ${name} in ${moduleArg}`);
const seed = Number(seedArg);
const cases = Number(casesArg);
const first = Number(firstArg ?? 0);
const ctx = await target.setup();
const summary: FuzzSummary = {
  target: name,
  seed,
  cases: 0,
  ok: 0,
  errors: 0,
  skipped: 0,
  kinds: {},
};
for (let i = first; i < first + cases; i++) {
  if (i % 1000 === 0) console.error(`case ${i}`);
  const rnd = prng((seed * 1000003 + i) >>> 0);
  try {
    const outcome = await target.run(ctx, rnd, i);
    summary.cases++;
    if (outcome === "ok") summary.ok++;
    else if (outcome === "skip") summary.skipped++;
    else summary.errors++;
  } catch (e) {
    if (e instanceof SociError) {
      summary.cases++;
      summary.errors++;
      summary.kinds[e.constructor.name] = (summary.kinds[e.constructor.name] ?? 0) + 1;
      continue;
    }
    console.log(JSON.stringify({ failed: { target: name, seed, case: i } }));
    console.error(
      `fuzz ${name}: case ${i} (seed ${seed}) failed; rerun with: ` +
        `deno run -A tests/helpers/fuzz_runner.ts ${moduleArg} ${name} ${seed} 1 ${i}`,
    );
    console.error(e instanceof Error ? e.stack : String(e));
    Deno.exit(1);
  }
}
const counters = (ctx as { counters?: Record<string, number> } | undefined)?.counters;
if (counters) summary.counters = counters;
console.log(JSON.stringify(summary));
