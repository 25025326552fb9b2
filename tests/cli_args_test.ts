// Command-line parsing with urfave/cli v3 conventions (C§1.2, C§3, C§11.3 item 2).
// Expected error texts are Go's: flag package / urfave `invalid value %q for flag -%s: %v`,
// strconv.NumError `strconv.ParseInt: parsing "<s>": value out of range|invalid syntax`,
// time.ParseDuration `time: missing unit in duration "<s>"`.
import assert from "node:assert/strict";
import { appliedFlags, CommandLineError, parseCommandLine } from "../lib/commands/args.ts";
import { helpText } from "../lib/commands/help_text.ts";
import { parseGoBool, parseGoInt, parseGoUint } from "../lib/go/strconv.ts";
import type { Command, FlagSpec } from "../lib/commands/command.ts";
import { BadInputError, UsageError } from "../lib/errors.ts";

const ztocFlags: FlagSpec[] = [
  { name: "span-size", type: "int64", default: 4194304, usage: "span size" },
  { name: "min-layer-size", type: "int64", default: 10485760, usage: "min layer size" },
  { name: "force", aliases: ["f"], type: "bool", usage: "rebuild zTOCs" },
  { name: "platform", aliases: ["p"], type: "strings", usage: "platforms" },
  {
    name: "optimizations",
    type: "strings",
    usage: "optimizations",
    validate: (v) =>
      (v as string[]).every((o) => o === "xattr")
        ? undefined
        : `optimization ${(v as string[]).find((o) => o !== "xattr")} is not valid`,
  },
];

const create: Command = {
  name: "create",
  usage: "create a SOCI index",
  argsUsage: "<image_ref>",
  flags: ztocFlags,
  permissions: ["--allow-read --allow-write"],
  action: () => {},
};
const list: Command = {
  name: "list",
  aliases: ["ls"],
  usage: "list indexes",
  flags: [
    { name: "ref", type: "string", usage: "image" },
    { name: "quiet", aliases: ["q"], type: "bool", usage: "digests only" },
    { name: "platform", aliases: ["p"], type: "strings", usage: "platforms" },
  ],
  action: () => {},
};
const index: Command = { name: "index", usage: "manage indexes", subcommands: [list] };
const misc: Command = {
  name: "misc",
  usage: "flag types",
  flags: [
    { name: "n", type: "uint64", usage: "count" },
    { name: "wait", type: "duration", default: "1m", usage: "wait" },
    { name: "name", type: "string", default: "x", usage: "name", env: "MISC_NAME" },
    { name: "size", type: "int64", usage: "size", env: "MISC_SIZE" },
  ],
  action: () => {},
};
const root: Command = {
  name: "soci",
  usage: "test tree",
  flags: [
    { name: "root", type: "string", env: "SOCI_ROOT", usage: "root dir" },
    { name: "debug", type: "bool", usage: "debug" },
    { name: "timeout", type: "duration", usage: "timeout" },
    { name: "version", aliases: ["v"], type: "bool", local: true, usage: "version" },
  ],
  subcommands: [create, index, misc],
};

const parse = (argv: string[], env: Record<string, string> = {}) =>
  parseCommandLine(root, argv, { env: (n) => env[n] });

function usageError(argv: string[], message: string) {
  assert.throws(
    () => parse(argv),
    (e: unknown) => {
      assert.ok(e instanceof CommandLineError && e instanceof UsageError, String(e));
      assert.equal(e.message, message);
      return true;
    },
  );
}

Deno.test("args: the four value spellings and aliases", () => {
  for (
    const argv of [
      ["create", "--span-size", "65536", "img"],
      ["create", "--span-size=65536", "img"],
      ["create", "-span-size", "65536", "img"],
      ["create", "-span-size=65536", "img"],
    ]
  ) {
    const p = parse(argv);
    assert.equal(p.flags["span-size"], 65536n, argv.join(" "));
    assert.deepEqual(p.args, ["img"]);
  }
  assert.equal(parse(["create", "-f", "img"]).flags.force, true);
  assert.equal(parse(["create", "--f", "img"]).flags.force, true);
  assert.equal(parse(["create", "-force", "img"]).flags.force, true);
});

Deno.test("args: defaults, and which flags were set", () => {
  const p = parse(["create", "img"]);
  assert.equal(p.flags["span-size"], 4194304n);
  assert.equal(p.flags["min-layer-size"], 10485760n);
  assert.equal(p.flags.force, false);
  assert.deepEqual(p.flags.platform, []);
  assert.equal(p.flags.root, "");
  assert.equal(p.flags.timeout, 0n);
  assert.deepEqual([...p.set], []);
  assert.deepEqual([...parse(["create", "-f", "--root", "/r", "img"]).set].sort(), [
    "force",
    "root",
  ]);
});

Deno.test("args: bool flags take no separate value; =false and Go ParseBool spellings", () => {
  const p = parse(["create", "--force", "img"]);
  assert.equal(p.flags.force, true);
  assert.deepEqual(p.args, ["img"]); // "img" is not taken as the bool's value
  assert.equal(parse(["create", "--force=false", "img"]).flags.force, false);
  assert.equal(parse(["create", "--force=0", "img"]).flags.force, false);
  assert.equal(parse(["create", "--force=T", "img"]).flags.force, true);
  assert.equal(parse(["create", "--force=", "img"]).flags.force, true); // urfave: empty → true
  usageError(
    ["create", "--force=yes", "img"],
    'invalid value "yes" for flag -force: strconv.ParseBool: parsing "yes": invalid syntax',
  );
});

Deno.test("args: int64 beyond the range fails with Go's text (C§11.3 item 2)", () => {
  for (const flag of ["min-layer-size", "span-size"]) {
    assert.throws(
      () => parse(["create", `--${flag}`, "9223372036854775808", "img"]),
      (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.ok(e.message.startsWith(`invalid value "9223372036854775808" for flag -${flag}`));
        assert.equal(
          e.message,
          `invalid value "9223372036854775808" for flag -${flag}: ` +
            'strconv.ParseInt: parsing "9223372036854775808": value out of range',
        );
        return true;
      },
    );
  }
  assert.equal(
    parse(["create", "--span-size", "9223372036854775807", "i"]).flags["span-size"],
    2n ** 63n - 1n,
  );
  // a negative value is taken as the flag's value, not as a flag
  assert.equal(parse(["create", "--span-size", "-1", "i"]).flags["span-size"], -1n);
  assert.equal(
    parse(["create", "--span-size", "-9223372036854775808", "i"]).flags["span-size"],
    -(2n ** 63n),
  );
  usageError(
    ["create", "--span-size", "-9223372036854775809", "i"],
    'invalid value "-9223372036854775809" for flag -span-size: ' +
      'strconv.ParseInt: parsing "-9223372036854775809": value out of range',
  );
  usageError(
    ["create", "--span-size=4k", "i"],
    'invalid value "4k" for flag -span-size: strconv.ParseInt: parsing "4k": invalid syntax',
  );
  usageError(
    ["create", "--span-size=", "i"],
    'invalid value "" for flag -span-size: strconv.ParseInt: parsing "": invalid syntax',
  );
  // the name in the message is the one typed
  usageError(
    ["create", "-span-size", "x", "i"],
    'invalid value "x" for flag -span-size: strconv.ParseInt: parsing "x": invalid syntax',
  );
});

Deno.test("args: Go strconv base-0 integer syntax", () => {
  assert.equal(parseGoInt("0x10"), 16n);
  assert.equal(parseGoInt("0X1f"), 31n);
  assert.equal(parseGoInt("0o17"), 15n);
  assert.equal(parseGoInt("017"), 15n); // leading 0 = octal
  assert.equal(parseGoInt("0b101"), 5n);
  assert.equal(parseGoInt("1_000_000"), 1000000n);
  assert.equal(parseGoInt("+7"), 7n);
  assert.equal(parseGoInt("0"), 0n);
  assert.equal(parseGoInt("-0x8000000000000000"), -(2n ** 63n));
  for (const bad of ["_1", "1_", "1__0", "08", "0x", "1e3", " 1", "١"]) {
    assert.throws(() => parseGoInt(bad), {
      message: `strconv.ParseInt: parsing ${JSON.stringify(bad)}: invalid syntax`,
    }, bad);
  }
  assert.throws(() => parseGoInt("0x8000000000000000"), {
    message: 'strconv.ParseInt: parsing "0x8000000000000000": value out of range',
  });
  // range detected before a later syntax error, as Go scans left to right
  assert.throws(() => parseGoInt("99999999999999999999x"), {
    message: 'strconv.ParseInt: parsing "99999999999999999999x": value out of range',
  });
  assert.equal(parseGoUint("18446744073709551615"), 2n ** 64n - 1n);
  assert.throws(() => parseGoUint("18446744073709551616"), {
    message: 'strconv.ParseUint: parsing "18446744073709551616": value out of range',
  });
  assert.throws(() => parseGoUint("-1"), {
    message: 'strconv.ParseUint: parsing "-1": invalid syntax',
  });
  assert.throws(() => parseGoUint("+1"), {
    message: 'strconv.ParseUint: parsing "+1": invalid syntax',
  });
  assert.equal(parseGoBool("1"), true);
  assert.equal(parseGoBool("FALSE"), false);
  assert.throws(() => parseGoBool("TrUe"), {
    message: 'strconv.ParseBool: parsing "TrUe": invalid syntax',
  });
});

Deno.test("args: uint64, duration and string flags", () => {
  const p = parse(["misc", "--n", "18446744073709551615", "--wait", "1m30s", "--name", "a b"]);
  assert.equal(p.flags.n, 18446744073709551615n);
  assert.equal(p.flags.wait, 90_000_000_000n);
  assert.equal(p.flags.name, "a b");
  assert.equal(parse(["misc"]).flags.wait, 60_000_000_000n); // default "1m"
  assert.equal(parse(["misc", "--wait=500ms"]).flags.wait, 500_000_000n);
  assert.equal(parse(["--timeout", "30s", "misc"]).flags.timeout, 30_000_000_000n);
  usageError(
    ["misc", "--n", "-1"],
    'invalid value "-1" for flag -n: strconv.ParseUint: parsing "-1": invalid syntax',
  );
  usageError(
    ["misc", "--wait", "10"],
    'invalid value "10" for flag -wait: time: missing unit in duration "10"',
  );
  usageError(
    ["--timeout", "1d", "misc"],
    'invalid value "1d" for flag -timeout: time: unknown unit "d" in duration "1d"',
  );
  // %q quoting of the value
  usageError(
    ["misc", "--n", 'a"\tb'],
    'invalid value "a\\"\\tb" for flag -n: strconv.ParseUint: parsing "a\\"\\tb": invalid syntax',
  );
});

Deno.test("args: string slices repeat, split on commas, replace the default", () => {
  const p = parse([
    "create",
    "--platform",
    "linux/amd64",
    "-p",
    "linux/arm64, linux/arm/v7",
    "img",
  ]);
  assert.deepEqual(p.flags.platform, ["linux/amd64", "linux/arm64", "linux/arm/v7"]);
  const withDefault: Command = {
    name: "soci",
    usage: "",
    flags: [{ name: "s", type: "strings", default: ["d"], usage: "" }],
    action: () => {},
  };
  assert.deepEqual(parseCommandLine(withDefault, []).flags.s, ["d"]);
  assert.deepEqual(parseCommandLine(withDefault, ["--s", "a", "--s=b,c"]).flags.s, ["a", "b", "c"]);
});

Deno.test("args: validators report through the invalid-value message", () => {
  assert.deepEqual(parse(["create", "--optimizations", "xattr", "i"]).flags.optimizations, [
    "xattr",
  ]);
  usageError(
    ["create", "--optimizations", "xattr,foo", "i"],
    'invalid value "xattr,foo" for flag -optimizations: optimization foo is not valid',
  );
});

Deno.test("args: unknown flags and missing values", () => {
  usageError(["create", "--nope", "img"], "flag provided but not defined: -nope");
  usageError(["create", "-nope=1", "img"], "flag provided but not defined: -nope");
  usageError(["--nope", "create"], "flag provided but not defined: -nope");
  usageError(["index", "ls", "--ref"], "flag needs an argument: --ref");
  usageError(["index", "ls", "-ref"], "flag needs an argument: -ref");
  // the error remembers the command it happened in
  try {
    parse(["index", "ls", "--bad"]);
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof CommandLineError);
    assert.deepEqual(e.path.map((c) => c.name), ["soci", "index", "list"]);
  }
});

Deno.test("args: flags after positional arguments, and -- ends flag parsing", () => {
  const p = parse(["create", "img", "--force", "--span-size", "1"]);
  assert.deepEqual(p.args, ["img"]);
  assert.equal(p.flags.force, true);
  assert.equal(p.flags["span-size"], 1n);
  const q = parse(["create", "--span-size", "2", "--", "--force", "img", "-x"]);
  assert.deepEqual(q.args, ["--force", "img", "-x"]);
  assert.equal(q.flags.force, false);
  assert.equal(q.flags["span-size"], 2n);
  // "-" and things that are not flags ("-5") are positional
  assert.deepEqual(parse(["create", "-", "-5", "a"]).args, ["-", "-5", "a"]);
  // empty arguments are kept, and positionals are not trimmed
  assert.deepEqual(parse(["create", "", "a"]).args, ["", "a"]);
  assert.deepEqual(parse(["create", " a b "]).args, [" a b "]);
});

Deno.test("args: global flags before the command and after subcommand names", () => {
  const a = parse(["--root", "/a", "--debug", "index", "ls", "-q"]);
  assert.deepEqual(a.path.map((c) => c.name), ["soci", "index", "list"]);
  assert.equal(a.flags.root, "/a");
  assert.equal(a.flags.debug, true);
  assert.equal(a.flags.quiet, true);
  const b = parse(["index", "--root=/b", "ls", "--debug", "x"]);
  assert.equal(b.flags.root, "/b");
  assert.equal(b.flags.debug, true);
  assert.deepEqual(b.args, ["x"]);
  // the last value wins
  assert.equal(parse(["--root", "/1", "index", "ls", "--root", "/2"]).flags.root, "/2");
  // alias of a subcommand
  assert.equal(parse(["index", "ls"]).path[2].name, "list");
  // a local flag (--version) is only accepted where it is declared
  assert.equal(parse(["-v"]).flags.version, true);
  usageError(["index", "ls", "-v"], "flag provided but not defined: -v");
});

Deno.test("args: environment variables fill unset flags; the command line wins", () => {
  assert.equal(parse(["index", "ls"], { SOCI_ROOT: "/env" }).flags.root, "/env");
  assert.deepEqual([...parse(["index", "ls"], { SOCI_ROOT: "/env" }).set], ["root"]);
  assert.equal(parse(["--root", "/cli", "index", "ls"], { SOCI_ROOT: "/env" }).flags.root, "/cli");
  assert.equal(parse(["misc"], { MISC_NAME: "" }).flags.name, ""); // empty string env is a value
  assert.equal(parse(["misc"], { MISC_SIZE: "" }).flags.size, 0n); // empty non-string env ignored
  assert.equal(parse(["misc"], { MISC_SIZE: "0x20" }).flags.size, 32n);
  assert.throws(
    () => parse(["misc"], { MISC_SIZE: "big" }),
    (e: unknown) =>
      e instanceof BadInputError &&
      e.message ===
        'could not parse "big" as int64 value from environment variable "MISC_SIZE" ' +
          "for flag size: " +
          'strconv.ParseInt: parsing "big": invalid syntax',
  );
});

Deno.test("args: help flag, help command, unknown commands", () => {
  assert.equal(parse(["-h"]).help, true);
  const h = parse(["index", "ls", "--help"]);
  assert.equal(h.help, true);
  assert.deepEqual(h.path.map((c) => c.name), ["soci", "index", "list"]);
  const hc = parse(["help", "index", "ls"]);
  assert.equal(hc.help, true);
  assert.deepEqual(hc.path.map((c) => c.name), ["soci", "index", "list"]);
  assert.equal(parse(["index", "help"]).path[1].name, "index");
  usageError(["help", "nope"], "No help topic for 'nope'");
  usageError(["bogus"], 'unknown command "bogus" for "soci"');
  usageError(["index", "bogus"], 'unknown command "bogus" for "soci index"');
  // with -h an unknown word does not fail: help of the command reached is shown
  assert.equal(parse(["-h", "bogus"]).help, true);
  // a group command without a subcommand parses fine (the CLI shows its help)
  assert.equal(parse(["index"]).help, false);
});

Deno.test("args: applied flags shadow inherited ones with the same name", () => {
  const sub: Command = {
    name: "sub",
    usage: "",
    flags: [{ name: "debug", type: "string", usage: "own debug" }],
    action: () => {},
  };
  const r: Command = {
    name: "soci",
    usage: "",
    flags: [{ name: "debug", type: "bool", usage: "" }, {
      name: "root",
      type: "string",
      usage: "",
    }],
    subcommands: [sub],
  };
  assert.deepEqual(appliedFlags([r, sub]).map((f) => `${f.name}:${f.type}`), [
    "debug:string",
    "help:bool",
    "root:string",
  ]);
  assert.equal(parseCommandLine(r, ["sub", "--debug", "x"]).flags.debug, "x");
});

Deno.test("args: help text lists flags with defaults, env, inherited flags and permissions", () => {
  const text = helpText([root, create], { version: "9.9.9" });
  assert.ok(text.startsWith("NAME:\n   soci create - create a SOCI index\n\nUSAGE:\n"), text);
  assert.ok(text.includes("   soci create [options] <image_ref>\n"), text);
  assert.ok(/--span-size value\s+span size \(default: 4194304\)\n/.test(text), text);
  assert.ok(/--force, -f\s+rebuild zTOCs\n/.test(text), text);
  assert.ok(/--platform value, -p value\s+platforms\n/.test(text), text);
  assert.ok(
    /GLOBAL OPTIONS:\n(.*\n)*\s+--root value\s+root dir \[\$SOCI_ROOT\]\n/.test(text),
    text,
  );
  assert.ok(!text.includes("--version"), "local root flag is not offered to subcommands");
  assert.ok(text.includes("PERMISSIONS:\n   --allow-read --allow-write\n"), text);
  assert.ok(text.includes('"--" ends flag parsing'), text);
  const rootText = helpText([root], { version: "9.9.9" });
  assert.ok(rootText.includes("VERSION:\n   9.9.9\n"), rootText);
  assert.ok(
    /COMMANDS:\n\s+create\s+create a SOCI index\n\s+index\s+manage indexes\n/.test(rootText),
    rootText,
  );
  assert.ok(/--version, -v\s+version\n/.test(rootText), rootText);
  const listText = helpText([root, index]);
  assert.ok(/list, ls\s+list indexes\n/.test(listText), listText);
});
