// The CLI entry point run as a real process (`deno run -A cli.ts …`, and a
// small driver script that calls `main` with test commands), plus the output
// helpers it uses (Output, Go-style JSON, progress display).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { main } from "../cli.ts";
import type { Command } from "../lib/commands/command.ts";
import { NotFoundError, UsageError } from "../lib/errors.ts";
import { marshalIndentGo as marshalIndent } from "../lib/go/json_indent.ts";
import { strconvQuote } from "../lib/go/quote.ts";
import { MemoryOutput } from "../lib/ui/output.ts";
import { Progress, shortDigest } from "../lib/ui/progress.ts";

const repo = fileURLToPath(new URL("../", import.meta.url));
const cliPath = repo + "cli.ts";
const version = JSON.parse(Deno.readTextFileSync(repo + "deno.json")).version as string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", repo + "deno.json", ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A driver script with test commands, written to a temp dir; removed by the caller. */
function writeDriver(dir: string): string {
  const path = `${dir}/driver.ts`;
  Deno.writeTextFileSync(
    path,
    `
import { main } from ${JSON.stringify("file://" + cliPath)};
import { NotFoundError, UsageError } from ${JSON.stringify("file://" + repo + "lib/errors.ts")};
const cmds = [
  { name: "fail-soci", usage: "fails with a SociError", needsRoot: false,
    action() { throw new NotFoundError("image docker.io/x:1: not found"); } },
  { name: "fail-plain", usage: "fails with a plain Error", needsRoot: false,
    action() { throw new Error("boom"); } },
  { name: "fail-usage", usage: "fails with a UsageError", argsUsage: "<digest>", needsRoot: false,
    permissions: ["--allow-read"], action() { throw new UsageError("please provide a digest"); } },
  { name: "flood", usage: "prints many lines", needsRoot: false,
    action(ctx) { for (let i = 0; i < 200000; i++) ctx.out.line("line " + i); } },
  { name: "code", usage: "returns 3", needsRoot: false, action() { return 3; } },
  { name: "sleep", usage: "never ends on its own", needsRoot: false,
    action() { return new Promise((r) => setTimeout(r, 20000)); } },
  { name: "echo", usage: "prints args and flags", needsRoot: false,
    flags: [{ name: "upper", aliases: ["u"], type: "bool", usage: "upper-case" }],
    action(ctx) {
      const text = ctx.args.join(" ");
      ctx.out.line(ctx.bool("upper") ? text.toUpperCase() : text);
      ctx.out.line("root=" + ctx.string("root") + " debug=" + ctx.bool("debug"));
    } },
  { name: "touch", usage: "needs the root",
    action(ctx) { ctx.out.line("root " + ctx.string("root")); } },
];
Deno.exit(await main(Deno.args, { commands: cmds }));
`,
  );
  return path;
}

async function withDriver(fn: (driver: string, dir: string) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "soci-cli-test-" });
  try {
    await fn(writeDriver(dir), dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------
// cli.ts as a process

Deno.test("cli: --version and -v print 'soci version <deno.json version> <unknown>'", async () => {
  for (const flag of ["--version", "-v"]) {
    const r = await run([cliPath, flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `soci version ${version} <unknown>\n`);
    assert.equal(r.stderr, "");
  }
});

Deno.test("cli: --help prints the root help to stdout, exit 0", async () => {
  const r = await run([cliPath, "--help"]);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, "");
  assert.ok(r.stdout.startsWith("NAME:\n   soci - "), r.stdout);
  assert.ok(r.stdout.includes(`VERSION:\n   ${version}\n`), r.stdout);
  assert.ok(/GLOBAL OPTIONS:\n/.test(r.stdout), r.stdout);
  assert.ok(/--root dir\s+.*\[\$SOCI_ROOT\]\n/.test(r.stdout), r.stdout);
  assert.ok(/--timeout duration\s/.test(r.stdout), r.stdout);
  assert.ok(/--help, -h\s+show help\n/.test(r.stdout), r.stdout);
  // no arguments at all: the same help
  const bare = await run([cliPath]);
  assert.equal(bare.code, 0);
  assert.equal(bare.stdout, r.stdout);
});

Deno.test("cli: unknown flag → exit 1, one line naming the help to read", async () => {
  const r = await run([cliPath, "--nope"]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, 'soci: flag provided but not defined: -nope (see "soci --help")\n');
});

Deno.test("cli: unknown command → exit 1 with a one-line usage error", async () => {
  const r = await run([cliPath, "bogus"]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, 'soci: unknown command "bogus" for "soci" (see "soci --help")\n');
});

Deno.test("cli: a bad flag value has Go's message (C§11.3 item 2 shape)", async () => {
  const r = await run([cliPath, "--timeout", "10"]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    'soci: invalid value "10" for flag -timeout: time: missing unit in duration "10" ' +
      '(see "soci --help")\n',
  );
});

// ---------------------------------------------------------------------------
// main with test commands, as a process

Deno.test("cli: errors print 'soci: <message>', no stack trace; --debug adds it", async () => {
  await withDriver(async (driver) => {
    const soci = await run([driver, "fail-soci"]);
    assert.equal(soci.code, 1);
    assert.equal(soci.stdout, "");
    assert.equal(soci.stderr, "soci: image docker.io/x:1: not found\n");

    const plain = await run([driver, "fail-plain"]);
    assert.equal(plain.code, 1);
    assert.equal(plain.stderr, "soci: boom\n");

    const debug = await run([driver, "fail-plain", "--debug"]);
    assert.equal(debug.code, 1);
    assert.ok(debug.stderr.startsWith("Error: boom\n    at "), debug.stderr);
    assert.ok(debug.stderr.endsWith("\nsoci: boom\n"), debug.stderr);
    // --debug before the command name works too
    const debug2 = await run([driver, "--debug", "fail-soci"]);
    assert.ok(debug2.stderr.startsWith("NotFoundError: image docker.io/x:1: not found\n    at "));
  });
});

Deno.test("cli: a UsageError from an action is one line naming the command's help", async () => {
  await withDriver(async (driver) => {
    const r = await run([driver, "fail-usage"]);
    assert.equal(r.code, 1);
    const help = (await run([driver, "fail-usage", "--help"])).stdout;
    assert.ok(help.startsWith("NAME:\n   soci fail-usage - fails with a UsageError\n"), help);
    assert.ok(help.includes("USAGE:\n   soci fail-usage [options] <digest>\n"), help);
    assert.ok(help.includes("PERMISSIONS:\n   --allow-read\n"), help);
    assert.equal(r.stderr, 'soci: please provide a digest (see "soci fail-usage --help")\n');
  });
});

Deno.test("cli: dispatch passes positionals and flags given anywhere; exit codes", async () => {
  await withDriver(async (driver) => {
    const r = await run([driver, "--root", "/tmp/r1", "echo", "a", "-u", "b", "--debug"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "A B\nroot=/tmp/r1 debug=true\n");
    const dd = await run([driver, "echo", "--", "-u", "x"], { SOCI_ROOT: "/tmp/r2" });
    assert.equal(dd.stdout, "-u x\nroot=/tmp/r2 debug=false\n");
    const code = await run([driver, "code"]);
    assert.equal(code.code, 3);
  });
});

Deno.test("cli: a closed stdout pipe ends the process quietly (exit 141)", async () => {
  await withDriver(async (driver) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", "--config", repo + "deno.json", driver, "flood"],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    const first = await reader.read();
    assert.ok(new TextDecoder().decode(first.value).startsWith("line 0\n"));
    await reader.cancel(); // like `| head -1`
    const [status, err] = await Promise.all([child.status, new Response(child.stderr).text()]);
    assert.equal(err, "");
    assert.equal(status.code, 141);
  });
});

Deno.test("cli: --timeout aborts a command with a one-line error", async () => {
  await withDriver(async (driver) => {
    const t0 = performance.now();
    const r = await run([driver, "--timeout", "300ms", "sleep"]);
    assert.ok(performance.now() - t0 < 15000);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "soci: timed out after 300ms (--timeout)\n");
  });
});

Deno.test("cli: the root directory is created (mode 0700) before an action (C§1.3)", async () => {
  await withDriver(async (driver, dir) => {
    const root = `${dir}/state`;
    const r = await run([driver, "--root", root, "touch"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `root ${root}\n`);
    assert.equal(Deno.statSync(root).mode! & 0o777, 0o700);
    // an existing root is left alone
    Deno.chmodSync(root, 0o755);
    assert.equal((await run([driver, "--root", root, "touch"])).code, 0);
    assert.equal(Deno.statSync(root).mode! & 0o777, 0o755);
    // missing parents are created too (upstream makes one level only)
    const deep = await run([driver, "--root", `${dir}/a/b`, "touch"]);
    assert.equal(deep.code, 0, deep.stderr);
    assert.equal(Deno.statSync(`${dir}/a/b`).mode! & 0o777, 0o700);
    // a root that cannot be a directory: one line naming it
    Deno.writeTextFileSync(`${dir}/file`, "");
    const bad = await run([driver, "--root", `${dir}/file`, "touch"]);
    assert.equal(bad.code, 1);
    assert.ok(bad.stderr.startsWith("soci: "), bad.stderr);
    assert.ok(bad.stderr.includes(`${dir}/file`), bad.stderr);
    assert.equal(bad.stderr.split("\n").length, 2, "one line");
    // SOCI_ROOT works like --root
    const viaEnv = await run([driver, "touch"], { SOCI_ROOT: `${dir}/env-root` });
    assert.equal(viaEnv.stdout, `root ${dir}/env-root\n`);
    // default root: $XDG_DATA_HOME/soci
    const xdg = await run([driver, "touch"], { XDG_DATA_HOME: `${dir}/xdg`, SOCI_ROOT: "" });
    assert.equal(xdg.stdout, `root ${dir}/xdg/soci\n`, xdg.stderr);
    assert.ok(Deno.statSync(`${dir}/xdg/soci`).isDirectory);
  });
});

// ---------------------------------------------------------------------------
// main in-process with a MemoryOutput

Deno.test("main: in-process dispatch and help of a command group", async () => {
  let seen: string[] = [];
  const ls: Command = {
    name: "list",
    aliases: ["ls"],
    usage: "list things",
    needsRoot: false,
    flags: [{ name: "quiet", aliases: ["q"], type: "bool", usage: "digests only" }],
    action(ctx) {
      seen = [...ctx.path, String(ctx.bool("quiet")), ...ctx.args];
    },
  };
  const group: Command = { name: "index", usage: "manage indexes", subcommands: [ls] };
  const out = new MemoryOutput();
  assert.equal(
    await main(["index", "ls", "-q", "x"], { commands: [group], out, env: () => undefined }),
    0,
  );
  assert.deepEqual(seen, ["soci", "index", "list", "true", "x"]);

  const help = new MemoryOutput();
  assert.equal(await main(["index"], { commands: [group], out: help, env: () => undefined }), 0);
  assert.ok(help.stdout.startsWith("NAME:\n   soci index - manage indexes\n"), help.stdout);
  assert.ok(/COMMANDS:\n\s+list, ls\s+list things\n/.test(help.stdout), help.stdout);

  const bad = new MemoryOutput();
  assert.equal(
    await main(["index", "nope"], { commands: [group], out: bad, env: () => undefined }),
    1,
  );
  assert.equal(
    bad.stderr,
    'soci: unknown command "nope" for "soci index" (see "soci index --help")\n',
  );
  assert.equal(bad.stdout, "");
});

Deno.test("main: error kinds map to one-line messages", async () => {
  const cmds: Command[] = [
    {
      name: "a",
      usage: "",
      needsRoot: false,
      action: () => Promise.reject(new NotFoundError("x: not found")),
    },
    { name: "b", usage: "", needsRoot: false, action: () => Promise.reject("a string") },
    {
      name: "c",
      usage: "",
      needsRoot: false,
      action: () => {
        throw new UsageError("need one argument");
      },
    },
    // Names from an image or the command line may hold newlines and escape
    // sequences: the message stays one line and drives no terminal.
    {
      name: "d",
      usage: "",
      needsRoot: false,
      action: () =>
        Promise.reject(new NotFoundError("evil: link to no\nsuch\x1b[2J\u2028\x9b\u202etxt")),
    },
    {
      name: "e",
      usage: "",
      needsRoot: false,
      action: () => {
        throw new UsageError("bad path a\r\tb");
      },
    },
  ];
  for (
    const [cmd, line] of [
      ["a", "soci: x: not found\n"],
      ["b", "soci: a string\n"],
      ["c", 'soci: need one argument (see "soci c --help")\n'],
      ["d", "soci: evil: link to no\\nsuch\\x1b[2J\\u2028\\u009b\\u202etxt\n"],
      ["e", 'soci: bad path a\\r\\tb (see "soci e --help")\n'],
    ]
  ) {
    const out = new MemoryOutput();
    assert.equal(await main([cmd], { commands: cmds, out, env: () => undefined }), 1);
    assert.equal(out.stderr, line);
  }
});

// ---------------------------------------------------------------------------
// Output, JSON, progress

Deno.test("output: json() is Go MarshalIndent (2 spaces, HTML escapes) plus a newline", () => {
  const out = new MemoryOutput();
  out.json([{
    Digest: "sha256:ab",
    TotalSpans: -1,
    CreatedAt: new Date("2024-01-02T03:04:05.120Z"),
  }]);
  out.json(null);
  out.json({
    a: [],
    b: {},
    c: "<&>\u2028",
    d: 2n ** 64n,
    e: undefined,
    f: new Uint8Array([1, 2, 255]),
  });
  assert.equal(
    out.stdout,
    '[\n  {\n    "Digest": "sha256:ab",\n    "TotalSpans": -1,\n' +
      '    "CreatedAt": "2024-01-02T03:04:05.12Z"\n  }\n]\n' +
      "null\n" +
      '{\n  "a": [],\n  "b": {},\n  "c": "\\u003c\\u0026\\u003e\\u2028",\n' +
      '  "d": 18446744073709551616,\n' +
      '  "f": "AQL/"\n}\n',
  );
});

Deno.test("output: Go JSON string escapes and number forms", () => {
  assert.equal(
    marshalIndent('\b\f\n\r\t\x01\x1f"\\/é🐳'),
    '"\\b\\f\\n\\r\\t\\u0001\\u001f\\"\\\\/é🐳"\n',
  );
  // a lone surrogate is what Go decodes "\ud800" to: U+FFFD
  assert.equal(marshalIndent("\ud800x"), '"\ufffdx"\n');
  assert.equal(
    marshalIndent([1e21, 1e-7, 0.1, -0, 123456789]),
    "[\n  1e+21,\n  1e-7,\n  0.1,\n  -0,\n  123456789\n]\n",
  );
  assert.equal(marshalIndent(new Map([["b", 1], ["a", 2]])), '{\n  "a": 2,\n  "b": 1\n}\n');
  // Go's encoding/json refuses NaN and ±Inf: "json: unsupported value: NaN".
  for (const [v, text] of [[NaN, "NaN"], [Infinity, "+Inf"], [-Infinity, "-Inf"]] as const) {
    assert.throws(() => marshalIndent(v), {
      name: "BadInputError",
      message: `json: unsupported value: ${text}`,
    });
  }
});

Deno.test("output: Go %q quoting", () => {
  assert.equal(strconvQuote("plain"), '"plain"');
  assert.equal(strconvQuote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(strconvQuote("\x07\b\f\n\r\t\v\x00\x7f"), '"\\a\\b\\f\\n\\r\\t\\v\\x00\\x7f"');
  assert.equal(strconvQuote("é日🐳"), '"é日🐳"');
  assert.equal(strconvQuote("\u00a0\u200b\u{e0001}"), '"\\u00a0\\u200b\\U000e0001"');
});

Deno.test("output: raw write keeps exact bytes, in order with lines", async () => {
  const out = new MemoryOutput();
  out.line("x");
  await out.write(new Uint8Array([0, 255, 10]));
  out.line("y");
  assert.deepEqual(out.chunks.map((c) => [...c]), [[120, 10], [0, 255, 10], [121, 10]]);
  assert.deepEqual(out.lines, ["x", "y"]);
});

Deno.test("progress: silent when stderr is not a terminal or when quiet", () => {
  for (const out of [new MemoryOutput(), new MemoryOutput({ errIsTty: true, quiet: true })]) {
    const p = new Progress(out, { intervalMs: 0 });
    assert.equal(p.enabled, false);
    const t = p.task("sha256:" + "a".repeat(64), 100);
    t.advance(100);
    t.complete();
    p.finish();
    out.line("after");
    assert.equal(out.stderr, "");
    assert.equal(out.stdout, "after\n");
  }
});

Deno.test("progress: redraws in place, lines above it, finish() leaves final state", async () => {
  let now = 0;
  const out = new MemoryOutput({ errIsTty: true });
  const p = new Progress(out, {
    intervalMs: 100,
    size: { columns: 200, rows: 40 },
    now: () => now,
  });
  const a = p.task("sha256:" + "0123456789ab".repeat(5) + "cdef", 2 * 1024 * 1024);
  const b = p.task("sha256:" + "f".repeat(64), 1024);
  now = 1000;
  a.advance(1024 * 1024);
  await new Promise((r) => setTimeout(r, 150)); // let the throttled redraw run
  const firstDraw = out.stderr;
  assert.equal(
    firstDraw,
    "sha256:0123456789ab  1.0 MiB / 2.0 MiB   50%  1.0 MiB/s\n" +
      "sha256:ffffffffffff  0 B / 1.0 KiB        0%  0 B/s\n",
  );
  out.line("a line"); // erases the 2 drawn lines first
  assert.equal(out.stderr, firstDraw + "\x1b[2A\r\x1b[J");
  assert.equal(out.stdout, "a line\n");
  b.complete();
  a.complete();
  p.finish();
  assert.equal(
    out.stderr.slice(firstDraw.length + "\x1b[2A\r\x1b[J".length),
    "sha256:0123456789ab  2.0 MiB / 2.0 MiB  100%  done\n" +
      "sha256:ffffffffffff  1.0 KiB / 1.0 KiB  100%  done\n",
  );
  // detached: later lines do not touch stderr
  const before = out.stderr;
  out.line("later");
  assert.equal(out.stderr, before);
  assert.equal(shortDigest("not-a-digest"), "not-a-digest");
});
