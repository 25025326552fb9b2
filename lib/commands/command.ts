/**
 * The types every command file uses: a {@link Command} declares its flags
 * ({@link FlagSpec}), subcommands and action; the action receives a
 * {@link CommandContext} with the positional arguments, the flag values
 * (its own and inherited global ones) and the {@link Output}.
 *
 * @module
 */
import type { Output } from "../ui/output.ts";

/** Value kinds of flags (urfave/cli v3 flag types). */
export type FlagType = "bool" | "string" | "int64" | "uint64" | "duration" | "strings" | "size";

/**
 * A parsed flag value: `bool` → boolean, `string` → string, `int64`/`uint64`
 * → bigint (exact over the whole 64-bit range), `size` → bigint bytes (an
 * int64, or a number with a unit such as `4MiB`), `duration` → bigint
 * nanoseconds, `strings` → string[].
 */
export type FlagValue = boolean | string | bigint | string[];

/** A flag a command accepts. */
export interface FlagSpec {
  /** Main name, without dashes (`min-layer-size`); written `--name` or `-name`. */
  name: string;
  /** Other names (`["q"]` for `-q`). */
  aliases?: string[];
  /** Value kind. */
  type: FlagType;
  /**
   * Default when neither the command line nor `env` gives a value. Numbers
   * are accepted for `int64`/`uint64`/`duration` (nanoseconds), and a Go
   * duration string for `duration`. Unset: `false`, `""`, `0n`, `[]`.
   */
  default?: unknown;
  /** Text shown as the default in help, instead of the default value. */
  defaultText?: string;
  /** Environment variable read when the flag is not on the command line. */
  env?: string;
  /** One-line description for help. */
  usage: string;
  /** Help placeholder for the value (default `value`). */
  placeholder?: string;
  /** Not inherited by subcommands (by default a flag is also accepted after subcommand names). */
  local?: boolean;
  /** Left out of help. */
  hidden?: boolean;
  /**
   * Checks a parsed value; returns an error text, which is reported as
   * `invalid value "<v>" for flag -<name>: <text>`.
   */
  validate?(value: FlagValue): string | undefined;
}

/** A CLI command, possibly with subcommands. */
export interface Command {
  /** Name as typed (`list`). */
  name: string;
  /** Other names (`["ls"]`). */
  aliases?: string[];
  /** One-line description shown in command lists and help. */
  usage: string;
  /** Describes the positional arguments in help (`<image_ref>`). */
  argsUsage?: string;
  /** Longer help text. */
  description?: string;
  /** The command's flags. */
  flags?: FlagSpec[];
  /** Subcommands (`index` → `list`, `info`, `remove`). */
  subcommands?: Command[];
  /**
   * The least Deno permission flags, one line per case, shown in help and
   * README (`oci:/oci-archive: --allow-read=<image>,<root> …`); placeholders
   * in angle brackets.
   */
  permissions?: string[];
  /** Left out of command lists. */
  hidden?: boolean;
  /**
   * Whether the root directory must exist before the action runs (C§1.3;
   * default true). A function decides from the parsed flags (e.g. `convert
   * --standalone` does not use the root).
   */
  needsRoot?: boolean | ((ctx: CommandContext) => boolean);
  /**
   * Does the work. Throw a `SociError` subclass with a one-line message on
   * failure (`UsageError` also prints the command's help). May return an
   * exit code (default 0).
   */
  action?(ctx: CommandContext): Promise<void | number> | void | number;
}

/** What an action receives. */
export interface CommandContext {
  /** Positional arguments after the command name (flags removed). */
  readonly args: string[];
  /** Flag values by main name: the command's own and every inherited one, defaults applied. */
  readonly flags: Readonly<Record<string, FlagValue>>;
  /** Where to print. */
  readonly out: Output;
  /** Aborted when `--timeout` expires. */
  readonly signal?: AbortSignal;
  /** Command names from the root (`["soci", "index", "list"]`). */
  readonly path: readonly string[];
  /** Whether a flag was given on the command line or through its environment variable. */
  isSet(name: string): boolean;
  /** A `string` flag's value. */
  string(name: string): string;
  /** A `bool` flag's value. */
  bool(name: string): boolean;
  /** An `int64`/`uint64`/`size` flag's value. */
  int(name: string): bigint;
  /** A `duration` flag's value in nanoseconds. */
  duration(name: string): bigint;
  /** A `strings` flag's values. */
  strings(name: string): string[];
}

/** Parts of a {@link CommandContext} that {@link createContext} completes. */
export interface ContextInit {
  /** Positional arguments. */
  args: string[];
  /** Flag values by main name. */
  flags: Record<string, FlagValue>;
  /** Main names of flags given on the command line or by environment. */
  set?: Iterable<string>;
  /** Where to print. */
  out: Output;
  /** Timeout signal. */
  signal?: AbortSignal;
  /** Command names from the root. */
  path?: string[];
}

function typed<T>(
  flags: Record<string, FlagValue>,
  name: string,
  kind: string,
  ok: (v: FlagValue) => boolean,
): T {
  const v = flags[name];
  if (v === undefined) throw new Error(`flag "${name}" is not defined for this command`);
  if (!ok(v)) throw new Error(`flag "${name}" is not a ${kind} flag`);
  return v as T;
}

/**
 * Builds a {@link CommandContext}; the typed getters throw a programming
 * error (not a `SociError`) for an undefined flag or the wrong type. Used by
 * the CLI and by tests that call actions directly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createContext } from "./command.ts";
 * import { MemoryOutput } from "../ui/output.ts";
 * const ctx = createContext({
 *   args: ["img"],
 *   flags: { quiet: true, "span-size": 4194304n },
 *   out: new MemoryOutput(),
 * });
 * assert.ok(ctx.bool("quiet") && ctx.int("span-size") === 4194304n);
 * ```
 */
export function createContext(init: ContextInit): CommandContext {
  const flags = init.flags;
  const set = new Set(init.set ?? []);
  return {
    args: init.args,
    flags,
    out: init.out,
    signal: init.signal,
    path: init.path ?? [],
    isSet: (name) => set.has(name),
    string: (name) => typed(flags, name, "string", (v) => typeof v === "string"),
    bool: (name) => typed(flags, name, "bool", (v) => typeof v === "boolean"),
    int: (name) => typed(flags, name, "integer", (v) => typeof v === "bigint"),
    duration: (name) => typed(flags, name, "duration", (v) => typeof v === "bigint"),
    strings: (name) => typed(flags, name, "string-slice", (v) => Array.isArray(v)),
  };
}
