/**
 * The project's test command (`deno task test`, also run by `.ci/run`):
 * format, lint, type and doc checks, then every doc example (side by side)
 * and every test (a file at a time).
 * Prints `N passed, N failed` last, from the real counts of tests (the
 * steps inside them are counted on the line before); a static check that
 * fails counts as one failure (a passing one counts as nothing: it is not a
 * test).
 *
 * Extra arguments are passed to `deno test` (e.g. `deno task test --filter zinfo`).
 *
 * @module
 */
const root = new URL("..", import.meta.url).pathname;
const env = { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };
let passed = 0;
let failed = 0;
const failures: string[] = [];

/** Lines `console.assert` printed: a doc example whose assertion did not hold. */
let assertionsFailed = 0;

async function pump(from: ReadableStream<Uint8Array>, to: typeof Deno.stdout): Promise<void> {
  const dec = new TextDecoder();
  let rest = "";
  for await (const chunk of from) {
    await to.write(chunk);
    const lines = (rest + dec.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop()!;
    for (const l of lines) if (l.includes("Assertion failed")) assertionsFailed++;
  }
  if (rest.includes("Assertion failed")) assertionsFailed++;
}

async function run(name: string, args: string[]): Promise<boolean> {
  const t0 = performance.now();
  const p = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await Promise.all([pump(p.stdout, Deno.stdout), pump(p.stderr, Deno.stderr)]);
  const { code } = await p.status;
  console.log(
    `== ${name}: ${code === 0 ? "ok" : `failed (exit ${code})`} in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
  return code === 0;
}

async function check(name: string, args: string[]): Promise<void> {
  if (!(await run(name, args))) {
    failed++;
    failures.push(name);
  }
}

const extra = Deno.args;
if (extra.length === 0) {
  await check("deno fmt --check", ["fmt", "--check"]);
  await check("deno lint", ["lint"]);
  await check("deno check", ["check", "mod.ts", "cli.ts", "lib/", "tests/", "tasks/"]);
  await check("deno doc --lint", ["doc", "--lint", "mod.ts"]);
}

/** Runs `deno test` with a JUnit report: whether it passed, and the report. */
async function testRun(name: string, args: string[]): Promise<{ ok: boolean; xml: string }> {
  const junit = await Deno.makeTempFile({ suffix: ".xml" });
  const ok = await run(name, ["test", "-A", `--junit-path=${junit}`, ...args]);
  let xml = "";
  try {
    xml = await Deno.readTextFile(junit);
  } catch {
    // no report: deno test did not get to run
  }
  await Deno.remove(junit).catch(() => {});
  return { ok, xml };
}

// The documentation examples are small and independent: they run side by
// side (a worker per core). The tests run a file at a time: they start
// registries and containerd, and some compare timings.
const runs = extra.length === 0
  ? [
    await testRun("deno test (examples)", [
      "--doc",
      "--parallel",
      "lib/",
      "mod.ts",
      "tests/helpers/",
    ]),
    await testRun("deno test (tests)", ["tests/"]),
  ]
  : [await testRun("deno test", ["--doc", ...extra, "tests/", "lib/", "mod.ts"])];
const testsOk = runs.every((r) => r.ok);
const xml = runs.map((r) => r.xml).join("\n");
/** The text of an XML attribute value. */
function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    const named: Record<string, string> = { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" };
    if (e in named) return named[e];
    return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
  });
}
const cases = [...xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)];
/** Counts of test cases: top-level tests, and the steps inside them (`t.step`). */
const counts = {
  test: { passed: 0, failed: 0, skipped: 0 },
  step: { passed: 0, failed: 0, skipped: 0 },
};
// A step's case is named "<its test's name> > <step name>" (nested steps
// likewise), after its test's case in the same file: a name is a step's when
// such a prefix names an earlier case of the file. A failing step also fails
// its test, so only the tests make the final line.
const earlier = new Set<string>();
for (const c of cases) {
  const body = c[2] ?? "";
  const name = unescapeXml(/\bname="([^"]*)"/.exec(c[0])?.[1] ?? "?");
  const file = unescapeXml(/\bclassname="([^"]*)"/.exec(c[0])?.[1] ?? "");
  const parts = name.split(" > ");
  let step = false;
  for (let i = 1; i < parts.length && !step; i++) {
    step = earlier.has(`${file}\0${parts.slice(0, i).join(" > ")}`);
  }
  earlier.add(`${file}\0${name}`);
  const kind = step ? counts.step : counts.test;
  if (/<skipped\b/.test(body)) kind.skipped++;
  else if (/<(failure|error)\b/.test(body)) {
    kind.failed++;
    failures.push(step ? `${name} (step)` : name);
  } else kind.passed++;
}
// A skipped (ignored) test is not a passed one; an example whose
// console.assert failed only printed "Assertion failed": count it failed.
const testsFailed = counts.test.failed;
passed += counts.test.passed;
failed += testsFailed;
if (assertionsFailed > 0) {
  failed += assertionsFailed;
  failures.push(`${assertionsFailed} console.assert failure(s) (see "Assertion failed" above)`);
}
if (counts.test.skipped > 0) {
  console.log(`${counts.test.skipped} tests skipped (not counted as passed)`);
}
const st = counts.step;
console.log(
  `steps inside those tests: ${st.passed} passed, ${st.failed} failed` +
    (st.skipped > 0 ? `, ${st.skipped} skipped` : ""),
);
if (!testsOk && testsFailed === 0) {
  // deno test failed without a failing test case (type error, crash, leak)
  failed++;
  failures.push("deno test (did not complete)");
}
if (failures.length > 0) console.log(`failed: ${failures.join(", ")}`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 ? 0 : 1);
