/**
 * Command-line parsing with urfave/cli v3 conventions (C§1.2):
 *
 * * `--name value`, `--name=value`, `-name value`, `-name=value`; one or two
 *   dashes work for long and short names alike (`-q`, `--q`).
 * * bool flags take no separate value: `--x`, `--x=true`, `--x=false`
 *   (Go `strconv.ParseBool` spellings).
 * * int64/uint64 use Go `strconv.ParseInt`/`ParseUint` with base 0 (`0x10`,
 *   `0o17`, `1_000`); durations use Go `time.ParseDuration` (`1m30s`).
 * * string slices may be repeated and each value is split on `,` (pieces
 *   trimmed); the first value given replaces the default.
 * * a bad value is `invalid value "<v>" for flag -<name>: <reason>` with Go's
 *   reason text; an unknown flag is `flag provided but not defined: -<name>`.
 * * flags of parent commands (global flags) are accepted before the command
 *   name and after any subcommand name, unless declared `local`.
 * * flags may also come after positional arguments (as in urfave/cli v3); a
 *   `--` ends flag parsing, everything after it is positional.
 * * `-h`/`--help` is accepted everywhere, and `help [command…]` where there are subcommands.
 * * positional arguments are kept exactly as given (urfave trims their spaces).
 *
 * @module
 */
import { BadInputError, UsageError } from "../errors.ts";
import { strconvQuote } from "../go/quote.ts";
import { formatDuration, parseDuration } from "../go/duration.ts";
import { type HelpFlag, type HelpTopic, renderHelp } from "../ui/help.ts";
import type { Command, FlagSpec, FlagType, FlagValue } from "./command.ts";

// ---------------------------------------------------------------------------
// Go strconv

/** Go's `*strconv.NumError` text: `strconv.<fn>: parsing "<num>": <reason>`. */
function numError(fn: string, num: string, reason: string): BadInputError {
  return new BadInputError(`strconv.${fn}: parsing ${strconvQuote(num)}: ${reason}`);
}

const MAX_UINT64 = (1n << 64n) - 1n;

function lower(c: string): string {
  return c.toLowerCase();
}

/** Go's `underscoreOK`: underscores only between digits or after a base prefix. */
function underscoreOK(s: string): boolean {
  let saw = "^";
  let i = 0;
  if (s.length >= 1 && (s[0] === "-" || s[0] === "+")) s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === "0" && "box".includes(lower(s[1]))) {
    i = 2;
    saw = "0";
    hex = lower(s[1]) === "x";
  }
  for (; i < s.length; i++) {
    const c = s[i];
    if ((c >= "0" && c <= "9") || (hex && lower(c) >= "a" && lower(c) <= "f")) {
      saw = "0";
      continue;
    }
    if (c === "_") {
      if (saw !== "0") return false;
      saw = "_";
      continue;
    }
    if (saw === "_") return false;
    saw = "!";
  }
  return saw !== "_";
}

/** Go's ParseUint(s, 0, 64) core: returns the value or the failure kind. */
function parseUintBase0(s: string): bigint | "syntax" | "range" {
  if (s === "") return "syntax";
  const s0 = s;
  let base = 10;
  if (s[0] === "0") {
    if (s.length >= 3 && lower(s[1]) === "b") {
      base = 2;
      s = s.slice(2);
    } else if (s.length >= 3 && lower(s[1]) === "o") {
      base = 8;
      s = s.slice(2);
    } else if (s.length >= 3 && lower(s[1]) === "x") {
      base = 16;
      s = s.slice(2);
    } else {
      base = 8;
      s = s.slice(1);
    }
  }
  const b = BigInt(base);
  const cutoff = MAX_UINT64 / b + 1n;
  let underscores = false;
  let n = 0n;
  // Go iterates bytes; every non-ASCII byte is a syntax error, as is every
  // non-ASCII UTF-16 unit here.
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    let d: number;
    if (c === "_") {
      underscores = true;
      continue;
    } else if (c >= "0" && c <= "9") {
      d = c.charCodeAt(0) - 48;
    } else if (lower(c) >= "a" && lower(c) <= "z" && c.charCodeAt(0) < 0x80) {
      d = lower(c).charCodeAt(0) - 97 + 10;
    } else {
      return "syntax";
    }
    if (d >= base) return "syntax";
    if (n >= cutoff) return "range";
    n *= b;
    const n1 = n + BigInt(d);
    if (n1 > MAX_UINT64) return "range";
    n = n1;
  }
  if (underscores && !underscoreOK(s0)) return "syntax";
  return n;
}

/**
 * Go's `strconv.ParseUint(s, 0, 64)`: decimal, `0x`/`0o`/`0b` prefixes, a
 * leading `0` for octal, `_` separators. Errors carry Go's text
 * (`strconv.ParseUint: parsing "x": invalid syntax` / `value out of range`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGoUint } from "./args.ts";
 * assert.ok(parseGoUint("0x10") === 16n);
 * assert.ok(parseGoUint("18446744073709551615") === 18446744073709551615n);
 * ```
 */
export function parseGoUint(s: string): bigint {
  const r = parseUintBase0(s);
  if (r === "syntax") throw numError("ParseUint", s, "invalid syntax");
  if (r === "range") throw numError("ParseUint", s, "value out of range");
  return r;
}

/**
 * Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then as
 * {@link parseGoUint}; values outside the signed 64-bit range give
 * `strconv.ParseInt: parsing "<s>": value out of range`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGoInt } from "./args.ts";
 * assert.ok(parseGoInt("-9223372036854775808") === -(2n ** 63n));
 * try {
 *   parseGoInt("9223372036854775808");
 * } catch (e) {
 *   assert.ok((e as Error).message ===
 *     'strconv.ParseInt: parsing "9223372036854775808": value out of range');
 * }
 * ```
 */
export function parseGoInt(s: string): bigint {
  if (s === "") throw numError("ParseInt", s, "invalid syntax");
  const s0 = s;
  let neg = false;
  if (s[0] === "+") s = s.slice(1);
  else if (s[0] === "-") {
    neg = true;
    s = s.slice(1);
  }
  let un = parseUintBase0(s);
  if (un === "syntax") throw numError("ParseInt", s0, "invalid syntax");
  if (un === "range") un = MAX_UINT64;
  const cutoff = 1n << 63n;
  if (!neg && un >= cutoff) throw numError("ParseInt", s0, "value out of range");
  if (neg && un > cutoff) throw numError("ParseInt", s0, "value out of range");
  return neg ? -un : un;
}

/**
 * Go's `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGoBool } from "./args.ts";
 * assert.ok(parseGoBool("T") === true && parseGoBool("False") === false);
 * ```
 */
export function parseGoBool(s: string): boolean {
  switch (s) {
    case "1":
    case "t":
    case "T":
    case "TRUE":
    case "true":
    case "True":
      return true;
    case "0":
    case "f":
    case "F":
    case "FALSE":
    case "false":
    case "False":
      return false;
  }
  throw numError("ParseBool", s, "invalid syntax");
}

// ---------------------------------------------------------------------------
// Flags

/** The `-h/--help` flag every command accepts. */
export const HELP_FLAG: FlagSpec = {
  name: "help",
  aliases: ["h"],
  type: "bool",
  usage: "show help",
};

/** Go type names used in environment-variable errors (urfave `%T`). */
const GO_TYPE: Record<FlagType, string> = {
  bool: "bool",
  string: "string",
  int64: "int64",
  uint64: "uint64",
  duration: "time.Duration",
  strings: "[]string",
  size: "int64",
};

/** Byte multipliers of the units a size flag accepts (`KiB` = 1024, `KB` = 1000, `K` = 1024). */
const SIZE_UNITS: Record<string, bigint> = {
  b: 1n,
  k: 1n << 10n,
  kib: 1n << 10n,
  kb: 1000n,
  m: 1n << 20n,
  mib: 1n << 20n,
  mb: 1000n ** 2n,
  g: 1n << 30n,
  gib: 1n << 30n,
  gb: 1000n ** 3n,
  t: 1n << 40n,
  tib: 1n << 40n,
  tb: 1000n ** 4n,
};

/**
 * A byte size: a Go integer (`4194304`, `0x400000`), or a number with a unit
 * (`4MiB`, `512KiB`, `1.5MB`, `10M`; binary for `K`/`M`/`G`/`T` and `…iB`,
 * decimal for `KB`/`MB`/…), case-insensitive. The result must be a whole
 * number of bytes in the int64 range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSize } from "./args.ts";
 * assert.equal(parseSize("4MiB"), 4194304n);
 * assert.equal(parseSize("1.5kb"), 1500n);
 * assert.equal(parseSize("-1"), -1n);
 * assert.throws(() => parseSize("4 parsecs"), /not a size/);
 * ```
 */
export function parseSize(text: string): bigint {
  try {
    return parseGoInt(text);
  } catch (e) {
    const m = /^\s*(\d+)(?:\.(\d+))?\s*([a-zA-Z]+)\s*$/.exec(text);
    const unit = m ? SIZE_UNITS[m[3].toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      if (/^[+-]?\d[\d_]*$|^0[xXoObB]/.test(text)) throw e; // Go's own error (range)
      throw new BadInputError("not a size (give a byte count or a unit: 4MiB, 512KiB, 10MB)");
    }
    const frac = m[2] ?? "";
    const scaled = BigInt(m[1] + frac) * unit;
    const div = 10n ** BigInt(frac.length);
    if (scaled % div !== 0n) throw new BadInputError("not a whole number of bytes");
    const v = scaled / div;
    if (v > (1n << 63n) - 1n) throw new BadInputError("value out of range");
    return v;
  }
}

/** Converts one value text of a flag; throws with Go's reason text. */
function convert(type: FlagType, raw: string): FlagValue {
  switch (type) {
    case "bool":
      return parseGoBool(raw);
    case "string":
      return raw;
    case "int64":
      return parseGoInt(raw);
    case "uint64":
      return parseGoUint(raw);
    case "duration":
      return parseDuration(raw);
    case "strings":
      return raw.split(",").map((p) => p.trim());
    case "size":
      return parseSize(raw);
  }
}

/**
 * The default value of a flag in its parsed form (see `FlagSpec.default`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flagDefault } from "./args.ts";
 * assert.ok(flagDefault({ name: "t", type: "duration", default: "1m", usage: "" }) ===
 *   60_000_000_000n);
 * ```
 */
export function flagDefault(spec: FlagSpec): FlagValue {
  const d = spec.default;
  switch (spec.type) {
    case "bool":
      return d === undefined ? false : Boolean(d);
    case "string":
      return d === undefined ? "" : String(d);
    case "int64":
    case "uint64":
    case "size":
      return d === undefined ? 0n : BigInt(d as bigint | number);
    case "duration":
      if (d === undefined) return 0n;
      return typeof d === "string" ? parseDuration(d) : BigInt(d as bigint | number);
    case "strings":
      return d === undefined ? [] : [...(d as string[])];
  }
}

function names(spec: { name: string; aliases?: string[] }): string[] {
  return [spec.name, ...(spec.aliases ?? [])];
}

/**
 * The flags a command accepts: its own, `-h/--help`, then those of its
 * ancestors (nearest first) that are not `local` and whose names it does not
 * redefine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { appliedFlags } from "./args.ts";
 * const q = { name: "q", type: "bool" as const, usage: "" };
 * const child = { name: "ls", usage: "", flags: [q] };
 * const root = { name: "soci", usage: "", subcommands: [child],
 *   flags: [{ name: "root", type: "string" as const, usage: "" }] };
 * assert.ok(appliedFlags([root, child]).map((f) => f.name).join() === "q,help,root");
 * ```
 */
export function appliedFlags(path: readonly Command[]): FlagSpec[] {
  const cmd = path[path.length - 1];
  const out: FlagSpec[] = [...(cmd.flags ?? [])];
  const taken = new Set(out.flatMap(names));
  const add = (f: FlagSpec) => {
    if (names(f).some((n) => taken.has(n))) return;
    out.push(f);
    for (const n of names(f)) taken.add(n);
  };
  add(HELP_FLAG);
  for (let i = path.length - 2; i >= 0; i--) {
    for (const f of path[i].flags ?? []) if (!f.local) add(f);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Parsing

/** A usage error that remembers which command it happened in (for its help). */
export class CommandLineError extends UsageError {
  /** Commands from the root to the one being parsed. */
  readonly path: readonly Command[];
  /** Creates the error for `path`. */
  constructor(message: string, path: readonly Command[]) {
    super(message);
    this.path = path;
  }
}

/** The result of {@link parseCommandLine}. */
export interface ParsedCommandLine {
  /** Commands from the root to the selected one. */
  path: Command[];
  /** Positional arguments of the selected command. */
  args: string[];
  /** Values of every flag of every command on the path, by main name (nearest command wins). */
  flags: Record<string, FlagValue>;
  /** Main names of flags given on the command line or by environment. */
  set: Set<string>;
  /** Help was asked for (`-h`, `--help`, or the `help` command): show help of `path`. */
  help: boolean;
}

/** Options of {@link parseCommandLine}. */
export interface ParseOptions {
  /** Reads environment variables for `FlagSpec.env` (default: none are read). */
  env?: (name: string) => string | undefined;
}

function findCommand(list: readonly Command[] | undefined, name: string): Command | undefined {
  return list?.find((c) => c.name === name || (c.aliases ?? []).includes(name));
}

/**
 * Parses `argv` (without the program name) against a command tree. Throws a
 * {@link CommandLineError} (a `UsageError`) for unknown flags, missing or bad
 * values and unknown commands, and a `BadInputError` for a bad value in a
 * flag's environment variable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommandLine } from "./args.ts";
 * const quiet = { name: "quiet", aliases: ["q"], type: "bool" as const, usage: "" };
 * const ls = { name: "list", aliases: ["ls"], usage: "list", flags: [quiet], action: () => {} };
 * const index = { name: "index", usage: "", subcommands: [ls] };
 * const root = { name: "soci", usage: "", subcommands: [index],
 *   flags: [{ name: "root", type: "string" as const, usage: "" }] };
 * const p = parseCommandLine(root, ["index", "ls", "-q", "x", "--root=/r"]);
 * assert.ok(p.path.map((c) => c.name).join(" ") === "soci index list");
 * assert.ok(p.flags.quiet === true && p.flags.root === "/r" && p.args[0] === "x");
 * ```
 */
export function parseCommandLine(
  root: Command,
  argv: readonly string[],
  options: ParseOptions = {},
): ParsedCommandLine {
  const values = new Map<FlagSpec, FlagValue>();
  const given = new Set<FlagSpec>();
  const path: Command[] = [root];
  let rest = [...argv];
  let help = false;
  let positional: string[] = [];

  const setFlag = (spec: FlagSpec, typedName: string, raw: string) => {
    const fail = (reason: string) =>
      new CommandLineError(
        `invalid value ${strconvQuote(raw)} for flag -${typedName}: ${reason}`,
        path,
      );
    let v: FlagValue;
    try {
      v = convert(spec.type, raw);
    } catch (e) {
      throw fail((e as Error).message);
    }
    if (spec.type === "strings") {
      const prev = given.has(spec) ? (values.get(spec) as string[]) : [];
      v = [...prev, ...(v as string[])];
    }
    given.add(spec);
    values.set(spec, v);
    if (spec === HELP_FLAG && v === true) help = true;
    const problem = spec.validate?.(v);
    if (problem !== undefined) throw fail(problem);
  };

  levels: for (;;) {
    const cmd = path[path.length - 1];
    const applied = appliedFlags(path);
    const lookup = new Map<string, FlagSpec>();
    for (const f of applied) for (const n of names(f)) lookup.set(n, f);
    positional = [];
    for (let i = 0; i < rest.length; i++) {
      const arg = rest[i];
      const word = arg.trim();
      if (word === "") {
        positional.push(arg);
        continue;
      }
      if (word === "--") {
        positional.push(...rest.slice(i + 1));
        break;
      }
      if (word[0] !== "-" || word === "-" || (word[1] !== "-" && !/\p{L}/u.test(word[1]))) {
        // A positional argument (`-` and things like `-5` included).
        if (positional.length === 0 && word[0] !== "-" && cmd.subcommands?.length) {
          const sub = findCommand(cmd.subcommands, word);
          if (sub !== undefined) {
            path.push(sub);
            rest = rest.slice(i + 1);
            continue levels;
          }
          if (word === "help" || word === "h") {
            // `help [command…]`: show help of the named command.
            for (const name of rest.slice(i + 1)) {
              if (name.startsWith("-")) continue;
              const next = findCommand(path[path.length - 1].subcommands, name);
              if (next === undefined) {
                throw new CommandLineError(`No help topic for '${name}'`, path);
              }
              path.push(next);
            }
            help = true;
            positional = [];
            break levels;
          }
        }
        positional.push(arg);
        continue;
      }
      const dashes = word[1] === "-" ? 2 : 1;
      let name = word.slice(dashes);
      let value = "";
      let fromEqual = false;
      const eq = name.indexOf("=");
      if (eq !== -1) {
        value = name.slice(eq + 1);
        name = name.slice(0, eq);
        fromEqual = true;
      }
      const spec = lookup.get(name);
      if (spec === undefined) {
        throw new CommandLineError(`flag provided but not defined: -${name}`, path);
      }
      if (spec.type === "bool") {
        setFlag(spec, name, value === "" ? "true" : value);
        continue;
      }
      if (!fromEqual) {
        if (i + 1 >= rest.length) {
          throw new CommandLineError(`flag needs an argument: ${word}`, path);
        }
        value = rest[++i];
      }
      setFlag(spec, name, value);
    }
    break;
  }

  const target = path[path.length - 1];
  if (!help && positional.length > 0 && !target.action) {
    throw new CommandLineError(
      `unknown command ${strconvQuote(positional[0])} for "${pathName(path)}"`,
      path,
    );
  }

  // Values for every flag on the path: command line, else environment, else default.
  const flags: Record<string, FlagValue> = {};
  const set = new Set<string>();
  for (let depth = 0; depth < path.length; depth++) {
    const specs = depth === path.length - 1 ? appliedFlags(path) : (path[depth].flags ?? []);
    for (const spec of specs) {
      let v = values.get(spec);
      if (v === undefined && spec.env && options.env) {
        const raw = options.env(spec.env);
        if (raw !== undefined && (raw !== "" || spec.type === "string")) {
          try {
            v = convert(spec.type, raw);
            const problem = spec.validate?.(v);
            if (problem !== undefined) throw new Error(problem);
          } catch (e) {
            throw new BadInputError(
              `could not parse ${strconvQuote(raw)} as ${
                GO_TYPE[spec.type]
              } value from environment ` +
                `variable ${strconvQuote(spec.env)} for flag ${spec.name}: ${(e as Error).message}`,
            );
          }
          given.add(spec);
        }
      }
      if (given.has(spec)) set.add(spec.name);
      flags[spec.name] = v ?? flagDefault(spec);
    }
  }
  return { path, args: positional, flags, set, help };
}

// ---------------------------------------------------------------------------
// Help

/** `soci index list` for a path of commands. */
export function pathName(path: readonly Command[]): string {
  return path.map((c) => c.name).join(" ");
}

function defaultText(spec: FlagSpec): string | undefined {
  if (spec.defaultText !== undefined) return spec.defaultText;
  const v = flagDefault(spec);
  switch (spec.type) {
    case "bool":
      return v === true ? "true" : undefined;
    case "string":
      return v === "" ? undefined : strconvQuote(v as string);
    case "int64":
    case "uint64":
    case "size":
      return spec.default === undefined ? undefined : String(v);
    case "duration":
      return spec.default === undefined ? undefined : formatDuration(v as bigint);
    case "strings":
      return (v as string[]).length ? (v as string[]).map(strconvQuote).join(", ") : undefined;
  }
}

function helpFlag(spec: FlagSpec): HelpFlag {
  return {
    names: names(spec),
    placeholder: spec.type === "bool" ? undefined : (spec.placeholder ?? "value"),
    usage: spec.usage,
    defaultText: defaultText(spec),
    env: spec.env,
  };
}

const HELP_COMMAND = {
  names: ["help", "h"],
  usage: "show a list of commands or help for one command",
};

/** Options of {@link helpText}. */
export interface HelpOptions {
  /** Version shown on the root's help screen. */
  version?: string;
}

/**
 * The help screen of the last command of `path`: usage line, description,
 * subcommands, its own flags with defaults and environment variables, the
 * inherited (global) flags, and its Deno permissions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { helpText } from "./args.ts";
 * const text = helpText([{ name: "soci", usage: "SOCI tool", permissions: ["--allow-read"] }]);
 * assert.ok(text.includes("PERMISSIONS:\n   --allow-read\n"));
 * ```
 */
export function helpText(path: readonly Command[], options: HelpOptions = {}): string {
  const cmd = path[path.length - 1];
  const isRoot = path.length === 1;
  const hasSubs = (cmd.subcommands ?? []).some((c) => !c.hidden);
  const own = [...(cmd.flags ?? []), HELP_FLAG].filter((f) => !f.hidden);
  const ownNames = new Set(own.flatMap(names));
  const inherited = appliedFlags(path)
    .filter((f) => !f.hidden && !names(f).some((n) => ownNames.has(n)));
  let usageLine = pathName(path) + (isRoot ? " [global options]" : " [options]");
  if (hasSubs) usageLine += " <command> [command options]";
  if (!hasSubs || cmd.action) usageLine += " " + (cmd.argsUsage ?? "[arguments...]");
  const topic: HelpTopic = {
    path: pathName(path),
    usage: cmd.usage,
    usageLine,
    version: isRoot ? options.version : undefined,
    description: cmd.description,
    commands: hasSubs
      ? [
        ...(cmd.subcommands ?? []).filter((c) => !c.hidden).map((c) => ({
          names: [c.name, ...(c.aliases ?? [])],
          usage: c.usage,
        })),
        HELP_COMMAND,
      ]
      : undefined,
    flags: own.map(helpFlag),
    flagsTitle: isRoot ? "GLOBAL OPTIONS" : "OPTIONS",
    globalFlags: inherited.length ? inherited.map(helpFlag) : undefined,
    permissions: cmd.permissions,
    notes: hasSubs && !cmd.action
      ? [`Run '${pathName(path)} <command> --help' for help on a command.`]
      : [`Flags may also follow the arguments; "--" ends flag parsing.`],
  };
  return renderHelp(topic);
}
