/**
 * The project's test command (`deno task test`, also run by `.ci/run`):
 * format, lint and type checks, then every test and doc example. Prints
 * `N passed, N failed` last, from the real counts (each check counts as one).
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

async function run(name: string, args: string[]): Promise<boolean> {
  const t0 = performance.now();
  const p = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env,
    stdout: "inherit",
    stderr: "inherit",
  })
    .spawn();
  const { code } = await p.status;
  console.log(
    `== ${name}: ${code === 0 ? "ok" : `failed (exit ${code})`} in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
  return code === 0;
}

async function check(name: string, args: string[]): Promise<void> {
  if (await run(name, args)) passed++;
  else {
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
const cases = [...xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)];
let testsFailed = 0;
for (const c of cases) {
  const body = c[2] ?? "";
  if (/<(failure|error)\b/.test(body)) {
    testsFailed++;
    const name = /name="([^"]*)"/.exec(c[0])?.[1] ?? "?";
    failures.push(name);
  }
}
const testsPassed = cases.length - testsFailed;
passed += testsPassed;
failed += testsFailed;
if (!testsOk && testsFailed === 0) {
  // deno test failed without a failing test case (type error, crash, leak)
  failed++;
  failures.push("deno test (did not complete)");
}
if (failures.length > 0) console.log(`failed: ${failures.join(", ")}`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 ? 0 : 1);
