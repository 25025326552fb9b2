/**
 * The project's test command (`deno task test`, also run by `.ci/run`):
 * format, lint, type and doc checks, then every test and doc example.
 * Prints `N passed, N failed` last, from the real counts of test cases; a
 * static check that fails counts as one failure (a passing one counts as
 * nothing: it is not a test).
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

const junit = await Deno.makeTempFile({ suffix: ".xml" });
const testsOk = await run("deno test", [
  "test",
  "-A",
  "--doc",
  `--junit-path=${junit}`,
  ...extra,
  "tests/",
  "lib/",
  "mod.ts",
]);
let xml = "";
try {
  xml = await Deno.readTextFile(junit);
} catch {
  // no report: deno test did not get to run
}
await Deno.remove(junit).catch(() => {});
/** The text of an XML attribute value. */
function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    const named: Record<string, string> = { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" };
    if (e in named) return named[e];
    return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
  });
}
const cases = [...xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)];
let testsFailed = 0;
let skipped = 0;
for (const c of cases) {
  const body = c[2] ?? "";
  if (/<skipped\b/.test(body)) skipped++;
  else if (/<(failure|error)\b/.test(body)) {
    testsFailed++;
    const name = /name="([^"]*)"/.exec(c[0])?.[1] ?? "?";
    failures.push(unescapeXml(name));
  }
}
// A skipped (ignored) test is not a passed one; an example whose
// console.assert failed only printed "Assertion failed": count it failed.
const testsPassed = cases.length - testsFailed - skipped;
passed += testsPassed;
failed += testsFailed;
if (assertionsFailed > 0) {
  failed += assertionsFailed;
  failures.push(`${assertionsFailed} console.assert failure(s) (see "Assertion failed" above)`);
}
if (skipped > 0) console.log(`${skipped} skipped (not counted as passed)`);
if (!testsOk && testsFailed === 0) {
  // deno test failed without a failing test case (type error, crash, leak)
  failed++;
  failures.push("deno test (did not complete)");
}
if (failures.length > 0) console.log(`failed: ${failures.join(", ")}`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 ? 0 : 1);
