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
import { parseGoBool, parseGoInt, parseGoUint } from "../go/strconv.ts";
import { parseSize } from "./size.ts";
import { parseDuration } from "../go/duration.ts";
import type { Command, FlagSpec, FlagType, FlagValue } from "./command.ts";

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

/** `soci index list` for a path of commands. */
export function pathName(path: readonly Command[]): string {
  return path.map((c) => c.name).join(" ");
}

/** A flag's or command's names: its name and its aliases. */
export function flagNames(spec: { name: string; aliases?: string[] }): string[] {
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
  const taken = new Set(out.flatMap(flagNames));
  const add = (f: FlagSpec) => {
    if (flagNames(f).some((n) => taken.has(n))) return;
    out.push(f);
    for (const n of flagNames(f)) taken.add(n);
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
    for (const f of applied) for (const n of flagNames(f)) lookup.set(n, f);
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

  const { flags, set } = resolveFlags(path, values, given, options);
  return { path, args: positional, flags, set, help };
}

/**
 * The value of every flag on the path: from the command line, else its
 * environment variable, else its default; and which were given.
 */
function resolveFlags(
  path: readonly Command[],
  values: Map<FlagSpec, FlagValue>,
  given: Set<FlagSpec>,
  options: ParseOptions,
): { flags: Record<string, FlagValue>; set: Set<string> } {
  const flags: Record<string, FlagValue> = {};
  const set = new Set<string>();
  for (let depth = 0; depth < path.length; depth++) {
    const specs = depth === path.length - 1 ? appliedFlags(path) : (path[depth].flags ?? []);
    for (const spec of specs) {
      let v = values.get(spec);
      if (v === undefined && spec.env && options.env) {
        const raw = options.env(spec.env);
        if (raw !== undefined && (raw !== "" || spec.type === "string")) {
          v = fromEnvironment(spec, raw);
          given.add(spec);
        }
      }
      if (given.has(spec)) set.add(spec.name);
      flags[spec.name] = v ?? flagDefault(spec);
    }
  }
  return { flags, set };
}

/** A flag's value from its environment variable, with urfave's error text. */
function fromEnvironment(spec: FlagSpec, raw: string): FlagValue {
  try {
    const v = convert(spec.type, raw);
    const problem = spec.validate?.(v);
    if (problem !== undefined) throw new Error(problem);
    return v;
  } catch (e) {
    throw new BadInputError(
      `could not parse ${strconvQuote(raw)} as ${GO_TYPE[spec.type]} value from environment ` +
        `variable ${strconvQuote(spec.env!)} for flag ${spec.name}: ${(e as Error).message}`,
    );
  }
}
