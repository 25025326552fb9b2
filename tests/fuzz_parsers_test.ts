/**
 * Seeded mutation fuzzing of the parsers that read what strangers made: the
 * tar reader, the gzip engine, the zinfo codecs and the zTOC decoder (with
 * extraction through mutated zTOCs of real layers). 10 000 cases each, in a
 * subprocess with a 384 MiB V8 heap, killed after its time bound; every
 * case must end in a checked result or a SociError (targets in
 * `helpers/fuzz_targets.ts`, harness in `helpers/fuzz.ts`). The bound is a
 * hang detector, not a timing assertion: a run takes 5–30 s.
 */
import assert from "node:assert/strict";
import { type FuzzRun, runFuzz } from "./helpers/fuzz.ts";

const MODULE = new URL("./helpers/fuzz_targets.ts", import.meta.url).href;
const CASES = 10_000;
/** Peak RSS allowed to a fuzz subprocess: inputs are at most a few MiB. */
const MAX_PEAK_KIB = 600 * 1024;

async function fuzz(target: string, seed: number): Promise<FuzzRun> {
  const run = await runFuzz({
    module: MODULE,
    target,
    seed,
    cases: CASES,
    timeoutMs: 240_000,
    heapMiB: 384,
  });
  const s = run.summary;
  assert.equal(s.cases, CASES);
  // Both outcomes must be common, or the mutations miss (or never reach) the parser.
  assert.ok(s.ok >= CASES * 0.05, `only ${s.ok} checked results`);
  assert.ok(s.errors >= CASES * 0.05, `only ${s.errors} typed errors`);
  assert.ok(run.peakKiB > 0 && run.peakKiB < MAX_PEAK_KIB, `peak RSS ${run.peakKiB} KiB`);
  return run;
}

Deno.test("fuzz: tar reader (chunking-independent, zTOC round trip)", async () => {
  const { summary } = await fuzz("tar", 20250101);
  const c = summary.counters ?? {};
  assert.ok((c["ztoc round trips"] ?? 0) >= 200, JSON.stringify(summary));
  // Encodings compared with the npm Builder's bytes (a difference fails the case).
  assert.ok((c["encodings compared with the Builder"] ?? 0) >= 200, JSON.stringify(summary));
});

Deno.test("fuzz: gzip engine (agrees with node:zlib, resumes at checkpoints)", async () => {
  const { summary } = await fuzz("gzip", 20250102);
  assert.ok((summary.counters?.["same output as node:zlib"] ?? 0) >= 1000, JSON.stringify(summary));
  assert.ok((summary.counters?.["resumes checked"] ?? 0) >= 2000, JSON.stringify(summary));
});

Deno.test("fuzz: zinfo codecs (re-encode, spanOf against upstream's scan)", async () => {
  const { summary } = await fuzz("zinfo", 20250103);
  const c = summary.counters ?? {};
  assert.ok((c["gzip zinfo round trips"] ?? 0) >= 500, JSON.stringify(summary));
  assert.ok((c["tar zinfo round trips"] ?? 0) >= 500, JSON.stringify(summary));
  assert.ok((c["spanOf checked"] ?? 0) >= 500, JSON.stringify(summary));
});

Deno.test("fuzz: zTOC decoder and extraction through mutated zTOCs", async () => {
  const { summary } = await fuzz("ztoc", 20250104);
  const c = summary.counters ?? {};
  assert.ok((c["ztoc round trips"] ?? 0) >= 1000, JSON.stringify(summary));
  // Re-encodings compared with the npm Builder's bytes (a difference fails the case).
  assert.ok((c["encodings compared with the Builder"] ?? 0) >= 1000, JSON.stringify(summary));
  // Extractions that returned bytes, each equal to the layer's: never wrong bytes.
  assert.ok((c["extractions checked"] ?? 0) >= 1000, JSON.stringify(summary));
  assert.ok((c["extractions refused"] ?? 0) >= 100, JSON.stringify(summary));
  // Some read from the file's own checkpoint (window-dependence probe, header check).
  assert.ok((c["extractions from their own checkpoint"] ?? 0) >= 100, JSON.stringify(summary));
  // The lazy view agreed with the decoder on every mutated zTOC (failures alike too).
  assert.ok((c["lazy views compared"] ?? 0) >= 1000, JSON.stringify(summary));
});
